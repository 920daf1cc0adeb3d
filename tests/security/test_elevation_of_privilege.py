"""Elevation of privilege: an institution's token claims a role it was never given.

A role is bound to the institution (its kind bounds the roles it can have) and to the
practitioner (the institution registers each with their roles); only an institution that
delivers care may break the glass. Each attack is refused, discloses nothing, and is ledgered.
"""

from __future__ import annotations

import json

import grpc
import pytest
from harness import field_violations, grant
from nacl.public import PrivateKey

from consentry.services.domain.relationship import UNRELATED
from consentry.services.identity.tokens import Caller
from consentry.v1 import exchange_pb2, registry_pb2

EMERGENCY = "unconscious on arrival, anaphylaxis suspected"
ALLERGY = {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/{pid}"},
           "code": {"text": "penicillin"}, "recordedDate": "2026-10-01"}
MEDICATION = {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
              "subject": {"reference": "Patient/{pid}"}, "authoredOn": "2026-11-20",
              "medicationCodeableConcept": {"text": "amoxicillin 500 mg"}}


def deposit(hospital, patient, resource: dict) -> str:
    body = json.dumps(resource).replace("{pid}", patient.id).encode()
    return hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=body)).record.record_id


def acting_as(harness, org, role: str, practitioner: str):
    """A client whose tokens the institution signs with its own key, claiming this staff member."""
    return harness.client(Caller("org:" + org.id, org.identity, role=role, practitioner=practitioner))


def refused_fetch(harness, client, patient, purpose="ETREAT", justification=EMERGENCY) -> str:
    """Fetches as `client` and returns the UNAUTHENTICATED refusal's message; nothing is received."""
    received: list = []
    items = client.fetch(patient.id, purpose, recipient_key=PrivateKey.generate(), service_key=harness.service_key,
                         emergency_justification=justification)
    with pytest.raises(grpc.RpcError) as err:
        received.extend(items)  # keeps whatever arrived before the refusal
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert received == []
    return err.value.details()


def auth_refusals(harness, org) -> list[dict]:
    return [e for e in harness.entries() if e["kind"] == "auth.refused" and e["actor"] == "org:" + org.id]


def decisions_for(harness, org) -> list[dict]:
    return [e for e in harness.entries() if e["kind"] == "access.decision" and e["actor"] == "org:" + org.id]


@pytest.mark.parametrize(("kind", "staff_role"), [
    (registry_pb2.INSTITUTION_KIND_INSURER, "claims-officer"),
    (registry_pb2.INSTITUTION_KIND_LABORATORY, "admin-clerk"),
    (registry_pb2.INSTITUTION_KIND_RESEARCH_REGISTRY, "researcher"),
])
def test_an_institution_that_delivers_no_care_cannot_claim_a_physician_to_break_the_glass(harness, kind,
                                                                                          staff_role):
    hospital, patient = harness.org(), harness.patient()
    deposit(hospital, patient, ALLERGY)
    deposit(hospital, patient, MEDICATION)
    org = harness.org(kind=kind, role=staff_role, practitioner="staff-1")
    impostor = acting_as(harness, org, "physician", "staff-1")
    kind_name = registry_pb2.InstitutionKind.Name(kind).removeprefix("INSTITUTION_KIND_").lower().replace("_", "-")
    assert refused_fetch(harness, impostor, patient) == f"an institution of kind {kind_name} cannot have role physician"
    [refusal] = auth_refusals(harness, org)
    assert refusal["method"] == "/consentry.v1.ExchangeService/FetchRecords"
    assert refusal["status"] == "UNAUTHENTICATED"
    assert refusal["reasons"] == [f"an institution of kind {kind_name} cannot have role physician"]
    assert decisions_for(harness, org) == []  # refused before any record was looked at

    # Its own staff, in the role it does have, declaring the same emergency, stand in no
    # relationship to the patient: refused whole, no record looked at (docs/disclosure.md).
    items = org.client.fetch(patient.id, "ETREAT", recipient_key=org.encryption, service_key=harness.service_key,
                             emergency_justification=EMERGENCY)
    with pytest.raises(grpc.RpcError) as err:
        list(items)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED and err.value.details() == UNRELATED
    assert decisions_for(harness, org) == []


def test_an_insurer_cannot_register_itself_a_physician(harness):
    insurer = harness.org(kind=registry_pb2.INSTITUTION_KIND_INSURER, role="claims-officer", practitioner="claims-1")
    with pytest.raises(grpc.RpcError) as err:
        insurer.client.registry.RegisterPractitioner(registry_pb2.RegisterPractitionerRequest(
            institution_id=insurer.id, practitioner_id="claims-1", roles=["claims-officer", "physician"]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value) == {"roles[1]": "an institution of kind insurer cannot have this role"}
    [refusal] = [e for e in harness.entries() if e["kind"] == "call.refused" and e["actor"] == "org:" + insurer.id]
    assert refusal["method"].endswith("/RegisterPractitioner") and refusal["status"] == "INVALID_ARGUMENT"
    assert refusal["reasons"] == ["roles[1]: an institution of kind insurer cannot have this role"]
    listed = insurer.client.registry.ListPractitioners(registry_pb2.ListPractitionersRequest(institution_id=insurer.id))
    assert [(p.practitioner_id, list(p.roles)) for p in listed.practitioners] == [("claims-1", ["claims-officer"])]


def test_a_registered_clerk_re_signing_a_token_as_physician_is_refused(harness):
    hospital, patient = harness.org(), harness.patient()
    deposit(hospital, patient, ALLERGY)
    clinic = harness.org(kind=registry_pb2.INSTITUTION_KIND_CLINIC, role="admin-clerk", practitioner="clerk-1")
    grant(patient, clinic, ["allergy"])
    as_physician = acting_as(harness, clinic, "physician", "clerk-1")
    assert refused_fetch(harness, as_physician, patient, "TREAT", "") == (
        "the token's practitioner does not hold role physician")
    assert refused_fetch(harness, as_physician, patient) == "the token's practitioner does not hold role physician"
    assert [e["reasons"] for e in auth_refusals(harness, clinic)] == [
        ["the token's practitioner does not hold role physician"]] * 2
    assert decisions_for(harness, clinic) == []
    # As the clerk they are, the consent does not make an allergy record a clerk's to read.
    [item] = clinic.client.fetch(patient.id, "TREAT", recipient_key=clinic.encryption, service_key=harness.service_key)
    assert not item.shared


def test_an_unregistered_practitioner_is_refused(harness):
    hospital, patient = harness.org(), harness.patient()
    deposit(hospital, patient, ALLERGY)
    doctor = harness.org(kind=registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR)
    grant(patient, doctor, ["allergy"])
    ghost = acting_as(harness, doctor, "physician", "dr-ghost")
    assert refused_fetch(harness, ghost, patient, "TREAT", "") == (
        "the token's practitioner is not registered with this institution")
    [refusal] = auth_refusals(harness, doctor)
    assert refusal["reasons"] == ["the token's practitioner is not registered with this institution"]
    assert "dr-ghost" not in json.dumps(harness.entries())
    assert decisions_for(harness, doctor) == []


def test_a_removed_practitioner_is_refused_from_the_next_call(harness):
    hospital, patient = harness.org(), harness.patient()
    deposit(hospital, patient, ALLERGY)
    doctor = harness.org(kind=registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR)
    grant(patient, doctor, ["allergy"])
    harness.operator.registry.RegisterPractitioner(registry_pb2.RegisterPractitionerRequest(
        institution_id=doctor.id, practitioner_id="dr-leaving", roles=["physician"]))
    leaving = acting_as(harness, doctor, "physician", "dr-leaving")
    [item] = leaving.fetch(patient.id, "TREAT", recipient_key=doctor.encryption, service_key=harness.service_key)
    assert item.shared
    doctor.client.registry.RemovePractitioner(registry_pb2.RemovePractitionerRequest(
        institution_id=doctor.id, practitioner_id="dr-leaving"))
    assert refused_fetch(harness, leaving, patient, "TREAT", "") == (
        "the token's practitioner is not registered with this institution")
    [refusal] = auth_refusals(harness, doctor)
    assert refusal["method"] == "/consentry.v1.ExchangeService/FetchRecords"
    removed = [e for e in harness.entries()
               if e["kind"] == "practitioner.removed" and e["practitioner"] == "dr-leaving"]
    assert [(e["actor"], e["roles"]) for e in removed] == [("org:" + doctor.id, ["physician"])]


def test_an_institution_cannot_register_practitioners_for_another(harness):
    insurer = harness.org(kind=registry_pb2.INSTITUTION_KIND_INSURER, role="claims-officer")
    hospital = harness.org()
    with pytest.raises(grpc.RpcError) as err:
        insurer.client.registry.RegisterPractitioner(registry_pb2.RegisterPractitionerRequest(
            institution_id=hospital.id, practitioner_id="dr-mole", roles=["physician"]))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    [refusal] = [e for e in harness.entries() if e["kind"] == "call.refused" and e["actor"] == "org:" + insurer.id]
    assert refusal["method"].endswith("/RegisterPractitioner") and refusal["status"] == "PERMISSION_DENIED"
    listed = harness.operator.registry.ListPractitioners(registry_pb2.ListPractitionersRequest(
        institution_id=hospital.id))
    assert [p.practitioner_id for p in listed.practitioners] == ["dr-test"]
    # Nor can the insurer act as the hospital's physician: it holds no key of the hospital's.
    mole = harness.client(Caller("org:" + hospital.id, insurer.identity, role="physician", practitioner="dr-test"))
    with pytest.raises(grpc.RpcError) as err:
        mole.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_care_delivering_physician_still_breaks_the_glass_and_it_is_reviewed(harness):
    hospital, patient = harness.org(), harness.patient()
    allergy = deposit(hospital, patient, ALLERGY)
    er = harness.org(kind=registry_pb2.INSTITUTION_KIND_CLINIC, practitioner="dr-er")
    [item] = er.client.fetch(patient.id, "ETREAT", recipient_key=er.encryption, service_key=harness.service_key,
                             emergency_justification=EMERGENCY)
    assert item.record_id == allergy and item.shared
    [decision] = decisions_for(harness, er)
    assert decision["allowed"] and decision["role"] == "physician" and decision["practitioner"] == "dr-er"
    assert decision["emergency"] and {"notify_patient", "review"} <= set(decision["obligations"])
