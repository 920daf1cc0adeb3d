"""Where Consentry keeps its state and how it is configured (environment and flags)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

DEFAULT_LISTEN = "127.0.0.1:50051"
DATABASE_FILE = "consentry.db"

# Key files inside the data directory, all created 0600 by `consentry init`.
OPERATOR_KEY = "operator.key"
SHARE_SIGNING_KEY = "service-signing.key"
LEDGER_SIGNING_KEY = "ledger-signing.key"
KEK_FILE = "kek.key"
PSEUDONYM_KEY = "ledger-pseudonym.key"
# Operator value sets inside the data directory, merged over the shipped ones.
VALUESETS_DIR = "valuesets"

# The most bytes a deposited FHIR body (PutRecord.fhir_json) may hold; real documents embed PDFs
# and images of a few MB. One number for the service's own check and for the gRPC transport,
# which takes it plus MESSAGE_HEADROOM_BYTES for the rest of a message (ids, labels, a share
# header, a ledger entry of at most 16 KiB). docs/limits.md, "Bodies".
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
MESSAGE_HEADROOM_BYTES = 64 * 1024
# From one page of ledger entries (paging.py, 1 MiB), which must fit a message, to what gRPC,
# counting sizes in an int32, can carry.
BODY_BYTES_RANGE = (1024 * 1024, 1024 * 1024 * 1024)
# Keepalive (docs/operations.md, "Transport settings"). The server lets a client ping it every
# DEFAULT_MIN_PING_INTERVAL_S; the SDK's channel pings a connection with a call open (a long watch,
# whose heartbeat is 15 s) every DEFAULT_CLIENT_KEEPALIVE_S, which must stay at or above that
# minimum, or the server answers GOAWAY too_many_pings. gRPC counts these in int32 milliseconds.
DEFAULT_MIN_PING_INTERVAL_S = 10.0
DEFAULT_CLIENT_KEEPALIVE_S = 30.0
KEEPALIVE_TIMEOUT_S = 20.0
MAX_KEEPALIVE_S = (2**31 - 1) / 1000
CLIENT_ATTEMPTS_MAX = 10


def default_data_dir() -> Path:
    return Path(os.environ.get("CONSENTRY_HOME") or "./consentry-data")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    policy_engine: str = "embedded"
    opa_url: str | None = None
    # The most one policy decision call may take (a fetch's records at once); past it the call is
    # denied, nothing disclosed (policy/engine.py, FailClosed).
    policy_timeout_s: float = 0.25
    ledger_origin: str = "consentry.local/ledger"
    checkpoint_every_entries: int = 1000
    checkpoint_every_seconds: float = 60.0
    # PEM files; with both set the server listens with TLS only. With a client CA as well, mutual
    # TLS: clients present certificates chaining to it (docs/transport.md).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    # Plaintext is served on loopback addresses only, unless this is set.
    insecure_plaintext: bool = False
    # Rate limits (docs/limits.md): each authenticated principal's token bucket (calls per second,
    # burst), and the failed authentications one source may make per window before it is refused
    # outright; refusals of unauthenticated calls are ledgered as one summary per source and window.
    rate_calls_per_s: float = 500.0
    rate_burst: int = 1000
    rate_auth_failures: int = 100
    rate_window_s: float = 60.0
    # How long an identity key that was just replaced still authenticates calls already under
    # way (docs/identity.md, "Key lifecycle"); never key management. 0: not at all.
    key_grace_s: float = 600.0
    # Enrolment codes (docs/identity.md, "Enrolment codes"): how long one is valid, and how many
    # refused redeems one source may make per window before it is refused outright.
    enrolment_code_ttl_s: float = 72 * 3600.0
    enrolment_code_failures: int = 10
    enrolment_code_window_s: float = 3600.0
    # Witnesses (docs/ledger.md): (submission URL, cosignature verifier key) of each witness the
    # server submits its new checkpoints to, from CONSENTRY_WITNESSES.
    witnesses: tuple[tuple[str, str], ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # A directory of value sets that extend the shipped ones, besides the data directory's
    # `valuesets/` (docs/labelling.md, "Value sets").
    valuesets_dir: Path | None = None
    # Live streams (docs/watch.md): the heartbeat a quiet watch sends, how often the server reads
    # the ledger's tail for entries other processes committed, and how many watches may be open
    # at once per principal and in all (each holds one of the server's worker threads).
    watch_heartbeat_s: float = 15.0
    watch_poll_s: float = 0.5
    watch_per_principal: int = 4
    watch_max_total: int = 64
    # Stopping (docs/operations.md, "Drain"): how long the calls under way may take to finish
    # once the server was asked to stop, before the rest are cancelled.
    drain_grace_s: float = 30.0
    # Keys in a PKCS#11 token (docs/keys.md): the module's path (set: the token provider), the
    # token's label, and a file holding its PIN (else $CONSENTRY_PKCS11_PIN; never a flag).
    pkcs11_module: str | None = None
    pkcs11_label: str = "consentry"
    pkcs11_pin_file: Path | None = None
    # Keepalive (docs/operations.md, "Transport settings"): the server pings a connection quiet for
    # keepalive_time_s and drops it when no answer comes within keepalive_timeout_s. It permits
    # clients' pings every keepalive_min_ping_interval_s (with no call open too, if
    # keepalive_permit_without_calls), and after keepalive_max_ping_strikes pings that came sooner
    # (0: no limit) with no data sent between, it ends the connection: GOAWAY too_many_pings.
    keepalive_time_s: float = 60.0
    keepalive_timeout_s: float = KEEPALIVE_TIMEOUT_S
    keepalive_permit_without_calls: bool = True
    keepalive_min_ping_interval_s: float = DEFAULT_MIN_PING_INTERVAL_S
    keepalive_max_ping_strikes: int = 2

    @classmethod
    def load(cls, data_dir: Path | None = None) -> Settings:
        """The settings from the environment; a value the service cannot use raises ConfigError
        naming the variable (`consentry` prints it as one line)."""
        data_dir = (data_dir or default_data_dir()).resolve()
        e = _Env(os.environ)
        return cls(
            data_dir=data_dir,
            database_url=e.text("CONSENTRY_DATABASE_URL") or sqlite_url(data_dir),
            policy_engine=e.choice("CONSENTRY_POLICY_ENGINE", "opa" if e.text("CONSENTRY_OPA_URL") else "embedded",
                                   POLICY_ENGINES),
            opa_url=e.text("CONSENTRY_OPA_URL"),
            policy_timeout_s=e.number("CONSENTRY_POLICY_TIMEOUT_S", 0.25, minimum=0.001),
            ledger_origin=e.text("CONSENTRY_LEDGER_ORIGIN") or "consentry.local/ledger",
            checkpoint_every_entries=e.integer("CONSENTRY_CHECKPOINT_ENTRIES", 1000, minimum=1),
            checkpoint_every_seconds=e.number("CONSENTRY_CHECKPOINT_SECONDS", 60.0, minimum=0.001),
            tls_cert=e.path("CONSENTRY_TLS_CERT"),
            tls_key=e.path("CONSENTRY_TLS_KEY"),
            tls_client_ca=e.path("CONSENTRY_TLS_CLIENT_CA"),
            insecure_plaintext=e.flag("CONSENTRY_INSECURE_PLAINTEXT"),
            rate_calls_per_s=e.number("CONSENTRY_RATE_CALLS_PER_S", 500.0, minimum=0.001),
            rate_burst=e.integer("CONSENTRY_RATE_BURST", 1000, minimum=1),
            rate_auth_failures=e.integer("CONSENTRY_RATE_AUTH_FAILURES", 100, minimum=1),
            rate_window_s=e.number("CONSENTRY_RATE_WINDOW_S", 60.0, minimum=0.001),
            key_grace_s=e.number("CONSENTRY_KEY_GRACE_S", 600.0),
            enrolment_code_ttl_s=e.number("CONSENTRY_ENROLMENT_CODE_TTL_S", 72 * 3600.0, minimum=1),
            enrolment_code_failures=e.integer("CONSENTRY_ENROLMENT_CODE_FAILURES", 10, minimum=1),
            enrolment_code_window_s=e.number("CONSENTRY_ENROLMENT_CODE_WINDOW_S", 3600.0, minimum=1),
            witnesses=parse_witnesses(e.text("CONSENTRY_WITNESSES") or ""),
            max_body_bytes=max_body_bytes(),
            valuesets_dir=e.path("CONSENTRY_VALUESETS_DIR"),
            watch_heartbeat_s=e.number("CONSENTRY_WATCH_HEARTBEAT_S", 15.0, minimum=0.01),
            watch_poll_s=e.number("CONSENTRY_WATCH_POLL_S", 0.5, minimum=0.01),
            watch_per_principal=e.integer("CONSENTRY_WATCH_PER_PRINCIPAL", 4, minimum=1),
            watch_max_total=e.integer("CONSENTRY_WATCH_MAX_TOTAL", 64, minimum=1),
            drain_grace_s=e.number("CONSENTRY_DRAIN_GRACE_S", 30.0),
            pkcs11_module=e.text("CONSENTRY_PKCS11_MODULE"),
            pkcs11_label=e.text("CONSENTRY_PKCS11_TOKEN") or "consentry",
            pkcs11_pin_file=e.path("CONSENTRY_PKCS11_PIN_FILE"),
            keepalive_time_s=e.number("CONSENTRY_KEEPALIVE_TIME_S", 60.0, minimum=0.01, maximum=MAX_KEEPALIVE_S),
            keepalive_timeout_s=e.number("CONSENTRY_KEEPALIVE_TIMEOUT_S", KEEPALIVE_TIMEOUT_S, minimum=0.01,
                                         maximum=MAX_KEEPALIVE_S),
            keepalive_permit_without_calls=e.flag("CONSENTRY_KEEPALIVE_PERMIT_WITHOUT_CALLS", default=True),
            keepalive_min_ping_interval_s=e.number("CONSENTRY_KEEPALIVE_MIN_PING_INTERVAL_S",
                                                   DEFAULT_MIN_PING_INTERVAL_S, maximum=MAX_KEEPALIVE_S),
            keepalive_max_ping_strikes=e.integer("CONSENTRY_KEEPALIVE_MAX_PING_STRIKES", 2, maximum=1000),
        )

    def key_path(self, name: str) -> Path:
        return self.data_dir / name

    def valueset_dirs(self) -> list[Path]:
        """Where operator value sets are read from, in order (those that exist)."""
        return [self.data_dir / VALUESETS_DIR, *([self.valuesets_dir] if self.valuesets_dir else [])]


def max_body_bytes() -> int:
    """$CONSENTRY_MAX_BODY_BYTES, or the default; raises ConfigError outside BODY_BYTES_RANGE."""
    low, high = BODY_BYTES_RANGE
    return _Env(os.environ).integer("CONSENTRY_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, minimum=low, maximum=high)


def channel_options(body_bytes: int) -> list[tuple[str, int]]:
    """gRPC options for a server or channel that carries bodies of up to `body_bytes`: a message
    may hold one body and the rest of its message, in either direction."""
    limit = body_bytes + MESSAGE_HEADROOM_BYTES
    return [("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]


def server_keepalive_options(settings: Settings) -> list[tuple[str, int]]:
    """gRPC options for the server's own pings and for the clients' pings it permits."""
    return [("grpc.keepalive_time_ms", _ms(settings.keepalive_time_s)),
            ("grpc.keepalive_timeout_ms", _ms(settings.keepalive_timeout_s)),
            ("grpc.keepalive_permit_without_calls", int(settings.keepalive_permit_without_calls)),
            ("grpc.http2.min_ping_interval_without_data_ms", _ms(settings.keepalive_min_ping_interval_s)),
            ("grpc.http2.max_ping_strikes", settings.keepalive_max_ping_strikes)]


def client_keepalive_options(time_s: float, timeout_s: float = KEEPALIVE_TIMEOUT_S) -> list[tuple[str, int]]:
    """gRPC options for a channel that pings every `time_s` while a call is open (0: never). It
    pings no idle connection (the next call reconnects), and keeps pinging through a long watch
    in which it sends nothing: gRPC's own cap of two pings without data sent would stop it."""
    if time_s == 0:
        return []
    return [("grpc.keepalive_time_ms", _ms(time_s)), ("grpc.keepalive_timeout_ms", _ms(timeout_s)),
            ("grpc.keepalive_permit_without_calls", 0), ("grpc.http2.max_pings_without_data", 0)]


def client_keepalive_s() -> float:
    """$CONSENTRY_CLIENT_KEEPALIVE_S, or DEFAULT_CLIENT_KEEPALIVE_S; 0 turns the pings off."""
    return _Env(os.environ).number("CONSENTRY_CLIENT_KEEPALIVE_S", DEFAULT_CLIENT_KEEPALIVE_S, maximum=MAX_KEEPALIVE_S)


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def client_timeout_s(default: float) -> float:
    """$CONSENTRY_CLIENT_TIMEOUT_S: a command-line client's deadline per call (not its watches)."""
    return _Env(os.environ).number("CONSENTRY_CLIENT_TIMEOUT_S", default, minimum=0.001)


def client_attempts(default: int) -> int:
    """$CONSENTRY_CLIENT_ATTEMPTS: how often a command-line client makes a call that may be
    retried (1: never retries)."""
    return _Env(os.environ).integer("CONSENTRY_CLIENT_ATTEMPTS", default, minimum=1, maximum=CLIENT_ATTEMPTS_MAX)


def client_root_certificates() -> bytes | None:
    """The CA (PEM) a command-line client trusts for a TLS server: $CONSENTRY_TLS_CA, if set."""
    path = os.environ.get("CONSENTRY_TLS_CA")
    return Path(path).read_bytes() if path else None


def parse_witnesses(text: str) -> tuple[tuple[str, str], ...]:
    """`URL=VKEY,URL=VKEY,...` as (URL, VKEY) pairs; a URL holds no `=` or `,` (a key holds no `,`)."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        url, sep, vkey = item.partition("=")
        if not sep or not url or not vkey:
            raise ConfigError(f"CONSENTRY_WITNESSES: {item!r} is not URL=VKEY")
        pairs.append((url, vkey))
    return tuple(pairs)


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / DATABASE_FILE}"


class ConfigError(ValueError):
    """A setting's value cannot be used; the message names the variable and what it must be."""


class _Env:
    """Typed reads of environment variables, each refusal naming the variable. An empty value
    counts as unset."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str) -> str | None:
        return self._env.get(name) or None

    def path(self, name: str) -> Path | None:
        value = self.text(name)
        return Path(value) if value else None

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
        return _within(name, number, minimum, maximum)

    def number(self, name: str, default: float, *, minimum: float = 0.0, maximum: float | None = None) -> float:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name} must be a number, not {value!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ConfigError(f"{name} must be a finite number, not {value!r}")
        return _within(name, number, minimum, maximum)

    def flag(self, name: str, *, default: bool = False) -> bool:
        value = (self.text(name) or ("1" if default else "0")).lower()
        if value not in _FLAGS:
            raise ConfigError(f"{name} must be 1 or 0 (true/false, yes/no), not {value!r}")
        return _FLAGS[value]

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name) or default
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
        return value


_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
POLICY_ENGINES = ("embedded", "opa")
_N = TypeVar("_N", int, float)


def _within(name: str, number: _N, minimum: _N, maximum: _N | None) -> _N:
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(f"{name} must be {bound}, not {number}")
    return number
