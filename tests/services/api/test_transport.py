"""How the server listens (api/transport.py): mutual TLS with certificates bound to identity keys,
a listener for callers without certificates, plaintext only on loopback unless allowed, and
configurations that cannot work refused before anything listens.

The attacks on the binding (no certificate, another key's, another CA's, a stolen token) are in
tests/security/test_spoofing.py."""

from __future__ import annotations

import dataclasses

import grpc
import pytest
from harness import grant
from pki import Pki

from consentry.services.api.server import Server
from consentry.services.api.transport import ListenError
from consentry.services.cli.bootstrap import build_app, init_data_dir
from consentry.services.cli.demo import discharge_records
from consentry.services.config import Settings
from consentry.services.identity.tokens import Caller
from consentry.v1 import consent_pb2, exchange_pb2, registry_pb2


def bound_client(h, org):
    chain, key = h.pki.client_ca.bound(org.identity, "org:" + org.id)
    caller = Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test")
    return h.client(caller, target=h.mtls_target, certificate_chain=chain, private_key=key)


def test_the_listeners_name_their_modes(mtls_harness):
    assert [str(x) for x in mtls_harness.server.listeners] == [
        f"mTLS on {mtls_harness.mtls_target}", f"TLS without client certificates on {mtls_harness.target}"]


def test_an_institution_with_a_certificate_signed_by_its_identity_key_is_served(mtls_harness):
    org = mtls_harness.org()
    client = bound_client(mtls_harness, org)
    listed = client.registry.ListPractitioners(registry_pb2.ListPractitionersRequest(institution_id=org.id))
    assert [p.practitioner_id for p in listed.practitioners] == ["dr-test"]
    assert client.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest()).ledger_verifier_key


def test_an_institution_deposits_and_fetches_over_mutual_tls(mtls_harness):
    hospital, doctor, patient = mtls_harness.org(), mtls_harness.org(), mtls_harness.patient()
    body = discharge_records(patient.id)["lab results"]
    bound_client(mtls_harness, hospital).exchange.PutRecord(
        exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body))
    grant(patient, doctor, ["lab"])
    fetched = list(bound_client(mtls_harness, doctor).fetch(
        patient.id, "TREAT", recipient_key=doctor.encryption, service_key=mtls_harness.service_key))
    assert [item.body for item in fetched] == [body]


def test_patients_and_auditors_connect_without_a_certificate(mtls_harness):
    """They use the listener that asks for none (a patient in a browser cannot present one)."""
    patient = mtls_harness.patient()
    listed = patient.client.consent.ListConsents(consent_pb2.ListConsentsRequest(patient_id=patient.id))
    assert list(listed.consents) == []
    assert mtls_harness.entries()  # read by an auditor over the same listener


def test_a_patient_may_come_through_a_gateway_certificate(mtls_harness):
    """A portal's certificate, which no identity key signed, carries patients' calls on the mTLS
    listener (institutions it does not: tests/security/test_spoofing.py)."""
    patient = mtls_harness.patient()
    chain, key = mtls_harness.pki.client_ca.leaf("patient portal")
    client = mtls_harness.client(Caller("patient:" + patient.id, patient.identity), target=mtls_harness.mtls_target,
                                 certificate_chain=chain, private_key=key)
    listed = client.consent.ListConsents(consent_pb2.ListConsentsRequest(patient_id=patient.id))
    assert list(listed.consents) == []


@pytest.fixture
def app_settings(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'consentry.db'}")
    init_data_dir(settings)
    return settings


def serve(settings: Settings, listen: str, **kwargs) -> Server:
    """A server on `listen`, or the ListenError it refused with (the app is closed either way)."""
    app, signer = build_app(settings)
    try:
        return Server(app, signer, listen, workers=2, **kwargs).start()
    except BaseException:
        app.db.dispose()
        raise


def test_plaintext_off_loopback_is_refused_unless_allowed(app_settings):
    with pytest.raises(ListenError) as refused:
        serve(app_settings, "0.0.0.0:0")
    assert str(refused.value) == (
        "refusing to listen in plaintext on 0.0.0.0:0, which is not a loopback address: "
        "configure TLS (CONSENTRY_TLS_CERT, CONSENTRY_TLS_KEY) or pass --insecure-plaintext")
    server = serve(dataclasses.replace(app_settings, insecure_plaintext=True), "0.0.0.0:0")
    try:
        assert str(server.listeners[0]) == f"plaintext on 0.0.0.0:{server.port}"
    finally:
        server.stop(0)


@pytest.mark.parametrize("listen", ["127.0.0.1:0", "localhost:0", "[::1]:0"])
def test_plaintext_on_loopback_needs_no_permission(app_settings, listen):
    server = serve(app_settings, listen)
    try:
        assert str(server.listeners[0]) == f"plaintext on {listen.rsplit(':', 1)[0]}:{server.port}"
    finally:
        server.stop(0)


def test_tls_off_loopback_needs_no_permission(app_settings, tmp_path):
    pki = Pki.create(tmp_path / "pki")
    server = serve(dataclasses.replace(app_settings, **pki.server_settings(mutual=False)), "0.0.0.0:0")
    try:
        assert str(server.listeners[0]) == f"TLS on 0.0.0.0:{server.port}"
    finally:
        server.stop(0)


def test_configurations_that_cannot_work_are_refused(app_settings, tmp_path):
    pki = Pki.create(tmp_path / "pki")
    cases = [
        ({"tls_cert": pki.server_cert}, {},
         "TLS needs both a certificate and a key (CONSENTRY_TLS_CERT, CONSENTRY_TLS_KEY)"),
        ({"tls_client_ca": pki.client_ca_file}, {},
         "CONSENTRY_TLS_CLIENT_CA needs the server's own CONSENTRY_TLS_CERT and CONSENTRY_TLS_KEY"),
        (pki.server_settings(mutual=False), {"listen_without_client_cert": "127.0.0.1:0"},
         "a listener without client certificates is for an mTLS server (CONSENTRY_TLS_CLIENT_CA)"),
        ({**pki.server_settings(), "tls_client_ca": tmp_path / "missing.crt"}, {},
         f"cannot read {tmp_path / 'missing.crt'}: No such file or directory"),
    ]
    for overrides, kwargs, message in cases:
        with pytest.raises(ListenError) as refused:
            serve(dataclasses.replace(app_settings, **overrides), "127.0.0.1:0", **kwargs)
        assert str(refused.value) == message


def test_a_port_in_use_is_refused_not_shared(app_settings):
    first = serve(app_settings, "127.0.0.1:0")
    try:
        with pytest.raises(ListenError) as refused:
            serve(app_settings, f"127.0.0.1:{first.port}")
        assert str(refused.value) == f"cannot listen on 127.0.0.1:{first.port}: the address is already in use"
        with grpc.insecure_channel(f"127.0.0.1:{first.port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
    finally:
        first.stop(0)
