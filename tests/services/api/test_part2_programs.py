"""42 CFR Part 2 programs over gRPC: every deposit of a holder flagged as a Part 2 program counts
as substance-use (labelled SUD, its reason kept), so only a consent naming substance-use shares it."""

from __future__ import annotations

import time

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from harness import grant

from consentry.v1 import common_pb2, exchange_pb2, registry_pb2

LAB = (b'{"resourceType":"Observation","status":"final","subject":{"reference":"Patient/%s"},'
       b'"category":[{"coding":[{"code":"laboratory"}]}],"effectiveDateTime":"2026-11-01"}')


def a_year() -> common_pb2.Period:
    return common_pb2.Period(end=Timestamp(seconds=int(time.time()) + 365 * 86_400))


@pytest.fixture
def program(harness):
    clinic = harness.org(kind=registry_pb2.INSTITUTION_KIND_CLINIC, part2_program=True, prefix="sud-clinic")
    doctor, patient = harness.org(), harness.patient()
    record = clinic.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=LAB % patient.id.encode())).record
    return clinic, doctor, patient, record


def shared(harness, org, patient):
    return [r.record_id for r in org.client.fetch(patient.id, "TREAT", recipient_key=org.encryption,
                                                  service_key=harness.service_key) if r.shared]


def test_a_part2_program_is_registered_as_one_and_ledgered(harness, program):
    clinic, *_ = program
    got = harness.operator.registry.GetInstitution(registry_pb2.GetInstitutionRequest(institution_id=clinic.id))
    assert got.institution.part2_program
    [entry] = [e for e in harness.entries() if e["kind"] == "institution.registered"
               and e["institution"] == "org:" + clinic.id]
    assert entry["part2_program"] is True
    hospital = harness.org()
    plain = harness.operator.registry.GetInstitution(registry_pb2.GetInstitutionRequest(institution_id=hospital.id))
    assert not plain.institution.part2_program


def test_every_deposit_of_a_part2_program_counts_as_substance_use(harness, program):
    _, _, patient, record = program
    assert record.category == "lab" and list(record.labels) == ["SUD"]
    assert [(r.label, r.source, r.element) for r in record.label_reasons] == [("SUD", "part2-program", "holder")]
    [entry] = [e for e in harness.entries() if e["kind"] == "record.deposited" and e["record"] == record.record_id]
    assert entry["labels"] == ["SUD"]
    other = harness.org().client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=LAB % patient.id.encode())).record
    assert list(other.labels) == []  # the same body from a holder that is not a Part 2 program


def test_only_a_consent_naming_substance_use_shares_it(harness, program):
    _, doctor, patient, record = program
    grant(patient, doctor, ["lab"])
    assert shared(harness, doctor, patient) == []
    grant(patient, doctor, ["lab", "substance-use"], validity=a_year())
    assert shared(harness, doctor, patient) == [record.record_id]
