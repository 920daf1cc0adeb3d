"""`consentry audit export --format fhir-auditevent`: a fresh checkpoint, the entries it covers,
and the same entries as a FHIR R4 Bundle of AuditEvents that the FHIR models accept and whose
seqs and leaf hashes rebuild the checkpoint's root (docs/ledger.md, "FHIR AuditEvent export")."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3

from cli_helpers import run
from fhir.resources.R4B.bundle import Bundle

from consentry.ledger import parse_checkpoint

DETAIL = "urn:consentry:ledger-entry"


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1, written out here from the RFC so the check depends on nothing of ours."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:])).digest()


def ledger_sizes(data) -> tuple[int, int]:
    """The ledger's size and the largest size a checkpoint was signed for, read from its database."""
    with sqlite3.connect(data / "consentry.db") as db:
        size = db.execute("SELECT count(*) FROM ledger_entries").fetchone()[0]
        signed = db.execute("SELECT coalesce(max(size), 0) FROM ledger_checkpoints").fetchone()[0]
    return size, signed


def institution(data) -> str:
    with sqlite3.connect(data / "consentry.db") as db:
        return db.execute("SELECT institution_id FROM institutions ORDER BY institution_id LIMIT 1").fetchone()[0]


def test_export_writes_audit_events_provable_against_a_fresh_checkpoint(served, tmp_path):
    target, data, _ = served
    assert run("demo", "--target", target, "--data-dir", str(data)).returncode == 0
    # One more entry after the demo's last checkpoint: the export must not lag it.
    added = run("org", "practitioners", "add", "--institution", institution(data), "--practitioner", "dr-late",
                "--role", "physician", "--target", target, "--data-dir", str(data))
    assert added.returncode == 0, added.stderr
    size, signed = ledger_sizes(data)
    assert signed < size
    out = tmp_path / "export"
    result = run("audit", "export", "--target", target, "--data-dir", str(data), "--out", str(out),
                 "--format", "fhir-auditevent", "--state", str(tmp_path / "trusted.note"))
    assert result.returncode == 0, result.stderr
    entries = (out / "entries.jsonl").read_bytes().splitlines()
    checkpoint = parse_checkpoint((out / "checkpoint.note").read_text().split("\n\n")[0] + "\n")
    bundle = json.loads((out / "auditevents.json").read_text())
    Bundle.model_validate(bundle)
    events = [e["resource"] for e in bundle["entry"]]
    # The checkpoint was cut for the export: it covers every entry, not only those signed before.
    assert checkpoint.size == len(entries) == len(events) == size
    assert json.loads(entries[-1])["kind"] == "practitioner.registered"
    leaves = []
    for seq, (event, entry) in enumerate(zip(events, entries, strict=True)):
        [ledger] = [e for e in event["entity"] if e["what"].get("identifier", {}).get("system") == DETAIL]
        got = {d["type"].split("#")[1]: d.get("valueString") or d.get("valueBase64Binary") for d in ledger["detail"]}
        assert int(got["seq"]) == seq and base64.b64decode(got["entry"]) == entry
        assert event["subtype"][0]["code"] == json.loads(entry)["kind"]
        leaves.append(bytes.fromhex(got["leaf-hash"]))
    assert merkle_root(leaves) == checkpoint.root
    verified = run("audit", "verify", str(out), "--key", run("audit", "key", "--data-dir", str(data)).stdout.strip(),
                   "--state", str(tmp_path / "verifier.note"))
    assert verified.returncode == 0, verified.stderr
