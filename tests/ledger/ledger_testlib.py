"""Helpers shared by the ledger tests (importable from spawned processes too)."""

from __future__ import annotations


def sample_entry(i: int) -> dict:
    """A realistic access-decision entry (pseudonymous, no clinical content)."""
    return {
        "time": f"2026-11-25T12:00:{i % 60:02d}Z",
        "kind": "access.decision",
        "actor": f"clinician:hospital-a/u{i % 7}",
        "patient": f"{i % 13:064x}",
        "decision": "allow" if i % 3 else "deny",
        "reasons": [f"consent:c-{i}", "purpose:treatment"],
        "policy": "rev-7",
        "record": {"id": f"rec-{i}", "sha256": f"{i:064x}"},
    }
