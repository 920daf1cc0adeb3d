"""Evidence that a patient, or their proxy, made a consent change: the call's signed token and
the request's exact bytes, kept with what the change was about.

The token binds the method and SHA-256 of the request bytes (`req`) and is signed by the
signer's registered identity key; the change's ledger entry names the token by its SHA-256
(`authorization`). So anyone holding the evidence, the ledger entry and the signer's public key
can check offline that the signer asked for exactly this change, and that the ledger records
that request, not one the operator or the database made up (docs/identity.md, "Consent
evidence"; the check is `consentry.services.sdk.consent_evidence.verify_consent_evidence`).

Kept for every change a patient signs: GrantConsent, ImportConsent, NarrowConsent,
RevokeConsent, ApproveAccessRequest, DeclineAccessRequest, AddProxy and RemoveProxy. A change
the service makes on no one's behalf (a consent lapsing) has no signer and no evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.identity.principals import current_principal
from consentry.services.identity.signed_calls import current_signed_call
from consentry.services.store.models import ConsentEvidence


@dataclass(frozen=True)
class Subject:
    """What a signed change was about: a consent version, an access request, a proxy."""

    consent_id: str | None = None
    version: int | None = None
    request_id: str | None = None
    proxy_id: str | None = None


def authorization() -> str | None:
    """The ledger entry's `authorization` for the change being made: SHA-256 (hex) of the call's
    token. None outside a call the interceptor authenticated (no signer to name)."""
    call = current_signed_call()
    return call.authorization if call is not None else None


def keep(s: Session, seq: int, patient_id: str, subject: Subject) -> None:
    """Keeps the call's token and request bytes as the evidence of the change ledgered at `seq`.

    One call is one row (its token is single-use): a call that ledgers two entries (an approval:
    the request approved, then the consent granted) adds to the row, which points at the last."""
    call = current_signed_call()
    if call is None:
        return
    row = s.get(ConsentEvidence, call.authorization)
    if row is None:
        row = ConsentEvidence(authorization=call.authorization, patient_id=patient_id, method=call.method,
                              signer=current_principal().id, key_id=call.key_id, token=call.token,
                              request=call.request, created_ns=clock.now_ns())
        s.add(row)
    row.ledger_seq = seq
    for field in fields(subject):
        value = getattr(subject, field.name)
        if value is not None:
            setattr(row, field.name, value)
