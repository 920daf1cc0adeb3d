"""The client proves a disclosure: its ledger entry names the package, and a signed checkpoint
includes the entry. Any tampering with the entry, the package, the proof or the checkpoint fails."""

from __future__ import annotations

import dataclasses
import json

import pytest
from harness import grant

from consentry.ledger.canonical import canonical_json
from consentry.ledger.checkpoint import NoteSigner
from consentry.services.cli.demo import discharge_records
from consentry.services.crypto.share import SharePackage
from consentry.services.sdk.client import DisclosureNotProven, FetchedRecord
from consentry.v1 import audit_pb2, exchange_pb2, registry_pb2

FAMILY_DOCTOR = registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR


@pytest.fixture(scope="module")
def story(harness):
    hospital, patient = harness.org(), harness.patient()
    doctor = harness.org(kind=FAMILY_DOCTOR, practitioner="dr-chen")
    for title, body in discharge_records(patient.id).items():
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=body, category="mental-health" if title == "psychiatric note" else ""))
    # Lab is left out, so a fetch has a withheld outcome to prove besides the two shared ones (the
    # psychiatric note is sensitive: withheld without being named, so there is nothing to prove).
    grant(patient, doctor, ["discharge-summary", "medication"])
    return hospital, patient, doctor


def fetch(harness, doctor, patient, **kw):
    return list(doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                    service_key=harness.service_key, **kw))


def test_fetch_with_proof_proves_every_outcome(harness, story):
    hospital, patient, doctor = story
    got = fetch(harness, doctor, patient, prove=True, ledger_key=harness.app.ledger_verifier_key,
                ledger_origin=harness.settings.ledger_origin)
    assert len(got) == 3 and sum(r.shared for r in got) == 2
    for item in got:
        assert item.proof is not None and item.proof.seq == item.ledger_seq < item.proof.tree_size
        assert item.proof.entry["record"] == item.record_id
        assert item.proof.entry["allowed"] is item.shared
        assert "consentry.local/ledger" in item.proof.checkpoint_note
        assert patient.id not in item.ledger_entry.decode()  # only the pseudonym


def test_a_later_verification_and_an_institution_refresh(harness, story):
    hospital, patient, doctor = story
    items = fetch(harness, doctor, patient)
    # The latest stored checkpoint (almost surely) predates this fetch; the client then asks for
    # a fresh one, which institutions may do.
    for item in items:
        proof = doctor.client.verify_disclosure(item, harness.app.ledger_verifier_key)
        assert proof.tree_size > item.ledger_seq
    # Asking again without new entries re-signs nothing.
    one = doctor.client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint
    two = doctor.client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint
    assert one.note == two.note


def _shared(harness, doctor, patient) -> FetchedRecord:
    return next(r for r in fetch(harness, doctor, patient) if r.shared)


def _reentry(item: FetchedRecord, **changes) -> FetchedRecord:
    entry = {**json.loads(item.ledger_entry), **changes}
    return dataclasses.replace(item, ledger_entry=canonical_json(entry))


def test_a_tampered_or_foreign_entry_is_rejected(harness, story):
    hospital, patient, doctor = story
    item = _shared(harness, doctor, patient)
    key = harness.app.ledger_verifier_key
    other = _shared(harness, doctor, patient)
    bad = [
        dataclasses.replace(item, ledger_entry=b""),
        dataclasses.replace(item, ledger_entry=item.ledger_entry.replace(b'"allowed":true', b'"allowed": true')),
        dataclasses.replace(item, ledger_entry=other.ledger_entry),  # another fetch's entry
        _reentry(item, header_hash="00" * 32),
        _reentry(item, ciphertext_hash=json.loads(other.ledger_entry)["ciphertext_hash"]),
        _reentry(item, actor="org:someone-else"),
        _reentry(item, time="2020-01-01T00:00:00.000000Z"),  # consistent, canonical, but not in the ledger
        _reentry(item, reasons=["forged"]),
    ]
    for forged in bad:
        with pytest.raises(DisclosureNotProven):
            doctor.client.verify_disclosure(forged, key)
    # A package that is not the one the entry names.
    swapped = dataclasses.replace(item, package=SharePackage(other.package.header, item.package.ciphertext,
                                                             item.package.sealed_key, item.package.signature))
    with pytest.raises(DisclosureNotProven):
        doctor.client.verify_disclosure(swapped, key)
    # A withheld outcome passed off as a disclosure.
    withheld = next(r for r in fetch(harness, doctor, patient) if not r.shared)
    with pytest.raises(DisclosureNotProven):
        doctor.client.verify_disclosure(dataclasses.replace(withheld, ledger_entry=item.ledger_entry), key)
    assert doctor.client.verify_disclosure(item, key).seq == item.ledger_seq  # the real one passes


class _Tampering:
    """Wraps the audit stub and corrupts one kind of answer."""

    def __init__(self, stub, *, proof=None, checkpoint=None):
        self._stub, self._proof, self._checkpoint = stub, proof, checkpoint

    def __getattr__(self, name):  # every other call (e.g. GetConsistencyProof) goes through as it is
        return getattr(self._stub, name)

    def GetInclusionProof(self, request, **kw):
        reply = self._stub.GetInclusionProof(request, **kw)
        return self._proof(reply) if self._proof else reply

    def GetCheckpoint(self, request, **kw):
        reply = self._stub.GetCheckpoint(request, **kw)
        return self._checkpoint(reply) if self._checkpoint else reply


def _flip_hash(reply):
    hashes = list(reply.hashes)
    hashes[0] = bytes([hashes[0][0] ^ 1]) + hashes[0][1:]
    return audit_pb2.GetInclusionProofResponse(seq=reply.seq, tree_size=reply.tree_size,
                                               leaf_hash=reply.leaf_hash, hashes=hashes)


def _drop_hash(reply):
    return audit_pb2.GetInclusionProofResponse(seq=reply.seq, tree_size=reply.tree_size,
                                               leaf_hash=reply.leaf_hash, hashes=list(reply.hashes)[:-1])


def _edit_note(reply):
    origin, size, root, rest = reply.checkpoint.note.split("\n", 3)
    note = f"{origin}\n{size}\n{'A' * 43}=\n{rest}"
    return audit_pb2.GetCheckpointResponse(checkpoint=audit_pb2.Checkpoint(
        note=note, tree_size=reply.checkpoint.tree_size, root_hash=reply.checkpoint.root_hash))


def _self_signed(reply):
    """A checkpoint with the right origin and size, signed by a key that is not the ledger's."""
    from consentry.ledger.checkpoint import sign_checkpoint

    origin, size, _rest = reply.checkpoint.note.split("\n", 2)
    forger = NoteSigner.generate(origin)
    note = sign_checkpoint(forger, origin, int(size), bytes(32))
    return audit_pb2.GetCheckpointResponse(checkpoint=audit_pb2.Checkpoint(note=note, tree_size=int(size)))


@pytest.mark.parametrize("tamper", [{"proof": _flip_hash}, {"proof": _drop_hash},
                                    {"checkpoint": _edit_note}, {"checkpoint": _self_signed}],
                         ids=["proof-node-flipped", "proof-truncated", "checkpoint-edited", "checkpoint-forged"])
def test_a_tampered_proof_or_checkpoint_is_rejected(harness, story, tamper, monkeypatch):
    hospital, patient, doctor = story
    item = _shared(harness, doctor, patient)
    doctor.client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True))  # make sure a proof exists
    monkeypatch.setattr(doctor.client, "audit", _Tampering(doctor.client.audit, **tamper))
    with pytest.raises(DisclosureNotProven):
        doctor.client.verify_disclosure(item, harness.app.ledger_verifier_key)


def test_a_wrong_ledger_key_or_origin_is_rejected(harness, story):
    hospital, patient, doctor = story
    item = _shared(harness, doctor, patient)
    other = NoteSigner.generate(harness.settings.ledger_origin).verifier.to_key()
    with pytest.raises(DisclosureNotProven):
        doctor.client.verify_disclosure(item, other)
    with pytest.raises(DisclosureNotProven):
        doctor.client.verify_disclosure(item, harness.app.ledger_verifier_key, origin="example.org/other-log")
    with pytest.raises(ValueError, match="prove=True needs ledger_key"):
        fetch(harness, doctor, patient, prove=True)  # no pinned key, no proof
