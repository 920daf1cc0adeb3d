"""Enrolment codes over real gRPC: created by the operator (or an institution, for a new patient),
redeemed once without a token with proof of the new key, refused alike when wrong, expired or
used; a lost device's key revoked at once; the code never in the ledger or the logs."""

from __future__ import annotations

import logging
import secrets

import grpc
import pytest
from harness import field_violations
from nacl.signing import SigningKey

from consentry.services import clock
from consentry.services.identity.tokens import Caller
from consentry.services.sdk import enrolment
from consentry.services.sdk.client import Client
from consentry.v1 import consent_pb2, registry_pb2

REFUSED = "this enrolment code is not valid: it may be mistyped, expired or already used; ask for a new one"


def anonymous(harness) -> Client:
    """A device with no registered key: its calls carry a token no one registered."""
    return harness.client(Caller("patient:nobody", SigningKey.generate()))


def create(client: Client, patient_id: str, **kw) -> registry_pb2.CreateEnrolmentCodeResponse:
    return client.registry.CreateEnrolmentCode(registry_pb2.CreateEnrolmentCodeRequest(patient_id=patient_id, **kw))


def refused(device: Client, request: registry_pb2.RedeemEnrolmentCodeRequest) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        device.registry.RedeemEnrolmentCode(request)
    return err.value


def as_patient(harness, patient_id: str, key: SigningKey) -> Client:
    return harness.client(Caller("patient:" + patient_id, key))


def consents(client: Client, patient_id: str) -> list:
    return list(client.consent.ListConsents(consent_pb2.ListConsentsRequest(patient_id=patient_id)).consents)


def test_a_new_patient_enrols_once_with_the_code(harness):
    patient_id, key = f"P{secrets.token_hex(5)}", SigningKey.generate()
    made = create(harness.operator, patient_id, identifiers=[registry_pb2.PatientIdentifier(
        system="urn:oid:2.16.840.1.113883.2.4.6.3", value=secrets.token_hex(6))])
    assert len(enrolment.normalised(made.code)) == 12 and made.code.count("-") == 2
    hours = (made.expire_time.seconds - clock.now_ns() // 10**9) / 3600
    assert 71.9 < hours <= 72
    device = anonymous(harness)
    got = enrolment.redeem(device.registry, made.code.lower(), key)
    assert got.patient_id == patient_id
    assert consents(as_patient(harness, patient_id, key), patient_id) == []
    again = refused(device, enrolment.redeem_request(made.code, SigningKey.generate()))
    assert (again.code(), again.details()) == (grpc.StatusCode.PERMISSION_DENIED, REFUSED)


def test_wrong_expired_and_used_codes_are_refused_alike(harness):
    device = anonymous(harness)
    wrong = refused(device, enrolment.redeem_request("0000-0000-0000", SigningKey.generate()))
    expired_id = f"P{secrets.token_hex(5)}"
    code = create(harness.operator, expired_id).code
    harness.sql("UPDATE enrolment_codes SET expire_ns = :now WHERE patient_id = :p", now=clock.now_ns(), p=expired_id)
    expired = refused(device, enrolment.redeem_request(code, SigningKey.generate()))
    used_id = f"P{secrets.token_hex(5)}"
    code = create(harness.operator, used_id).code
    enrolment.redeem(device.registry, code, SigningKey.generate())
    used = refused(device, enrolment.redeem_request(code, SigningKey.generate()))
    answers = {(e.code(), e.details()) for e in (wrong, expired, used)}
    assert answers == {(grpc.StatusCode.PERMISSION_DENIED, REFUSED)}


def test_a_bad_proof_is_refused_and_leaves_the_code_usable(harness):
    patient_id, key = f"P{secrets.token_hex(5)}", SigningKey.generate()
    code = create(harness.operator, patient_id).code
    device = anonymous(harness)
    forged = enrolment.redeem_request(code, SigningKey.generate())
    forged.identity_public_key = bytes(key.verify_key)  # signed by another key than the one registered
    err = refused(device, forged)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "proof" in field_violations(err)
    assert enrolment.redeem(device.registry, code, key).patient_id == patient_id


def test_a_lost_device_is_replaced_and_its_key_revoked_at_once(harness):
    patient = harness.patient()
    assert consents(patient.client, patient.id) == []
    code = create(harness.operator, patient.id).code
    new_key = SigningKey.generate()
    got = enrolment.redeem(anonymous(harness).registry, code, new_key)
    assert got.patient_id == patient.id
    with pytest.raises(grpc.RpcError) as err:
        consents(patient.client, patient.id)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert consents(as_patient(harness, patient.id, new_key), patient.id) == []


def test_only_the_operator_issues_a_lost_device_code(harness):
    patient, hospital = harness.patient(), harness.org()
    with pytest.raises(grpc.RpcError) as err:
        create(hospital.client, patient.id)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    new_id = f"P{secrets.token_hex(5)}"
    assert create(hospital.client, new_id).code
    with pytest.raises(grpc.RpcError) as err:
        create(patient.client, new_id)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_new_code_voids_the_earlier_one(harness):
    patient_id = f"P{secrets.token_hex(5)}"
    first, second = create(harness.operator, patient_id).code, create(harness.operator, patient_id).code
    device = anonymous(harness)
    assert refused(device, enrolment.redeem_request(first, SigningKey.generate())).details() == REFUSED
    assert enrolment.redeem(device.registry, second, SigningKey.generate()).patient_id == patient_id


def test_the_code_is_never_in_the_ledger_or_logs(harness, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    patient = harness.patient()
    code = create(harness.operator, patient.id).code
    device = anonymous(harness)
    refused(device, enrolment.redeem_request(code[::-1], SigningKey.generate()))
    enrolment.redeem(device.registry, code, SigningKey.generate())
    harness.flush_refusals()
    out, err = capfd.readouterr()
    logged = "\n".join(r.getMessage() for r in caplog.records) + out + err
    ledger = b"\n".join(harness.raw_entries()).decode()
    kinds = [e["kind"] for e in harness.entries()]
    assert "enrolment.code_created" in kinds and "patient.key_replaced" in kinds
    for form in (code, enrolment.normalised(code), code[::-1]):
        assert form not in ledger and form not in logged, form
    [stored] = harness.sql("SELECT code_hash FROM enrolment_codes WHERE patient_id = :p", p=patient.id)
    assert enrolment.normalised(code) not in stored[0]


def test_refused_attempts_are_limited_per_source(tmp_path):
    from backends import database
    from harness import Harness
    with database("sqlite", tmp_path) as url:
        h = Harness.start(tmp_path / "data", url, enrolment_code_failures=3)
        try:
            device = anonymous(h)
            codes = [refused(device, enrolment.redeem_request("0000-0000-000" + str(i), SigningKey.generate())).code()
                     for i in range(5)]
        finally:
            h.stop()
    assert codes[:3] == [grpc.StatusCode.PERMISSION_DENIED] * 3
    assert codes[3:] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
