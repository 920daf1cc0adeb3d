"""Every decision entry in the shape of OPA's decision log: its own decision id, the revision of
the policy bundle it was made by, and each consent it relied on with the version in force, so the
entry alone proves which version of which consent allowed a disclosure (docs/ledger.md,
"Decision entries")."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

from harness import grant

from consentry.services.cli.demo import discharge_records
from consentry.v1 import consent_pb2, exchange_pb2, registry_pb2

POLICY = Path(__file__).resolve().parents[3] / "policy"


def policy_revision_as_documented() -> str:
    """docs/policy.md: SHA-256 over each policy file and data file, framed by path and length."""
    digest = hashlib.sha256()
    rego = sorted(p for p in POLICY.glob("*.rego") if not p.name.endswith("_test.rego"))
    for path in (*rego, *sorted((POLICY / "data").glob("*.json"))):
        content = path.read_bytes()
        digest.update(path.relative_to(POLICY).as_posix().encode() + b"\0" + len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


def decisions(harness, doctor, patient) -> dict[str, dict]:
    """The fetch's decision entries, by category."""
    items = list(doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                     service_key=harness.service_key))
    entries = {e["seq"]: e for e in harness.entries()}
    assert items
    first = min(item.ledger_seq for item in items)
    return {e["category"]: e for seq, e in entries.items() if seq >= first and e["kind"] == "access.decision"}


def test_a_decision_entry_names_the_consent_version_that_allowed_it(harness):
    hospital, patient = harness.org(), harness.patient()
    doctor = harness.org(kind=registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR)
    for body in discharge_records(patient.id).values():
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body))
    consent = grant(patient, doctor, ["lab", "medication"])

    before = decisions(harness, doctor, patient)
    for category in ("lab", "medication"):
        entry = before[category]
        assert entry["allowed"] is True
        assert entry["consents"] == [consent.consent_id]
        assert entry["consent_versions"] == [{"id": consent.consent_id, "version": 1}]
        assert entry["policy_revision"] == policy_revision_as_documented()
    assert before["discharge-summary"]["allowed"] is False and before["discharge-summary"]["consent_versions"] == []

    patient.client.consent.NarrowConsent(consent_pb2.NarrowConsentRequest(
        consent_id=consent.consent_id, terms=consent_pb2.ConsentTerms(categories=["medication"], purposes=["TREAT"])))
    after = decisions(harness, doctor, patient)
    assert after["medication"]["allowed"] is True
    assert after["medication"]["consent_versions"] == [{"id": consent.consent_id, "version": 2}]
    assert after["lab"]["allowed"] is False and after["lab"]["consent_versions"] == []
    # Version 2, the one named, is the one whose terms cover medication and no longer lab.
    history = patient.client.consent.GetConsent(consent_pb2.GetConsentRequest(consent_id=consent.consent_id)).history
    assert [(h.version, list(h.categories)) for h in history] == [(1, ["lab", "medication"]), (2, ["medication"])]


def test_every_decision_has_its_own_decision_id(harness):
    hospital, patient = harness.org(), harness.patient()
    doctor = harness.org(kind=registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR)
    for body in discharge_records(patient.id).values():
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body))
    grant(patient, doctor, ["lab"])
    first, second = decisions(harness, doctor, patient), decisions(harness, doctor, patient)
    ids = [e["decision_id"] for got in (first, second) for e in got.values()]
    assert len(ids) == 8 and len(set(ids)) == 8
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert json.dumps(first["lab"]).count(patient.id) == 0  # the id stands beside pseudonyms only
