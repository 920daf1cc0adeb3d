"""`consentry ledger unlink-patient`: the operator destroys one patient's pseudonym key beside a
running server; that patient's entries no longer link to them, no one else's change, and the
ledger still verifies."""

from __future__ import annotations

import os
import subprocess
import sys

from harness import grant

from consentry.ledger import NoteVerifier, verify_log
from consentry.v1 import audit_pb2, consent_pb2

CONSENTRY = [sys.executable, "-m", "consentry.services.cli.main"]


def unlink(harness, patient_id: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CONSENTRY, "ledger", "unlink-patient", patient_id, "--data-dir",
                           str(harness.settings.data_dir)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CONSENTRY_DATABASE_URL": harness.settings.database_url})


def history(person) -> list[int]:
    return [e.ledger_seq for e in person.client.consent.GetAccessHistory(
        consent_pb2.GetAccessHistoryRequest(patient_id=person.id, page_size=1000)).events]


def verified(harness) -> None:
    cp = harness.auditor().client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint
    verify_log(harness.raw_ledger()[: cp.tree_size], cp.note, NoteVerifier.from_key(harness.app.ledger_verifier_key),
               strict=True)


def test_unlinking_one_patient_leaves_the_other_and_the_ledger_verifies(harness):
    doctor, gone, kept = harness.org(), harness.patient(), harness.patient()
    grant(gone, doctor, ["lab"])
    grant(kept, doctor, ["lab"])
    old, kept_pseudonym = harness.pseudonym(gone.id), harness.pseudonym(kept.id)
    kept_listed = harness.sql("SELECT seq FROM ledger_subjects WHERE pseudonym = :p", p=kept_pseudonym)
    done = unlink(harness, gone.id)
    assert done.returncode == 0, done.stderr
    assert harness.pseudonym(gone.id) is None
    assert not harness.sql("SELECT seq FROM ledger_subjects WHERE pseudonym = :p", p=old)
    assert harness.pseudonym(kept.id) == kept_pseudonym
    assert harness.sql("SELECT seq FROM ledger_subjects WHERE pseudonym = :p", p=kept_pseudonym) == kept_listed
    [entry] = [e for e in harness.entries() if e["kind"] == "patient.unlinked"][-1:]
    assert entry["actor"] == "operator" and "patient" not in entry and gone.id not in str(entry)
    assert not history(gone)  # nothing in the ledger leads to them any more
    verified(harness)


def test_unlinking_again_is_one_line_and_changes_nothing(harness):
    patient = harness.patient()
    assert unlink(harness, patient.id).returncode == 0
    before = len(harness.raw_ledger())
    done = unlink(harness, patient.id)
    assert done.returncode == 1 and "nothing to unlink" in done.stderr and len(done.stderr.splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert not [e for e in harness.entries() if e["kind"] == "patient.unlinked" and e["seq"] >= before]
