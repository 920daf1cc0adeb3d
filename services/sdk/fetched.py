"""One FetchRecords response, checked and opened: a record the client can use, or an error.

A shared record is yielded only when its package is genuine (the pinned service key signed it),
addressed to this institution and key, and answers *this* fetch: the purpose asked for, the
patient named, the nonce sent, an issue time within the window around the client's clock, and a
share id never received before. Its record id and category come from the signed header, never
from the response's unsigned metadata (whose record id must agree).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nacl.public import PrivateKey

from consentry.services.crypto.errors import ReplayedShare, ResponseMismatch
from consentry.services.crypto.share import Expected, ServiceKeys, SharePackage, open_share
from consentry.services.crypto.share_header import parse_time
from consentry.services.sdk.seen_shares import SeenShares
from consentry.v1 import exchange_pb2

# A record of this category is shared with its redisclosure notice (42 CFR 2.32), or refused.
SUBSTANCE_USE = "substance-use"


@dataclass(frozen=True)
class DisclosureProof:
    """A disclosure (or withholding) shown to be entry ``seq`` of a signed checkpoint's tree."""

    seq: int
    entry: dict
    checkpoint_note: str
    tree_size: int
    root_hash: bytes


@dataclass(frozen=True)
class FetchedRecord:
    """One fetch outcome. `body` is the decrypted record (None when withheld).

    For a shared record, `record_id` and `category` are the signed header's; for a withheld one
    they are the response's (a withholding carries no package; ``prove=True`` checks it against
    the ledger)."""

    record_id: str
    category: str
    ledger_seq: int
    body: bytes | None = None
    header: dict = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    erased: bool = False
    # What a disclosure proof needs: the ledger entry's exact bytes and the package as received.
    ledger_entry: bytes = field(default=b"", repr=False)
    package: SharePackage | None = field(default=None, repr=False)
    proof: DisclosureProof | None = None  # set by fetch(prove=True)

    @property
    def shared(self) -> bool:
        return self.body is not None

    @property
    def redisclosure(self) -> dict | None:
        """For a substance-use record (42 CFR Part 2): the notice 42 CFR 2.32 requires, to keep with
        the record, and the scope of the consents it was disclosed under, as the signed header
        carries them (docs/share-format.md, "Version 3"); None otherwise."""
        return self.header.get("redisclosure")

    def resource(self) -> dict:
        if self.body is None:
            raise ValueError("this record was withheld")
        return json.loads(self.body)


@dataclass(frozen=True)
class Asked:
    """What one fetch asked for, and how the client judges the packages that answer it."""

    purpose: str
    patient_ref: str
    nonce: bytes
    categories: tuple[str, ...]
    record_ids: tuple[str, ...]
    clock: Callable[[], datetime]
    window: timedelta

    def __repr__(self) -> str:  # the patient reference is an identifier: keep it out of logs
        return f"Asked(purpose={self.purpose!r})"


@dataclass(frozen=True)
class Recipient:
    """Who the client is: its institution id (as registered, no "org:" prefix) and keys."""

    institution_id: str
    key: PrivateKey
    service_key: ServiceKeys  # the pinned key, or the chain followed from it
    seen: SeenShares


def open_response(item: exchange_pb2.FetchRecordsResponse, asked: Asked, me: Recipient) -> FetchedRecord:
    """The outcome in `item`, or a CryptoError (see crypto/errors.py) if its package does not check out."""
    if item.HasField("withheld"):
        w = item.withheld
        return FetchedRecord(w.record_id, w.category, item.ledger_seq, reasons=tuple(w.reasons), erased=w.erased,
                             ledger_entry=item.ledger_entry)
    p = item.shared.package
    package = SharePackage(header=p.header, ciphertext=p.ciphertext, sealed_key=p.sealed_key, signature=p.signature)
    expected = Expected(purpose=asked.purpose, patient_ref=asked.patient_ref, fetch_nonce=asked.nonce,
                        now=asked.clock(), window=asked.window)
    opened = open_share(package, service_verify_key=me.service_key, recipient_private_key=me.key,
                        expected_recipient=me.institution_id, expected=expected)
    header = opened.header
    _check_matches(header, item, asked)
    if not me.seen.first_sight(header["share_id"], parse_time(header["time"])):
        raise ReplayedShare(f"share id {header['share_id']}")
    return FetchedRecord(header["record_id"], header["category"], item.ledger_seq, body=opened.body, header=header,
                         ledger_entry=item.ledger_entry, package=package)


def _check_matches(header: dict, item: exchange_pb2.FetchRecordsResponse, asked: Asked) -> None:
    if header["ledger_seq"] != item.ledger_seq or header["record_id"] != item.shared.record.record_id:
        raise ResponseMismatch("the header names another record or ledger entry than its response")
    if asked.categories and header["category"] not in asked.categories:
        raise ResponseMismatch("the record's category is not one the fetch asked for")
    if asked.record_ids and header["record_id"] not in asked.record_ids:
        raise ResponseMismatch("the record is not one the fetch asked for")
    if header["category"] == SUBSTANCE_USE and header["redisclosure"] is None:
        raise ResponseMismatch("a substance-use record came without its 42 CFR 2.32 redisclosure notice")
