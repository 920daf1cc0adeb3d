"""Offline proof that a patient (or their proxy) made a consent change: the check of what
`ConsentService.GetConsentEvidence` returns, against the signer's public key.

    for item in client.consent_evidence(consent_id):
        change = verify_consent_evidence(item, patient_public_key)   # raises EvidenceNotProven
        client.prove_entry(item.ledger_seq, item.ledger_entry, ledger_key)   # and it is in the ledger

Nothing here trusts the service: the token must verify under the key given (which the caller
holds, or has matched against the key id the ledger's enrolment entry names), it must bind
SHA-256 of the request bytes, the request must ask for what the ledger entry records, and the
entry must name SHA-256 of the token. docs/identity.md, "Consent evidence".
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp

from consentry.services.identity import tokens
from consentry.services.sdk.entries import canonical_entry
from consentry.v1 import common_pb2
from consentry.v1 import consent_pb2 as pb

SERVICE = "/consentry.v1.ConsentService/"
# Each signed change: its request message and the kind of the ledger entry the evidence names.
CHANGES: dict[str, tuple[type[Message], str]] = {
    "GrantConsent": (pb.GrantConsentRequest, "consent.granted"),
    "ImportConsent": (pb.ImportConsentRequest, "consent.granted"),
    "ApproveAccessRequest": (pb.ApproveAccessRequestRequest, "consent.granted"),
    "NarrowConsent": (pb.NarrowConsentRequest, "consent.narrowed"),
    "RevokeConsent": (pb.RevokeConsentRequest, "consent.revoked"),
    "DeclineAccessRequest": (pb.DeclineAccessRequestRequest, "consent.request.declined"),
    "AddProxy": (pb.AddProxyRequest, "proxy.named"),
    "RemoveProxy": (pb.RemoveProxyRequest, "proxy.removed"),
}
_KINDS = {pb.CONSENT_KIND_UNSPECIFIED: "treatment", pb.CONSENT_KIND_TREATMENT: "treatment",
          pb.CONSENT_KIND_RESEARCH: "research"}
_SCOPES = {pb.PROXY_SCOPE_MANAGE_CONSENTS: "manage-consents", pb.PROXY_SCOPE_READ_HISTORY: "read-history",
           pb.PROXY_SCOPE_REPORT_READINGS: "report-readings"}


class EvidenceNotProven(Exception):
    """The evidence does not prove the change; the message names the first check that failed."""


@dataclass(frozen=True)
class SignedChange:
    """A consent change its signer is shown to have asked for, as the ledger recorded it."""

    signer: str  # "patient:<id>": the patient, or a proxy (then entry["on_behalf_of"] == "patient")
    method: str
    request: Message  # the request exactly as signed, decoded
    issued_at: int  # the token's iat
    ledger_seq: int
    entry: dict


def verify_consent_evidence(evidence: pb.ConsentEvidence, public_key: bytes, *,
                            consent: pb.Consent | None = None) -> SignedChange:
    """Checks `evidence` with the signer's Ed25519 `public_key` (32 bytes); raises EvidenceNotProven.

    With `consent` (a version from GetConsent), also checks that it is the version the change
    made and, for a grant or narrowing, that its periods are the ones signed."""
    name = evidence.method.removeprefix(SERVICE)
    if not evidence.method.startswith(SERVICE) or name not in CHANGES:
        raise EvidenceNotProven("the method is not a consent change a patient signs")
    request_type, kind = CHANGES[name]
    entry = _entry(evidence, kind)
    claims = _verified_token(evidence, public_key, entry)
    if not claims.principal.startswith("patient:"):
        raise EvidenceNotProven("the token was not signed by a patient")
    try:
        request = request_type.FromString(evidence.request)
    except DecodeError as exc:
        raise EvidenceNotProven(f"the request is not a {request_type.DESCRIPTOR.name}") from exc
    _check_request(name, request, entry, claims.principal)
    if consent is not None:
        _check_consent(name, request, entry, consent)
    return SignedChange(claims.principal, evidence.method, request, claims.issued_at, evidence.ledger_seq, entry)


def _entry(evidence: pb.ConsentEvidence, kind: str) -> dict:
    entry = canonical_entry(bytes(evidence.ledger_entry))
    if entry is None:
        raise EvidenceNotProven("the ledger entry is not canonical JSON")
    if entry.get("seq") != evidence.ledger_seq or entry.get("kind") != kind:
        raise EvidenceNotProven(f"the ledger entry is not the {kind} entry {evidence.ledger_seq}")
    token_hash = hashlib.sha256(evidence.token.encode("ascii", "replace")).hexdigest()
    if not hmac.compare_digest(str(entry.get("authorization", "")), token_hash):
        raise EvidenceNotProven("the ledger entry's authorization is not SHA-256 of this token")
    return entry


def _verified_token(evidence: pb.ConsentEvidence, public_key: bytes, entry: dict) -> tokens.Claims:
    """The token's claims, once it verifies under `public_key`, for this method and these request
    bytes, at the time the ledger recorded the change."""
    key_id = tokens.identity_key_id(public_key)
    try:
        _, kid = tokens.unverified_header(evidence.token)
        if kid != key_id:
            raise EvidenceNotProven("the token was signed by another key than the one given")
        when = Timestamp()
        when.FromJsonString(str(entry.get("time", "")))
        return tokens.verify(evidence.token, public_key, evidence.method, key_id,
                             hashlib.sha256(evidence.request).digest(), now=when.seconds + when.nanos / 1e9)
    except (tokens.TokenError, ValueError) as exc:
        raise EvidenceNotProven(f"the token does not prove the request: {exc}") from exc


def _check_request(name: str, request: Message, entry: dict, signer: str) -> None:
    """The signed request asks for what the ledger entry records."""
    wanted: dict[str, object] = {}
    if isinstance(request, pb.GrantConsentRequest):
        wanted = {"grantee": "org:" + request.grantee, **_terms(request.terms)}
        _check_patient(request.patient_id, entry, signer)
    elif isinstance(request, pb.ImportConsentRequest):
        patient_id, grantee = _fhir_parties(request.fhir_json)
        wanted = {"grantee": "org:" + grantee}
        _check_patient(patient_id, entry, signer)
    elif isinstance(request, pb.ApproveAccessRequestRequest):
        wanted = {"request": request.request_id, **(_terms(request.terms) if request.HasField("terms") else {})}
    elif isinstance(request, pb.NarrowConsentRequest):
        wanted = {"consent": request.consent_id, **_terms(request.terms)}
    elif isinstance(request, pb.RevokeConsentRequest):
        wanted = {"consent": request.consent_id}
    elif isinstance(request, pb.DeclineAccessRequestRequest):
        wanted = {"request": request.request_id}
    elif isinstance(request, pb.AddProxyRequest | pb.RemoveProxyRequest):
        if signer != "patient:" + request.patient_id or "on_behalf_of" in entry:
            raise EvidenceNotProven("a proxy is named or removed by the patient in person only")
        if isinstance(request, pb.AddProxyRequest):
            wanted = {"scopes": sorted({_SCOPES.get(s, "") for s in request.scopes})}
    for field, value in wanted.items():
        got = _as_set(entry.get(field)) if isinstance(value, list) else entry.get(field)
        if got != value:
            raise EvidenceNotProven(f"the signed {name} request does not ask for the entry's {field}")


def _as_set(value: object) -> list[str] | None:
    return sorted({str(item) for item in value}) if isinstance(value, list) else None


def _check_patient(patient_id: str, entry: dict, signer: str) -> None:
    """The patient signed in person, or the entry says a proxy acted for them."""
    in_person = signer == "patient:" + patient_id
    if in_person == ("on_behalf_of" in entry):
        raise EvidenceNotProven("the signer is not the request's patient, and the entry names no proxy")


def _terms(terms: pb.ConsentTerms) -> dict[str, object]:
    """The terms as the ledger entry records them (lists as sorted sets)."""
    return {"consent_kind": _KINDS.get(terms.kind, ""), "categories": sorted(set(terms.categories)),
            "purposes": sorted(set(terms.purposes)), "excepted": sorted(set(terms.excepted_categories))}


def _fhir_parties(fhir_json: str) -> tuple[str, str]:
    """(patient id, grantee) of an imported FHIR Consent, read as the service reads them."""
    try:
        resource = json.loads(fhir_json)
        patient = resource["patient"]["reference"]
        grantee = resource["provision"]["actor"][0]["reference"]["identifier"]["value"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise EvidenceNotProven("the imported FHIR Consent names no patient or no grantee") from exc
    if not (isinstance(patient, str) and patient.startswith("Patient/") and isinstance(grantee, str)):
        raise EvidenceNotProven("the imported FHIR Consent names no patient or no grantee")
    return patient.removeprefix("Patient/"), grantee


def _check_consent(name: str, request: Message, entry: dict, consent: pb.Consent) -> None:
    if (consent.consent_id, consent.version) != (entry.get("consent"), entry.get("version")):
        raise EvidenceNotProven("the consent given is not the version this change made")
    if "org:" + consent.grantee != entry.get("grantee"):
        raise EvidenceNotProven("the consent given names another grantee")
    if isinstance(request, pb.GrantConsentRequest) and consent.patient_id != request.patient_id:
        raise EvidenceNotProven("the consent given is another patient's")
    terms = getattr(request, "terms", None)
    if name in ("GrantConsent", "NarrowConsent") and terms is not None:
        for field in ("data_period", "validity"):
            signed = getattr(terms, field) if terms.HasField(field) else None
            if _period(signed) != _period(getattr(consent, field) if consent.HasField(field) else None):
                raise EvidenceNotProven(f"the consent's {field} is not the one signed")


def _period(period: common_pb2.Period | None) -> tuple[int | None, int | None]:
    if period is None:
        return None, None
    start = period.start.ToNanoseconds() if period.HasField("start") else None
    end = period.end.ToNanoseconds() if period.HasField("end") else None
    return start, end
