"""Keyed patient pseudonyms: entries never carry raw patient identifiers.

HMAC-SHA256 under a service secret: the same patient always maps to the same
pseudonym (so an auditor can follow one patient's history), but without the
key nobody can test a guessed identifier against the ledger.  The prefix
separates this use of the key from any other HMAC made with it.
"""

from __future__ import annotations

import hashlib
import hmac

_DOMAIN = b"consentry/ledger/patient-pseudonym/v1\x00"
MIN_KEY_BYTES = 32


def patient_pseudonym(key: bytes, patient_id: str) -> str:
    """Hex HMAC-SHA256(key, domain || UTF-8 patient id)."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the pseudonym key must be at least {MIN_KEY_BYTES} bytes")
    if not patient_id:
        raise ValueError("the patient id is empty")
    return hmac.new(key, _DOMAIN + patient_id.encode("utf-8"), hashlib.sha256).hexdigest()
