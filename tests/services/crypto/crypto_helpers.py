"""Helpers shared by the crypto tests (a unique module name, so it cannot clash with another conftest)."""

from __future__ import annotations

from datetime import UTC, datetime

import nacl.public
import nacl.signing

from consentry.services.crypto.share import Expected, SharePackage, build_share, recipient_key_id

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
PATIENT = "P-1"
FETCH_NONCE = bytes(range(32))


class Institution:
    """A recipient: its institution id as registered (share headers carry it without "org:")."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = nacl.public.PrivateKey.generate()
        self.public = bytes(self.key.public_key)
        self.key_id = recipient_key_id(self.public)


def make_package(
    service: nacl.signing.SigningKey, to: Institution, body: bytes = b'{"resourceType":"Basic"}', **kw
) -> SharePackage:
    args = {
        "record_id": "rec-42",
        "category": "lab",
        "recipient": to.name,
        "recipient_key_id": to.key_id,
        "recipient_public_key": to.public,
        "purpose": "TREAT",
        "patient_ref": PATIENT,
        "fetch_nonce": FETCH_NONCE,
        "ledger_seq": 17,
        "obligations": ["redact"],
        "signer": service,
        "now": NOW,
    }
    args.update(kw)
    return build_share(body, **args)


def expected(**kw) -> Expected:
    """The fetch `make_package`'s packages answer, as its recipient knows it."""
    return Expected(**{"purpose": "TREAT", "patient_ref": PATIENT, "fetch_nonce": FETCH_NONCE, "now": NOW, **kw})
