"""42 CFR Part 2 programs over gRPC: every deposit of a holder flagged as a Part 2 program counts
as substance-use (labelled SUD, its reason kept), so only a consent naming substance-use shares it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from harness import grant

from consentry.services import config as cfg
from consentry.services.crypto import keyfiles
from consentry.services.crypto.errors import ResponseMismatch
from consentry.services.crypto.share import build_share
from consentry.services.crypto.share_header import REDISCLOSURE_NOTICE
from consentry.v1 import common_pb2, exchange_pb2, registry_pb2

LAB = (b'{"resourceType":"Observation","status":"final","subject":{"reference":"Patient/%s"},'
       b'"code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},'
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


def test_a_part2_share_carries_the_redisclosure_notice_and_the_consent_scope_signed(harness, program):
    _, doctor, patient, record = program
    hospital = harness.org()
    plain = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=LAB % patient.id.encode())).record
    consent = grant(patient, doctor, ["lab", "substance-use"], validity=a_year())
    got = {r.record_id: r for r in doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                                       service_key=harness.service_key) if r.shared}
    assert set(got) == {record.record_id, plain.record_id}
    assert got[record.record_id].header["v"] == 3
    assert got[record.record_id].redisclosure == {
        "notice": REDISCLOSURE_NOTICE,
        "consents": [{"consent_id": consent.consent_id, "version": 1, "categories": ["lab", "substance-use"],
                      "purposes": ["TREAT"], "excepted": [],
                      "valid_until": consent.validity.end.ToJsonString()}],
    }
    assert got[plain.record_id].redisclosure is None  # the same lab result from a holder outside Part 2


def test_a_record_filed_as_substance_use_is_shared_with_the_notice(harness):
    hospital, doctor, patient = harness.org(), harness.org(), harness.patient()
    hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=LAB % patient.id.encode(), category="substance-use"))
    grant(patient, doctor, ["substance-use"], validity=a_year())
    [item] = doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                 service_key=harness.service_key)
    assert item.category == "substance-use" and item.redisclosure["notice"] == REDISCLOSURE_NOTICE


class _WithoutNotice:
    """An exchange stub whose substance-use shares come re-signed by the service key without the
    redisclosure notice: a server that would omit it."""

    def __init__(self, stub, signer, recipient) -> None:
        self._stub, self._signer, self._recipient = stub, signer, recipient

    def FetchRecords(self, request, **kw):
        for item in self._stub.FetchRecords(request, **kw):
            header = json.loads(item.shared.package.header)
            package = build_share(
                b"{}", record_id=header["record_id"], category=header["category"], recipient=header["recipient"],
                recipient_key_id=header["recipient_key_id"], recipient_public_key=bytes(self._recipient.public_key),
                purpose=header["purpose"], patient_ref=request.patient_id, fetch_nonce=request.nonce,
                ledger_seq=header["ledger_seq"], obligations=header["obligations"], signer=self._signer,
                now=datetime.now(UTC), redisclosure=None)
            copy = exchange_pb2.FetchRecordsResponse()
            copy.CopyFrom(item)
            copy.shared.package.header, copy.shared.package.signature = package.header, package.signature
            copy.shared.package.ciphertext, copy.shared.package.sealed_key = package.ciphertext, package.sealed_key
            yield copy


def test_the_sdk_refuses_a_substance_use_share_without_its_notice(harness):
    hospital, doctor, patient = harness.org(), harness.org(), harness.patient()
    hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=LAB % patient.id.encode(), category="substance-use"))
    grant(patient, doctor, ["substance-use"], validity=a_year())
    signer = keyfiles.load_signing_key(harness.settings.key_path(cfg.SHARE_SIGNING_KEY))
    doctor.client.exchange = _WithoutNotice(doctor.client.exchange, signer, doctor.encryption)
    with pytest.raises(ResponseMismatch, match=r"42 CFR 2\.32"):
        list(doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                 service_key=harness.service_key))
