"""Consent terms from flags, and consents and access requests as one line each.

Shared by the patient's grant, narrow and approve and the institution's access request: the same
flags say the same terms; the server validates them (docs/consent.md), the CLI does not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from consentry.v1 import common_pb2, consent_pb2

KINDS = {"treatment": consent_pb2.CONSENT_KIND_TREATMENT, "research": consent_pb2.CONSENT_KIND_RESEARCH}

Kind = typer.Option("treatment", "--kind", help="treatment or research")
Categories = typer.Option(..., "--category", help="A record category (repeat for several)")
Purposes = typer.Option(..., "--purpose", help="A purpose of use, e.g. TREAT (repeat for several)")
Days = typer.Option(None, "--days", min=1, help="Valid for this many days from now [default: no end]")
Excepted = typer.Option([], "--except", help="A category excepted from the others (repeat for several)")


def terms(kind: str, categories: list[str], purposes: list[str], days: int | None,
          excepted: list[str]) -> consent_pb2.ConsentTerms:
    if kind not in KINDS:
        raise typer.BadParameter(f"--kind must be one of {', '.join(KINDS)}")
    validity = common_pb2.Period()
    if days is not None:
        validity.end.CopyFrom(days_from_now(days))
    return consent_pb2.ConsentTerms(kind=KINDS[kind], categories=categories, purposes=purposes,
                                    validity=validity, excepted_categories=excepted)


def narrowed(current: consent_pb2.ConsentTerms, categories: list[str], purposes: list[str], days: int | None,
             excepted: list[str]) -> consent_pb2.ConsentTerms:
    """Terms within `current`: its kind, data period and, without --days, its end; narrowing must
    not widen, and an unset end would (the server refuses that)."""
    terms = consent_pb2.ConsentTerms(kind=current.kind, categories=categories or current.categories,
                                     purposes=purposes or current.purposes, data_period=current.data_period,
                                     validity=current.validity,
                                     excepted_categories=excepted or current.excepted_categories)
    if days is not None:
        terms.validity.end.CopyFrom(days_from_now(days))
    return terms


def consent_terms(c: consent_pb2.Consent) -> consent_pb2.ConsentTerms:
    return consent_pb2.ConsentTerms(kind=c.kind, categories=c.categories, purposes=c.purposes,
                                    data_period=c.data_period, validity=c.validity,
                                    excepted_categories=c.excepted_categories)


def days_from_now(days: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + timedelta(days=days))
    return stamp


def until(message: Message, field: str) -> str:
    """A time field that may be unset: its time, or "no end"."""
    if not message.HasField(field):
        return "no end"
    return getattr(message, field).ToDatetime(UTC).isoformat(timespec="seconds")


def _terms_text(t: consent_pb2.ConsentTerms) -> str:
    excepted = f" except {','.join(t.excepted_categories)}" if t.excepted_categories else ""
    return f"{','.join(t.categories)}{excepted} for {','.join(t.purposes)} until {until(t.validity, 'end')}"


def consent_line(c: consent_pb2.Consent) -> str:
    status = consent_pb2.ConsentStatus.Name(c.status).removeprefix("CONSENT_STATUS_").lower()
    kind = consent_pb2.ConsentKind.Name(c.kind).removeprefix("CONSENT_KIND_").lower()
    terms = consent_terms(c)
    subject = f"\tsubject {c.subject_id}" if c.subject_id else ""
    notice = f"\tnotice {c.notice.notice_id} v{c.notice.version}" if c.HasField("notice") else ""
    return f"{c.consent_id}\tv{c.version}\t{status}\t{kind}\t{c.grantee}\t{_terms_text(terms)}{subject}{notice}"


def request_line(r: consent_pb2.AccessRequest) -> str:
    status = consent_pb2.AccessRequestStatus.Name(r.status).removeprefix("ACCESS_REQUEST_STATUS_").lower()
    consent = f"\tconsent {r.consent_id}" if r.consent_id else ""
    return f"{r.request_id}\t{status}\t{r.requester}\t{r.patient_id}\t{_terms_text(r.terms)}\t{r.reason}{consent}"
