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


# -- practitioners ----------------------------------------------------------------------------

def add_practitioner(client, institution_id, practitioner_id, *roles, **kw):
    return client.registry.RegisterPractitioner(registry_pb2.RegisterPractitionerRequest(
        institution_id=institution_id, practitioner_id=practitioner_id, roles=list(roles), **kw)).practitioner


def remove_practitioner(client, institution_id, practitioner_id, **kw):
    return client.registry.RemovePractitioner(registry_pb2.RemovePractitionerRequest(
        institution_id=institution_id, practitioner_id=practitioner_id, **kw)).practitioner


def practitioners(client, institution_id, **kw):
    return client.registry.ListPractitioners(registry_pb2.ListPractitionersRequest(
        institution_id=institution_id, **kw))


def refused(call, code):
    with pytest.raises(grpc.RpcError) as err:
        call()
    assert err.value.code() == code, err.value.details()
    return err.value


def test_the_operator_registers_lists_and_removes_practitioners(harness):
    clinic = harness.org(kind=registry_pb2.INSTITUTION_KIND_CLINIC)
    added = add_practitioner(harness.operator, clinic.id, "nurse-1", "nurse", "admin-clerk")
    assert (added.institution_id, added.practitioner_id, list(added.roles)) == (clinic.id, "nurse-1",
                                                                                 ["nurse", "admin-clerk"])
    assert added.register_time.seconds > 0 and not added.HasField("remove_time")
    listed = practitioners(harness.operator, clinic.id)
    assert [(p.practitioner_id, list(p.roles)) for p in listed.practitioners] == [
        ("dr-test", ["physician"]), ("nurse-1", ["nurse", "admin-clerk"])]
    assert listed.next_page_token == ""

    removed = remove_practitioner(harness.operator, clinic.id, "nurse-1")
    assert removed.HasField("remove_time") and list(removed.roles) == ["nurse", "admin-clerk"]
    assert [p.practitioner_id for p in practitioners(harness.operator, clinic.id).practitioners] == ["dr-test"]

    events = [e for e in harness.entries()
              if e.get("practitioner") == "nurse-1" and e.get("institution") == "org:" + clinic.id]
    assert [(e["kind"], e["actor"], e["roles"]) for e in events] == [
        ("practitioner.registered", "operator", ["nurse", "admin-clerk"]),
        ("practitioner.removed", "operator", ["nurse", "admin-clerk"])]


def test_an_institution_registers_and_lists_its_own_practitioners(harness):
    hospital = harness.org()
    add_practitioner(hospital.client, hospital.id, "pharm.lee", "pharmacist")
    assert [p.practitioner_id for p in practitioners(hospital.client, hospital.id).practitioners] == [
        "dr-test", "pharm.lee"]
    [event] = [e for e in harness.entries()
               if e["kind"] == "practitioner.registered" and e["practitioner"] == "pharm.lee"]
    assert event["actor"] == "org:" + hospital.id and event["institution"] == "org:" + hospital.id


def test_an_institution_manages_only_its_own_practitioners(harness):
    a, b = harness.org(), harness.org()
    denied = [
        refused(lambda: add_practitioner(a.client, b.id, "dr-mole", "physician"), grpc.StatusCode.PERMISSION_DENIED),
        refused(lambda: remove_practitioner(a.client, b.id, "dr-test"), grpc.StatusCode.PERMISSION_DENIED),
        refused(lambda: practitioners(a.client, b.id), grpc.StatusCode.PERMISSION_DENIED),
    ]
    assert all("only its own practitioners" in e.details() for e in denied)
    assert [p.practitioner_id for p in practitioners(harness.operator, b.id).practitioners] == ["dr-test"]
    patient = harness.patient()
    refused(lambda: add_practitioner(patient.client, b.id, "dr-mole", "physician"), grpc.StatusCode.PERMISSION_DENIED)
    refusals = [e["method"].rsplit("/", 1)[1] for e in harness.entries()
                if e["kind"] == "call.refused" and e["actor"] == "org:" + a.id]
    assert refusals == ["RegisterPractitioner", "RemovePractitioner", "ListPractitioners"]


def test_register_practitioner_validates_every_field(harness):
    org = harness.org()
    err = refused(lambda: add_practitioner(harness.operator, org.id, "-bad id\n", "physician", "janitor", "physician"),
                  grpc.StatusCode.INVALID_ARGUMENT)
    assert set(field_violations(err)) == {"practitioner_id", "roles[1]", "roles"}
    assert "janitor" not in err.details() and "bad id" not in err.details()
    err = refused(lambda: add_practitioner(harness.operator, "Bad Org", "dr-x"), grpc.StatusCode.INVALID_ARGUMENT)
    assert set(field_violations(err)) == {"institution_id"}
    err = refused(lambda: add_practitioner(harness.operator, org.id, "dr-x"), grpc.StatusCode.INVALID_ARGUMENT)
    assert field_violations(err) == {"roles": "must name at least one role"}
    err = refused(lambda: add_practitioner(harness.operator, org.id, "dr-x", *["nurse"] * 50),
                  grpc.StatusCode.INVALID_ARGUMENT)
    assert list(field_violations(err)) == ["roles"]
    err = refused(lambda: add_practitioner(harness.operator, org.id, "x" * 65, "nurse"),
                  grpc.StatusCode.INVALID_ARGUMENT)
    assert list(field_violations(err)) == ["practitioner_id"]


@pytest.mark.parametrize(("kind", "roles", "bad"), [
    (registry_pb2.INSTITUTION_KIND_INSURER, ["claims-officer", "physician"], "roles[1]"),
    (registry_pb2.INSTITUTION_KIND_RESEARCH_REGISTRY, ["nurse"], "roles[0]"),
    (registry_pb2.INSTITUTION_KIND_LABORATORY, ["admin-clerk", "physician"], "roles[1]"),
    (registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR, ["psychiatrist"], "roles[0]"),
])
def test_a_role_the_institutions_kind_cannot_have_is_invalid_argument(harness, kind, roles, bad):
    org = harness.org(kind=kind, role="admin-clerk")
    for client in (harness.operator, org.client):
        err = refused(lambda c=client: add_practitioner(c, org.id, "dr-new", *roles), grpc.StatusCode.INVALID_ARGUMENT)
        assert list(field_violations(err)) == [bad] and "cannot have this role" in field_violations(err)[bad]
    assert [p.practitioner_id for p in practitioners(harness.operator, org.id).practitioners] == ["dr-test"]
    assert not [e for e in harness.entries() if e.get("practitioner") == "dr-new"]


def test_registering_again_replaces_the_roles_and_reinstates(harness):
    clinic = harness.org(kind=registry_pb2.INSTITUTION_KIND_CLINIC)
    add_practitioner(harness.operator, clinic.id, "sam", "nurse")
    remove_practitioner(harness.operator, clinic.id, "sam")
    again = add_practitioner(clinic.client, clinic.id, "sam", "physician", "psychiatrist")
    assert list(again.roles) == ["physician", "psychiatrist"] and not again.HasField("remove_time")
    [sam] = [p for p in practitioners(clinic.client, clinic.id).practitioners if p.practitioner_id == "sam"]
    assert list(sam.roles) == ["physician", "psychiatrist"]


def test_a_retried_registration_is_ledgered_once(harness):
    org = harness.org()
    first = add_practitioner(harness.operator, org.id, "dr-retry", "nurse", idempotency_key="k-1")
    second = add_practitioner(harness.operator, org.id, "dr-retry", "nurse", idempotency_key="k-1")
    assert first == second
    assert len([e for e in harness.entries() if e.get("practitioner") == "dr-retry"]) == 1


def test_removal_needs_a_registered_practitioner_and_leaves_the_institution_one(harness):
    org = harness.org()
    refused(lambda: remove_practitioner(harness.operator, org.id, "dr-nobody"), grpc.StatusCode.NOT_FOUND)
    refused(lambda: remove_practitioner(harness.operator, "no-such-org", "dr-test"), grpc.StatusCode.NOT_FOUND)
    err = refused(lambda: remove_practitioner(org.client, org.id, "dr-test"), grpc.StatusCode.FAILED_PRECONDITION)
    assert "last practitioner" in err.details()
    add_practitioner(org.client, org.id, "dr-two", "physician")
    remove_practitioner(org.client, org.id, "dr-two")
    refused(lambda: remove_practitioner(org.client, org.id, "dr-two"), grpc.StatusCode.FAILED_PRECONDITION)
    remove_practitioner(harness.operator, org.id, "dr-test")  # the operator may remove the last one
    assert list(practitioners(harness.operator, org.id).practitioners) == []


def test_practitioners_are_listed_by_page(harness):
    org = harness.org()
    for i in range(4):
        add_practitioner(harness.operator, org.id, f"dr-p{i}", "nurse")
    seen, token = [], ""
    while True:
        page = practitioners(org.client, org.id, page_size=2, page_token=token)
        assert len(page.practitioners) <= 2
        seen += [p.practitioner_id for p in page.practitioners]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["dr-p0", "dr-p1", "dr-p2", "dr-p3", "dr-test"]
    err = refused(lambda: practitioners(org.client, org.id, page_token="not a token!"),
                  grpc.StatusCode.INVALID_ARGUMENT)
    assert list(field_violations(err)) == ["page_token"]
    refused(lambda: practitioners(harness.operator, "no-such-org"), grpc.StatusCode.NOT_FOUND)
