"""Patient pseudonyms: keyed, stable, domain-separated."""

from __future__ import annotations

import hmac

import pytest

from consentry.ledger.pseudonym import patient_pseudonym


def test_pseudonym_is_keyed_and_stable():
    key = bytes(range(32))
    p = patient_pseudonym(key, "NHS-123")
    assert p == patient_pseudonym(key, "NHS-123") and len(p) == 64
    assert p != patient_pseudonym(bytes(32), "NHS-123")
    assert p != patient_pseudonym(key, "NHS-124")
    assert p != hmac.new(key, b"NHS-123", "sha256").hexdigest()  # domain separated
    assert "NHS-123" not in p
    with pytest.raises(ValueError, match="at least"):
        patient_pseudonym(b"short", "NHS-123")
