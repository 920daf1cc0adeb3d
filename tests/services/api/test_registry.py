"""RegistryService: who may register what, and how keys rotate and are revoked."""

from __future__ import annotations

import grpc
import pytest
from harness import field_violations, grant
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from consentry.services.crypto.errors import WrongRecipientKey
from consentry.v1 import exchange_pb2, registry_pb2


def register(client, institution_id="valid-id", **kw):
    request = registry_pb2.RegisterInstitutionRequest(
        institution_id=institution_id, display_name=kw.pop("display_name", "A clinic"),
        kind=kw.pop("kind", registry_pb2.INSTITUTION_KIND_CLINIC),
        identity_public_key=kw.pop("identity", bytes(SigningKey.generate().verify_key)),
        encryption_public_key=kw.pop("encryption", bytes(PrivateKey.generate().public_key)), **kw)
    return client.registry.RegisterInstitution(request)


def test_register_validates_every_field(harness):
    with pytest.raises(grpc.RpcError) as err:
        register(harness.operator, "Bad ID!", display_name="", kind=0, identity=b"short", encryption=b"")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(err.value)) == {
        "institution_id", "display_name", "kind", "identity_public_key", "encryption_public_key"}


def test_register_twice_is_already_exists(harness):
    org = harness.org()
    with pytest.raises(grpc.RpcError) as err:
        register(harness.operator, org.id)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_only_the_operator_registers(harness):
    org = harness.org()
    with pytest.raises(grpc.RpcError) as err:
        register(org.client, "sneaky-clinic")
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    patient = harness.patient()
    with pytest.raises(grpc.RpcError) as err:
        patient.client.registry.EnrollPatient(registry_pb2.EnrollPatientRequest(
            patient_id="P-other", identity_public_key=bytes(SigningKey.generate().verify_key)))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_institution_is_readable_with_its_public_keys(harness):
    org = harness.org()
    other = harness.org()
    got = other.client.registry.GetInstitution(registry_pb2.GetInstitutionRequest(institution_id=org.id)).institution
    assert {k.public_key for k in got.keys} == {bytes(org.identity.verify_key), bytes(org.encryption.public_key)}
    assert all(k.status == registry_pb2.KEY_STATUS_CURRENT for k in got.keys)
    with pytest.raises(grpc.RpcError) as err:
        other.client.registry.GetInstitution(registry_pb2.GetInstitutionRequest(institution_id="no-such-org"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_rotating_the_encryption_key_seals_new_shares_to_the_new_key(harness):
    hospital, doctor, patient = harness.org(), harness.org(), harness.patient()
    body = (b'{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/%s"}}' % patient.id.encode())
    hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body))
    grant(patient, doctor, ["allergy"])
    new_key = PrivateKey.generate()
    doctor.client.registry.RotateInstitutionKey(registry_pb2.RotateInstitutionKeyRequest(
        institution_id=doctor.id, type=registry_pb2.KEY_TYPE_ENCRYPTION, public_key=bytes(new_key.public_key)))
    [item] = doctor.client.fetch(patient.id, "TREAT", recipient_key=new_key, service_key=harness.service_key)
    assert item.body == body
    with pytest.raises(WrongRecipientKey):  # the old private key no longer opens new shares
        list(doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption, service_key=harness.service_key))


def test_revoked_encryption_key_receives_nothing(harness):
    hospital, doctor, patient = harness.org(), harness.org(), harness.patient()
    body = (b'{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/%s"}}' % patient.id.encode())
    hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body))
    grant(patient, doctor, ["allergy"])
    info = doctor.client.registry.GetInstitution(registry_pb2.GetInstitutionRequest(institution_id=doctor.id))
    [enc] = [k for k in info.institution.keys if k.type == registry_pb2.KEY_TYPE_ENCRYPTION]
    doctor.client.registry.RevokeInstitutionKey(registry_pb2.RevokeInstitutionKeyRequest(
        institution_id=doctor.id, key_id=enc.key_id, reason="compromised"))
    with pytest.raises(grpc.RpcError) as err:
        list(doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption, service_key=harness.service_key))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_an_institution_manages_only_its_own_keys(harness):
    a, b = harness.org(), harness.org()
    with pytest.raises(grpc.RpcError) as err:
        a.client.registry.RotateInstitutionKey(registry_pb2.RotateInstitutionKeyRequest(
            institution_id=b.id, type=registry_pb2.KEY_TYPE_ENCRYPTION,
            public_key=bytes(PrivateKey.generate().public_key)))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_key_events_are_ledgered(harness):
    org = harness.org()
    org.client.registry.RotateInstitutionKey(registry_pb2.RotateInstitutionKeyRequest(
        institution_id=org.id, type=registry_pb2.KEY_TYPE_ENCRYPTION,
        public_key=bytes(PrivateKey.generate().public_key)))
    kinds = [(e["kind"], e.get("institution")) for e in harness.entries()]
    assert ("institution.registered", "org:" + org.id) in kinds and ("key.rotated", "org:" + org.id) in kinds
