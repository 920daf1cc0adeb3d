"""Retention over the real service on both backends: entries past their ceiling are redacted to
tombstones, never before their floor, the ledger still verifies; the shipped rules meet the legal
floors; `consentry ledger retention` counts and applies. Time is moved through the service's clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager

import grpc
import pytest
from harness import grant

from consentry.ledger import tombstone_commitment
from consentry.ledger.checkpoint import NoteVerifier
from consentry.ledger.verification import verify_log
from consentry.services import clock
from consentry.services.domain.retention import DAY_NS, RetentionRules, Rule, sweep
from consentry.v1 import audit_pb2

CONSENTRY = [sys.executable, "-m", "consentry.services.cli.main"]
THREE_YEARS, SIX_YEARS = 1096, 2192


@contextmanager
def days_later(days: float):
    """The service's clock moved forward (only around the job: tokens use the real time)."""
    real = clock.set_source(clock.now_ns)
    clock.set_source(lambda: real() + int(days * DAY_NS))
    try:
        yield
    finally:
        clock.set_source(real)


def verified(harness) -> list[bytes]:
    auditor = harness.auditor()
    cp = auditor.client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint
    raw = harness.raw_ledger()[: cp.tree_size]
    verify_log(raw, cp.note, NoteVerifier.from_key(harness.app.ledger_verifier_key), strict=True)
    return raw


def refused_fetch(harness, org, patient_id: str) -> int:
    """A refused fetch (no consent): one call.refused entry; returns its seq."""
    before = len(harness.raw_ledger())
    with pytest.raises(grpc.RpcError) as err:
        list(org.client.fetch(patient_id, "TREAT", recipient_key=org.encryption, service_key=harness.service_key))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    return next(i for i, e in enumerate(harness.raw_ledger()[before:], before) if b'"kind":"call.refused"' in e)


def test_the_shipped_rules_meet_the_legal_floors():
    rules = RetentionRules.load()
    assert rules.default.floor_days >= THREE_YEARS  # PIPL 56
    for kind in ("access.decision", "consent.granted", "consent.revoked", "record.deposited", "record.erased"):
        assert rules.rule(kind).floor_days >= SIX_YEARS  # HIPAA accounting and documentation
    for rule in (rules.default, *rules.kinds.values()):
        assert rule.ceiling_days is None or rule.ceiling_days >= rule.floor_days >= THREE_YEARS


@pytest.mark.parametrize(("body", "why"), [
    ({"default": {"floor_days": 1096, "ceiling_days": 100}}, "ceiling_days must be null or at least floor_days"),
    ({"default": {"floor_days": -1, "ceiling_days": None}}, "floor_days must be a whole number"),
    ({"default": {"floor_days": 1, "ceiling_days": None},
      "kinds": {"ledger.redacted": {"floor_days": 1, "ceiling_days": 2}}}, "never redacted"),
])
def test_rules_that_could_redact_too_early_are_refused(tmp_path, body, why):
    path = tmp_path / "retention.json"
    path.write_text(json.dumps(body))
    with pytest.raises(ValueError, match=why):
        RetentionRules.load(path)


def test_an_entry_between_its_floor_and_ceiling_is_kept():
    rule = Rule(floor_days=SIX_YEARS, ceiling_days=SIX_YEARS)
    assert not rule.due((SIX_YEARS - 1) * DAY_NS) and rule.due(SIX_YEARS * DAY_NS)
    assert not Rule(floor_days=THREE_YEARS, ceiling_days=None).due(100 * 365 * DAY_NS)


def test_the_job_redacts_past_the_ceiling_never_before_the_floor(harness):
    doctor, patient = harness.org(), harness.patient()
    refused = refused_fetch(harness, doctor, patient.id)
    granted = grant(patient, doctor, ["lab"])
    history = [e for e in harness.raw_ledger() if b'"kind":"consent.granted"' in e]
    granted_seq = json.loads(history[-1])["seq"]
    assert granted.consent_id
    rules = RetentionRules.load()
    trail, db = harness.app.trail, harness.app.db

    with days_later(THREE_YEARS + 10):  # past the floor of call.refused, short of its ceiling
        early = sweep(db, trail, rules, clock.now_ns(), apply=True)
    assert early.redacted == 0 and tombstone_commitment(harness.raw_ledger()[refused]) is None

    with days_later(SIX_YEARS + 10):  # call.refused is past its ceiling; consent.granted has none
        counted = sweep(db, trail, rules, clock.now_ns(), apply=False)
    assert counted.due["call.refused"] >= 1 and "consent.granted" not in counted.due
    assert counted.redacted == 0 and tombstone_commitment(harness.raw_ledger()[refused]) is None
    with days_later(SIX_YEARS + 10):
        done = sweep(db, trail, rules, clock.now_ns(), apply=True)
    raw = verified(harness)
    assert tombstone_commitment(raw[refused]) is not None
    assert tombstone_commitment(raw[granted_seq]) is None
    [redaction] = [json.loads(raw[s]) for s in done.redaction_seqs[-1:]]
    assert redaction["kind"] == "ledger.redacted" and redaction["reason"] == "retention"
    assert refused in redaction["seqs"] and redaction["actor"] == "operator"
    # Nothing is redacted twice, and the redactions themselves never are.
    with days_later(100 * 365):
        again = sweep(db, trail, rules, clock.now_ns(), apply=True)
    raw = verified(harness)
    assert refused not in {s for r in again.redaction_seqs for s in json.loads(raw[r])["seqs"]}
    assert all(tombstone_commitment(raw[s]) is None for s in done.redaction_seqs + again.redaction_seqs)


def test_the_retention_command_counts_then_applies(harness, tmp_path):
    doctor, patient = harness.org(), harness.patient()
    refused = refused_fetch(harness, doctor, patient.id)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"default": {"floor_days": 0, "ceiling_days": None},
                                 "kinds": {"call.refused": {"floor_days": 0, "ceiling_days": 0}}}))
    env = {**os.environ, "CONSENTRY_DATABASE_URL": harness.settings.database_url}
    args = [*CONSENTRY, "ledger", "retention", "--data-dir", str(harness.settings.data_dir), "--rules", str(rules)]
    dry = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert "call.refused:" in dry.stdout and "run with --apply" in dry.stdout
    assert tombstone_commitment(harness.raw_ledger()[refused]) is None
    applied = subprocess.run([*args, "--apply"], capture_output=True, text=True, env=env, timeout=120)
    assert applied.returncode == 0, applied.stderr
    assert "redacted" in applied.stdout
    assert tombstone_commitment(verified(harness)[refused]) is not None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"default": {"floor_days": 10, "ceiling_days": 1}}))
    refused_run = subprocess.run([*args[:-1], str(bad)], capture_output=True, text=True, env=env, timeout=120)
    assert refused_run.returncode == 2 and "ceiling_days" in refused_run.stderr
