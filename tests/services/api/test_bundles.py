"""Bundles are filed whole (docs/labelling.md, "Bundles"): one record with every entry's labels,
the document's or the most restricted entry's category, and a date from the Bundle, its document
or its entries about the patient, never from an Organization. A record without a date lies outside
every bounded data period, and the patient's history says why."""

from __future__ import annotations

from datetime import UTC, datetime

from clinical_samples import body, depression_screening, lab_result, opioid_abuse
from google.protobuf.timestamp_pb2 import Timestamp
from harness import grant

from consentry.v1 import common_pb2, consent_pb2, exchange_pb2

ORGANIZATION = {"resourceType": "Organization", "id": "hosp", "name": "Riverside Hospital"}


def put(org, patient, resource: dict) -> exchange_pb2.RecordMetadata:
    return org.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=body(resource))).record


def collection(*resources: dict, **fields) -> dict:
    return {"resourceType": "Bundle", "type": "collection", **fields,
            "entry": [{"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}", "resource": r}
                      for i, r in enumerate(resources)]}


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_bundle_is_one_record_with_every_entrys_labels(harness):
    hospital, patient = harness.org(), harness.patient()
    record = put(hospital, patient, collection(ORGANIZATION, lab_result(patient.id), depression_screening(patient.id),
                                               opioid_abuse(patient.id)))
    assert record.resource_type == "Bundle" and list(record.labels) == ["OPIOIDUD", "PSY"]
    assert {r.element for r in record.label_reasons} == {"Bundle.entry[2].resource.code.coding[0]",
                                                         "Bundle.entry[3].resource.code.coding[0]"}
    assert len(list(hospital.client.exchange.ListRecords(
        exchange_pb2.ListRecordsRequest(patient_id=patient.id)).records)) == 1


def test_a_collection_takes_the_category_the_fewest_duties_may_read(harness):
    """lab (10 role duties read it) and survey (6): survey."""
    hospital, patient = harness.org(), harness.patient()
    record = put(hospital, patient, collection(lab_result(patient.id), depression_screening(patient.id)))
    assert record.category == "survey"


def test_a_document_is_what_its_composition_says_it_is(harness):
    hospital, patient = harness.org(), harness.patient()
    composition = {"resourceType": "Composition", "status": "final", "subject": {"reference": f"Patient/{patient.id}"},
                   "type": {"coding": [{"system": "http://loinc.org", "code": "18842-5"}]}, "date": "2026-05-04",
                   "title": "Discharge summary", "author": [{"display": "Discharging physician"}]}
    record = put(hospital, patient, {**collection(composition, lab_result(patient.id), ORGANIZATION),
                                     "type": "document"})
    assert record.category == "discharge-summary"
    assert record.effective_time.ToDatetime(tzinfo=UTC) == day("2026-05-04")


def test_an_undated_bundle_is_dated_by_its_entries_about_the_patient_not_its_organization(harness):
    hospital, patient = harness.org(), harness.patient()
    early, late = lab_result(patient.id), lab_result(patient.id)
    early["effectiveDateTime"], late["effectiveDateTime"] = "2026-01-02", "2026-03-04"
    record = put(hospital, patient, collection(ORGANIZATION, early, late))
    assert record.effective_time.ToDatetime(tzinfo=UTC) == day("2026-03-04")
    stamped = put(hospital, patient, collection(ORGANIZATION, early, timestamp="2026-06-07T08:00:00Z"))
    assert stamped.effective_time.ToDatetime(tzinfo=UTC) == day("2026-06-07T08:00:00")


def test_an_undated_record_is_outside_a_data_period_and_the_history_says_why(harness):
    hospital, patient, doctor = harness.org(), harness.patient(), harness.org()
    undated = lab_result(patient.id)
    del undated["effectiveDateTime"]
    record = put(hospital, patient, undated)
    assert not record.HasField("effective_time")
    since = Timestamp()
    since.FromDatetime(day("2020-01-01"))
    consent = grant(patient, doctor, ["lab"], data_period=common_pb2.Period(start=since))
    [outcome] = doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                    service_key=harness.service_key)
    assert not outcome.shared
    events = patient.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(
        patient_id=patient.id, page_size=1000)).events
    [event] = [e for e in events if e.record_id == record.record_id]
    assert (f"record has no clinical date, so it is outside the data period of consent {consent.consent_id}"
            in event.reasons)
