"""The privacy notice a person is shown before consenting, and the reference their request sends.

A grant, an import and an access request each name the notice version the patient was shown
(docs/notices.md). The CLI fetches that version, recomputes its content hash itself (SHA-256 of
the RFC 8785 JSON of the notice) so that a server cannot show one text and bind the consent to
another, prints the text, and only then sends the reference.
"""

from __future__ import annotations

import hashlib

import typer

from consentry.ledger.canonical import canonical_json
from consentry.services.sdk.client import Client
from consentry.v1 import common_pb2
from consentry.v1 import registry_pb2 as pb

FORMAT = "consentry-privacy-notice/1"
LANGUAGES = ("en", "zh-Hans")
PARTS = {"recipient_legal_name": "Recipient", "recipient_contact": "Contact",
         "purpose_description": "Purpose", "handling_method": "How the records are handled",
         "necessity_and_impact": "Why it is needed and what follows", "retention": "How long they are kept",
         "how_to_withdraw": "How to withdraw"}

Notice = typer.Option(..., "--notice", help="The privacy notice shown to the patient: ID or ID:VERSION "
                                            "[default version: the latest]")
Lang = typer.Option("en", "--lang", help="The language the notice is shown in: en or zh-Hans")


def parse(spec: str) -> tuple[str, int]:
    """`ID` or `ID:VERSION` (the latest when no version)."""
    notice_id, _, version = spec.partition(":")
    if version and not (version.isdigit() and int(version) > 0):
        raise typer.BadParameter("--notice must read ID or ID:VERSION with VERSION a positive number")
    return notice_id, int(version or 0)


def content_hash(n: pb.PrivacyNotice) -> bytes:
    """The notice's content hash as docs/notices.md defines it, from the message alone."""
    texts = {t.language: t for t in n.texts}
    document = {"format": FORMAT, "notice_id": n.notice_id, "version": n.version, "institution_id": n.institution_id,
                "purposes": sorted(n.purposes), "categories": sorted(n.categories),
                "texts": [{"language": lang, **{part: getattr(texts[lang], part) for part in PARTS}}
                          for lang in LANGUAGES if lang in texts]}
    return hashlib.sha256(canonical_json(document)).digest()


def fetch(client: Client, notice_id: str, version: int) -> tuple[pb.PrivacyNotice, common_pb2.NoticeRef]:
    """The notice version, checked: its reference must name the content the CLI hashed itself."""
    reply = client.registry.GetPrivacyNotice(pb.GetPrivacyNoticeRequest(notice_id=notice_id, version=version))
    notice, ref = reply.notice, reply.ref
    computed = content_hash(notice)
    if (notice.content_hash, ref.content_hash) != (computed, computed) or \
            (ref.notice_id, ref.version) != (notice.notice_id, notice.version):
        raise typer.TyperException(
            f"the server's privacy notice {notice_id} v{notice.version} does not match its content hash "
            f"(computed {computed.hex()}): not sent")
    return notice, ref


def lines(n: pb.PrivacyNotice, lang: str) -> list[str]:
    """The notice as the person reads it, in `lang`, with what a consent under it may cover."""
    text = next((t for t in n.texts if t.language == lang), None)
    if text is None:
        raise typer.BadParameter(f"--lang must be one of {', '.join(LANGUAGES)}")
    return [f"privacy notice {n.notice_id} v{n.version} of {n.institution_id} ({lang})",
            *(f"{label}: {getattr(text, part)}" for part, label in PARTS.items()),
            f"Purposes: {', '.join(n.purposes)}", f"Categories: {', '.join(n.categories)}",
            f"Content hash: {n.content_hash.hex()}"]


def shown(client: Client, spec: str, lang: str) -> common_pb2.NoticeRef:
    """Fetches and checks the notice, prints it, and returns the reference the request sends."""
    if lang not in LANGUAGES:
        raise typer.BadParameter(f"--lang must be one of {', '.join(LANGUAGES)}")
    notice, ref = fetch(client, *parse(spec))
    for line in lines(notice, lang):
        typer.echo(line)
    return ref


def show_named(client: Client, ref: common_pb2.NoticeRef, lang: str) -> None:
    """Prints the notice version a request names, refusing one whose content is not what it names."""
    if lang not in LANGUAGES:
        raise typer.BadParameter(f"--lang must be one of {', '.join(LANGUAGES)}")
    notice, _ = fetch(client, ref.notice_id, ref.version)
    if notice.content_hash != ref.content_hash:
        raise typer.TyperException(f"privacy notice {ref.notice_id} v{ref.version} is not the content the request "
                                   "names: not approved")
    for line in lines(notice, lang):
        typer.echo(line)
