"""The values derived from the service secret match the formulas docs/ledger.md and
docs/disclosure.md give, and no two uses of the secret collide."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from consentry.ledger.pseudonym import patient_pseudonym
from consentry.services.crypto import derived

SECRET = bytes(range(32))


def mac(message: bytes, key: bytes = SECRET) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def test_each_value_is_the_documented_hmac():
    assert derived.institution_pseudonym(SECRET, "clinic-1", "P1") == mac(
        b"consentry/ledger/institution-pseudonym/v1\x00clinic-1\x00P1").hex()
    assert derived.subject_id(SECRET, "c-1") == mac(b"consentry/research/subject-id/v1\x00c-1").hex()[:32]
    assert derived.research_pseudonym(SECRET, "s1") == mac(b"consentry/ledger/research-pseudonym/v1\x00s1").hex()
    holder_key = mac(b"consentry/records/content-hash-key/v1\x00clinic-1")
    assert derived.content_hash(SECRET, "clinic-1", b"{}") == mac(b"{}", holder_key).hex()


def test_one_patient_gets_unrelated_values_per_use_and_per_institution():
    values = {
        patient_pseudonym(SECRET, "P1"),
        derived.institution_pseudonym(SECRET, "clinic-1", "P1"),
        derived.institution_pseudonym(SECRET, "clinic-2", "P1"),
        derived.research_pseudonym(SECRET, derived.subject_id(SECRET, "c-1")),
        derived.research_pseudonym(SECRET, derived.subject_id(SECRET, "c-2")),
    }
    assert len(values) == 5


@pytest.mark.parametrize(("secret", "part", "why"), [
    (SECRET[:31], "P1", "the service secret must be at least 32 bytes"),
    (SECRET, "", "a derivation part is empty or holds a NUL byte"),
    (SECRET, "P\x001", "a derivation part is empty or holds a NUL byte"),
])
def test_a_short_secret_or_an_ambiguous_part_is_refused(secret, part, why):
    with pytest.raises(ValueError, match=why):
        derived.institution_pseudonym(secret, "clinic-1", part)
