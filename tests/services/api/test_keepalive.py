"""Keepalive over a real loopback server (docs/operations.md, "Transport settings"): a client
pinging far more often than gRPC's defaults allow keeps a long watch up against a server set to
permit it, and is cut off with GOAWAY too_many_pings by one that is not (the operator's report);
the SDK's default pair (its channel's pings against the server's permitted minimum) keeps a watch
up past several periods, scaled down here so the test takes seconds; a bad keepalive value is a
one-line error naming the variable."""

from __future__ import annotations

import grpc
import pytest
from backends import BACKENDS, database
from harness import Harness, grant
from watch_helpers import Reader

from consentry.services import config
from consentry.services.config import ConfigError, Settings
from consentry.services.sdk.client import Client

# The server's permitted minimum between a client's pings, and the SDK default's ratio to it.
MIN_PING_S = 0.2
SCALE = config.DEFAULT_CLIENT_KEEPALIVE_S / config.DEFAULT_MIN_PING_INTERVAL_S


@pytest.fixture(scope="module", params=BACKENDS)
def permissive(request, tmp_path_factory):
    """A server permitting a ping every MIN_PING_S, pinging its own clients often too; the watch
    heartbeat is long, so no data the server sends forgives a client's early pings."""
    directory = tmp_path_factory.mktemp("consentry-keepalive")
    with database(request.param, directory) as url:
        h = Harness.start(directory / "data", url, watch_heartbeat_s=600.0, keepalive_time_s=0.3,
                          keepalive_timeout_s=5.0, keepalive_min_ping_interval_s=MIN_PING_S)
        h.backend = request.param
        try:
            yield h
        finally:
            h.stop()


def pinging_watch(h: Harness, keepalive_s: float):
    """An institution's consent-change watch on a channel of its own pinging every `keepalive_s`,
    open and waiting; and a patient whose grant to the institution shows the watch still works."""
    clinic, patient = h.org(), h.patient()
    client = Client(h.target, clinic.client.caller, keepalive_s=keepalive_s, keepalive_timeout_s=5.0)
    h.clients.append(client)
    return Reader(client.watch_consent_changes()).opened(), clinic, patient


def still_up(reader: Reader, h: Harness, clinic, patient) -> None:
    consent = grant(patient, clinic, ["lab"])
    assert reader.next("change", timeout=10.0).consent_id == consent.consent_id
    reader.close()


def test_an_aggressive_client_keeps_a_watch_up_where_the_server_permits_its_pings(permissive):
    reader, clinic, patient = pinging_watch(permissive, keepalive_s=1.25 * MIN_PING_S)
    reader.quiet("change", 12 * MIN_PING_S)  # a dozen pings and more; no error either
    still_up(reader, permissive, clinic, patient)


def test_the_sdk_default_keepalive_keeps_a_watch_up_past_several_periods(permissive):
    reader, clinic, patient = pinging_watch(permissive, keepalive_s=SCALE * MIN_PING_S)
    reader.quiet("change", 5 * SCALE * MIN_PING_S)
    still_up(reader, permissive, clinic, patient)


def test_a_server_with_default_settings_cuts_off_a_client_pinging_every_second(harness):
    """The operator's report, as gRPC's defaults had it: the default server permits a ping every
    10 s and no more, so this client is told too_many_pings (and backs off) within seconds."""
    assert harness.settings.keepalive_min_ping_interval_s == config.DEFAULT_MIN_PING_INTERVAL_S
    reader, _, _ = pinging_watch(harness, keepalive_s=0.5)
    error = reader.error(timeout=15.0)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == "Too many pings"  # the GOAWAY's too_many_pings, as gRPC reports it


def test_the_sdk_default_pings_no_sooner_than_the_server_default_permits(monkeypatch, tmp_path):
    for name in ("CONSENTRY_CLIENT_KEEPALIVE_S", "CONSENTRY_KEEPALIVE_MIN_PING_INTERVAL_S"):
        monkeypatch.delenv(name, raising=False)
    server = Settings.load(tmp_path)
    assert server.keepalive_min_ping_interval_s <= config.client_keepalive_s()
    assert server.keepalive_permit_without_calls


@pytest.mark.parametrize(("name", "value", "message"), [
    ("CONSENTRY_KEEPALIVE_TIME_S", "soon", "CONSENTRY_KEEPALIVE_TIME_S must be a number, not 'soon'"),
    ("CONSENTRY_KEEPALIVE_TIMEOUT_S", "0", "CONSENTRY_KEEPALIVE_TIMEOUT_S must be from 0.01 to 2147483.647, not 0.0"),
    ("CONSENTRY_KEEPALIVE_MIN_PING_INTERVAL_S", "-1", "CONSENTRY_KEEPALIVE_MIN_PING_INTERVAL_S must be from 0.0 to "
     "2147483.647, not -1.0"),
    ("CONSENTRY_KEEPALIVE_MAX_PING_STRIKES", "2.5", "CONSENTRY_KEEPALIVE_MAX_PING_STRIKES must be a whole number, "
     "not '2.5'"),
    ("CONSENTRY_KEEPALIVE_PERMIT_WITHOUT_CALLS", "maybe", "CONSENTRY_KEEPALIVE_PERMIT_WITHOUT_CALLS must be 1 or 0 "
     "(true/false, yes/no), not 'maybe'"),
])
def test_a_bad_keepalive_value_is_refused_naming_the_variable(monkeypatch, tmp_path, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        Settings.load(tmp_path)
    assert str(refused.value) == message


def test_a_bad_client_keepalive_is_refused_naming_the_variable(monkeypatch, harness):
    monkeypatch.setenv("CONSENTRY_CLIENT_KEEPALIVE_S", "-5")
    with pytest.raises(ConfigError) as refused:
        Client(harness.target, harness.operator.caller)
    assert str(refused.value) == "CONSENTRY_CLIENT_KEEPALIVE_S must be from 0.0 to 2147483.647, not -5.0"


def test_keepalive_settings_are_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CONSENTRY_KEEPALIVE_MIN_PING_INTERVAL_S", "1")
    monkeypatch.setenv("CONSENTRY_KEEPALIVE_PERMIT_WITHOUT_CALLS", "0")
    monkeypatch.setenv("CONSENTRY_KEEPALIVE_MAX_PING_STRIKES", "0")
    options = dict(config.server_keepalive_options(Settings.load(tmp_path)))
    assert options == {"grpc.keepalive_time_ms": 60_000, "grpc.keepalive_timeout_ms": 20_000,
                       "grpc.keepalive_permit_without_calls": 0, "grpc.http2.min_ping_interval_without_data_ms": 1000,
                       "grpc.http2.max_ping_strikes": 0}
