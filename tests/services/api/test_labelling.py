"""The labelling step over gRPC: sensitive records are labelled from their own codes, with no help
from the holder, say why, and are never shared under a consent that does not name their category
(docs/labelling.md)."""

from __future__ import annotations

import json

import grpc
import pytest
from clinical_samples import ICD10, SENSITIVE, body, concept, lab_result, opioid_abuse, ssri_prescription
from harness import field_violations, grant

from consentry.v1 import consent_pb2, exchange_pb2

SNOMED = "http://snomed.info/sct"


def put(org, patient, resource: dict, **fields) -> exchange_pb2.RecordMetadata:
    return org.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=body(resource), **fields)).record


def fetch(harness, org, patient, purpose="TREAT"):
    return list(org.client.fetch(patient.id, purpose, recipient_key=org.encryption, service_key=harness.service_key))


@pytest.fixture(scope="module")
def filed(harness):
    """A hospital that deposited the sensitive examples and one lab result, as a feed sends them."""
    hospital, patient = harness.org(), harness.patient()
    records = {title: put(hospital, patient, build(patient.id)) for title, (build, _, _) in SENSITIVE.items()}
    records["lab result"] = put(hospital, patient, lab_result(patient.id))
    return hospital, patient, records


@pytest.mark.parametrize("title", sorted(SENSITIVE))
def test_each_sensitive_example_is_labelled_from_its_codes(filed, title):
    _, _, records = filed
    _, labels, category = SENSITIVE[title]
    record = records[title]
    assert (list(record.labels), record.category) == (labels, category)
    assert {r.source for r in record.label_reasons} == {"value-set"}


def test_each_label_says_which_element_and_value_set(filed):
    _, _, records = filed
    [reason] = records["induced termination of pregnancy"].label_reasons
    assert (reason.label, reason.value_set, reason.system, reason.element) == (
        "SEX", "reproductive", SNOMED, "Procedure.code.coding[0]")
    assert reason.value_set_version
    ssri = {(r.value_set, r.element, r.system) for r in records["SSRI prescription for depression"].label_reasons}
    assert ssri == {("mental-health", "MedicationRequest.reasonCode[0].coding[0]", SNOMED),
                    ("mental-health", "MedicationRequest.medicationCodeableConcept.coding[0]",
                     "http://www.nlm.nih.gov/research/umls/rxnorm")}


def test_a_broad_consent_shares_none_of_them_nor_names_them(harness, filed):
    hospital, patient, records = filed
    doctor = harness.org()
    grant(patient, doctor, ["*"])
    got = fetch(harness, doctor, patient)
    assert [(r.record_id, r.shared) for r in got] == [(records["lab result"].record_id, True)]


def test_a_consent_naming_the_category_shares_exactly_that_record(harness, filed):
    hospital, patient, records = filed
    doctor = harness.org()
    grant(patient, doctor, ["condition", "substance-use"])
    shared = {r.record_id for r in fetch(harness, doctor, patient) if r.shared}
    assert shared == {records["opioid abuse"].record_id}


def test_the_patient_sees_why_each_was_withheld(harness, filed):
    hospital, patient, records = filed
    doctor = harness.org()
    grant(patient, doctor, ["*"])
    fetch(harness, doctor, patient)
    events = patient.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(
        patient_id=patient.id, page_size=1000)).events
    withheld = {e.record_id: e.reasons for e in events if e.institution_id == doctor.id and not e.allowed}
    assert "sensitive label OPIOIDUD needs a consent that names category substance-use" in \
        withheld[records["opioid abuse"].record_id]
    assert "sensitive label GDIS needs a consent that names category genetic" in \
        withheld[records["familial Alzheimer's disease"].record_id]


def test_reasons_are_kept_with_the_record_never_in_the_ledger(harness, filed):
    hospital, patient, records = filed
    listed = {r.record_id: r for r in patient.client.exchange.ListRecords(
        exchange_pb2.ListRecordsRequest(patient_id=patient.id)).records}
    assert listed[records["opioid abuse"].record_id].label_reasons == records["opioid abuse"].label_reasons
    deposits = [e for e in harness.entries() if e["kind"] == "record.deposited"
                and e["record"] == records["opioid abuse"].record_id]
    [entry] = deposits
    assert entry["labels"] == ["OPIOIDUD"]
    text = json.dumps(entry)
    assert "substance-use" not in text and "coding" not in text and "5602001" not in text
    stored = harness.sql("SELECT label_reasons FROM records WHERE record_id = :r",
                         r=records["opioid abuse"].record_id)[0][0]
    assert "5602001" not in json.dumps(stored)  # the code stays in the sealed body


def test_a_medicine_with_only_another_indication_is_not_labelled(harness):
    hospital, patient = harness.org(), harness.patient()
    menopause = concept(ICD10, "N95.1", "Menopausal and female climacteric states")
    record = put(hospital, patient, ssri_prescription(patient.id, reason=menopause))
    assert list(record.labels) == []
    unstated = ssri_prescription(patient.id)
    del unstated["reasonCode"]
    assert list(put(hospital, patient, unstated).labels) == ["PSY"]


def test_the_holder_may_file_a_condition_under_a_sensitive_category(harness):
    hospital, patient = harness.org(), harness.patient()
    record = put(hospital, patient, opioid_abuse(patient.id), category="substance-use")
    assert (record.category, list(record.labels)) == ("substance-use", ["OPIOIDUD"])


def test_the_holder_adds_labels_and_never_removes_a_derived_one(harness):
    hospital, patient = harness.org(), harness.patient()
    record = put(hospital, patient, opioid_abuse(patient.id), category="condition", labels=["R"])
    assert (record.category, list(record.labels)) == ("condition", ["OPIOIDUD", "R"])
    assert {(r.label, r.source, r.element) for r in record.label_reasons if r.source == "holder"} == {
        ("R", "holder", "labels[0]")}


def test_a_category_that_is_neither_the_derived_one_nor_sensitive_is_refused(harness):
    hospital, patient = harness.org(), harness.patient()
    with pytest.raises(grpc.RpcError) as err:
        put(hospital, patient, opioid_abuse(patient.id), category="lab")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value) == {"category": (
        'must be empty, the category the resource determines, or a sensitive category '
        '(docs/labelling.md, "Categories")')}
