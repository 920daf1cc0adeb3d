"""Privacy notices: what a patient is shown before consenting, and the proof of which one.

An institution (or the operator for it) publishes a notice — the recipient's legal name and
contact, purpose, handling method, the categories and purposes it may cover, necessity and
impact, retention, how to withdraw — in 简体中文 and English. A published version never changes:
its canonical content (RFC 8785 JSON of `document`) is hashed, and a consent is granted only
under the latest version of one of its grantee's notices, named by id, version and that hash,
whose purposes and categories cover the terms. The patient's signed grant carries the hash, so
what they were shown is fixed by their own signature (docs/notices.md).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consentry.ledger.canonical import canonical_json
from consentry.services import clock
from consentry.services.domain.validation import BROAD_CATEGORY, UUID, Violations
from consentry.services.errors import FailedPrecondition, NotFound
from consentry.services.identity.principals import Principal
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import Institution, PrivacyNotice
from consentry.v1 import common_pb2

LANGUAGES = ("en", "zh-Hans")
PARTS = ("recipient_legal_name", "recipient_contact", "purpose_description", "handling_method",
         "necessity_and_impact", "retention", "how_to_withdraw")
MAX_PART_CHARS = 4000
FORMAT = "consentry-privacy-notice/1"
NO_NOTICE = "no privacy notice with this id"


@dataclass(frozen=True)
class NoticeBinding:
    """A notice version as a consent names it."""

    notice_id: str
    version: int
    sha256: str  # hex

    @classmethod
    def of(cls, row: PrivacyNotice) -> NoticeBinding:
        return cls(row.notice_id, row.version, row.content_hash)


def parse_ref(v: Violations, field: str, ref: common_pb2.NoticeRef, present: bool) -> NoticeBinding | None:
    """The notice a request names, each missing or malformed part a violation; None if any."""
    if not present:
        v.add(field, "must name the privacy notice shown to the patient (notice_id, version, content_hash)")
        return None
    ok = v.check(bool(UUID.fullmatch(ref.notice_id)), f"{field}.notice_id", "must be a privacy notice's id")
    ok &= v.check(ref.version > 0, f"{field}.version", "must be the version shown to the patient")
    ok &= v.check(len(ref.content_hash) == 32, f"{field}.content_hash",
                  "must be the 32-byte SHA-256 of the notice version shown to the patient")
    return NoticeBinding(ref.notice_id, ref.version, ref.content_hash.hex()) if ok else None


def ref_pb(binding: NoticeBinding | None) -> common_pb2.NoticeRef | None:
    if binding is None:
        return None
    return common_pb2.NoticeRef(notice_id=binding.notice_id, version=binding.version,
                                content_hash=bytes.fromhex(binding.sha256))


def content_hash(document: dict) -> str:
    """SHA-256 (hex) of the notice's canonical JSON (RFC 8785)."""
    return hashlib.sha256(canonical_json(document)).hexdigest()


def publish(s: Session, trail: AuditTrail, actor: Principal, institution_id: str, notice_id: str,
            purposes: list[str], categories: list[str], texts: dict[str, dict[str, str]]) -> PrivacyNotice:
    """Publishes a new notice (empty `notice_id`) or the next version of the institution's
    notice, ledgered by id, version and hash only: its text is the institution's, not the ledger's."""
    if s.get(Institution, institution_id) is None:
        raise NotFound("no institution with this id is registered")
    version = 1
    if notice_id:
        current = latest(s, notice_id)
        if current.institution_id != institution_id:
            raise NotFound(NO_NOTICE)
        version = current.version + 1
    notice_id = notice_id or str(uuid.uuid4())
    document = {"format": FORMAT, "notice_id": notice_id, "version": version, "institution_id": institution_id,
                "purposes": purposes, "categories": categories,
                "texts": [{"language": lang, **texts[lang]} for lang in LANGUAGES]}
    row = PrivacyNotice(notice_id=notice_id, version=version, institution_id=institution_id, document=document,
                        content_hash=content_hash(document), created_ns=clock.now_ns())
    s.add(row)
    trail.append(s, "notice.published", actor.id, institution="org:" + institution_id, notice=notice_id,
                 version=version, content_hash=row.content_hash)
    return row


def latest(s: Session, notice_id: str) -> PrivacyNotice:
    row = s.scalars(select(PrivacyNotice).where(PrivacyNotice.notice_id == notice_id)
                    .order_by(PrivacyNotice.version.desc()).limit(1)).first()
    if row is None:
        raise NotFound(NO_NOTICE)
    return row


def version_of(s: Session, notice_id: str, version: int) -> PrivacyNotice:
    """The version (the latest for 0)."""
    row = latest(s, notice_id) if version == 0 else s.get(PrivacyNotice, (notice_id, version))
    if row is None:
        raise NotFound(NO_NOTICE)
    return row


def binding_for(s: Session, ref: NoticeBinding, grantee: str, terms: dict, field: str = "notice") -> NoticeBinding:
    """The notice a consent with `terms` for `grantee` is given under: `ref` as named, checked to
    be the grantee's latest version with this very content, covering every purpose and category.

    INVALID_ARGUMENT names what does not match; FAILED_PRECONDITION when a newer version was
    published since the patient was shown this one (show them the new one)."""
    v = Violations()
    row = s.get(PrivacyNotice, (ref.notice_id, ref.version))
    if row is None or row.institution_id != grantee:
        v.refuse(f"{field}.notice_id", "must name a published privacy notice of the grantee")
    v.check(row.content_hash == ref.sha256, f"{field}.content_hash",
            "must be the SHA-256 of the notice version's content: the patient was shown other content")
    asked = {"purposes": set(terms["purposes"]), "categories": set(terms["categories"]) - {BROAD_CATEGORY}
             | set(terms.get("broad_categories") or ())}
    for name, wanted in asked.items():
        beyond = sorted(wanted - set(row.document[name]))
        v.check(not beyond, f"terms.{name}", f"must be covered by the notice, which does not name {', '.join(beyond)}")
    v.raise_if_any()
    newest = s.scalar(select(func.max(PrivacyNotice.version)).where(PrivacyNotice.notice_id == ref.notice_id))
    if newest != ref.version:
        raise FailedPrecondition("a newer version of the privacy notice is published: show the patient that one")
    return NoticeBinding.of(row)
