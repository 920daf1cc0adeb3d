"""Ledger entries as FHIR R4 `AuditEvent` resources in a `Bundle`, after IHE Basic Audit Log
Patterns (docs/ledger.md, "FHIR AuditEvent export").

Each event carries its entry's sequence number, leaf hash and exact bytes, so it is proved
against a signed checkpoint like the entry itself. It says what the entry says and nothing more:
patients by the pseudonym the entry carries, no clinical content. Plain dictionaries, with no
server dependency, so an auditor's `consentry audit export` builds them too.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from consentry.ledger import entry_leaf_hash, tombstone_commitment

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
KIND_SYSTEM = "urn:consentry:ledger-kind"
PRINCIPAL_SYSTEM = "urn:consentry:principal"
PSEUDONYM_SYSTEM = "urn:consentry:patient-pseudonym"
RECORD_SYSTEM = "urn:consentry:record"
ROLE_SYSTEM = "urn:consentry:role"
DETAIL = "urn:consentry:ledger-entry"  # entity.detail types: seq, leaf-hash, entry, decision-id

# DICOM audit event ids (DCM) and the FHIR action code, by the entry kind's first word.
_EXPORT, _IMPORT, _PATIENT_RECORD = ("110106", "Export"), ("110107", "Import"), ("110110", "Patient Record")
_SECURITY_ALERT, _AUTHENTICATION = ("110113", "Security Alert"), ("110114", "User Authentication")
_APPLICATION = ("110100", "Application Activity")
_TYPES: dict[str, tuple[tuple[str, str], str]] = {
    "access.decision": (_EXPORT, "R"),
    "record.deposited": (_IMPORT, "C"),
    "record.erased": (_PATIENT_RECORD, "D"),
    "consent.granted": (_PATIENT_RECORD, "C"),
    "consent.requested": (_PATIENT_RECORD, "C"),
    "consent.previewed": (_APPLICATION, "E"),  # a dry run: it changes nothing
    "auth.refused": (_AUTHENTICATION, "E"),
    "call.refused": (_SECURITY_ALERT, "E"),
    "call.rate_limited": (_SECURITY_ALERT, "E"),
}
_UPDATES = ("consent.", "proxy.")  # every other consent or proxy change updates the patient's terms
SUCCESS, MINOR_FAILURE = "0", "4"


def audit_event(seq: int, entry: bytes, origin: str) -> dict[str, Any]:
    """One ledger entry (its canonical bytes) of the ledger `origin` as an AuditEvent."""
    fields = json.loads(entry)
    kind = str(fields.get("kind", ""))
    (code, display), action = _type_of(kind)
    event: dict[str, Any] = {
        "resourceType": "AuditEvent", "id": f"ledger-{seq}",
        "type": {"system": DCM, "code": code, "display": display},
        "subtype": [{"system": KIND_SYSTEM, "code": kind}],
        "action": action, "recorded": fields["time"],
        "outcome": MINOR_FAILURE if _refused(kind, fields) else SUCCESS,
        "agent": _agents(fields),
        "source": {"site": origin, "observer": {"display": f"Consentry ledger {origin}"},
                   "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}]},
        "entity": _entities(seq, entry, fields),
    }
    if fields.get("reasons"):
        event["outcomeDesc"] = "; ".join(str(r) for r in fields["reasons"])
    if fields.get("purpose"):
        event["purposeOfEvent"] = [{"coding": [{"system": ACT_REASON, "code": fields["purpose"]}]}]
    return event


def audit_events(entries: Iterable[tuple[int, bytes]], origin: str) -> list[dict[str, Any]]:
    """The AuditEvents of `(seq, entry)` pairs. A redacted entry (a tombstone) says nothing of
    an event any more, so it has none: its seq is absent from the Bundle."""
    return [audit_event(seq, entry, origin) for seq, entry in entries if tombstone_commitment(entry) is None]


def audit_bundle(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": e} for e in events]}


def _type_of(kind: str) -> tuple[tuple[str, str], str]:
    if kind in _TYPES:
        return _TYPES[kind]
    if kind.startswith(_UPDATES):
        return _PATIENT_RECORD, "U"
    return _APPLICATION, "E"


def _refused(kind: str, fields: dict[str, Any]) -> bool:
    return fields.get("allowed") is False or kind in ("auth.refused", "call.refused", "call.rate_limited")


def _agents(fields: dict[str, Any]) -> list[dict[str, Any]]:
    """The principal who acted (the requestor, with the staff member's role and id) and the service."""
    actor: dict[str, Any] = {"who": {"identifier": {"system": PRINCIPAL_SYSTEM, "value": str(fields.get("actor"))}},
                             "requestor": True}
    if fields.get("kind") == "access.decision":
        actor["type"] = {"coding": [{"system": PARTICIPATION, "code": "IRCP", "display": "information recipient"}]}
    if fields.get("role"):
        actor["role"] = [{"coding": [{"system": ROLE_SYSTEM, "code": fields["role"]}]}]
    if fields.get("practitioner"):
        actor["altId"] = fields["practitioner"]
    if fields.get("policy_revision"):
        actor["policy"] = [f"urn:consentry:policy-revision:{fields['policy_revision']}"]
    service = {"who": {"display": "Consentry"}, "requestor": False,
               "type": {"coding": [{"system": PARTICIPATION, "code": "CST", "display": "custodian"}]}}
    return [actor, service]


def _entities(seq: int, entry: bytes, fields: dict[str, Any]) -> list[dict[str, Any]]:
    found = [_ledger_entity(seq, entry, fields)]
    if fields.get("patient"):
        found.append({"what": {"identifier": {"system": PSEUDONYM_SYSTEM, "value": fields["patient"]}},
                      "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                      "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"}})
    if fields.get("record"):
        record: dict[str, Any] = {"what": {"identifier": {"system": RECORD_SYSTEM, "value": fields["record"]}},
                                  "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                                  "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"}}
        if fields.get("category"):
            record["detail"] = [{"type": "category", "valueString": fields["category"]}]
        if fields.get("labels"):
            record["securityLabel"] = [{"system": ACT_CODE, "code": label} for label in fields["labels"]]
        found.append(record)
    found += [_consent_entity(c["id"], c["version"]) for c in fields.get("consent_versions", [])]
    if fields.get("consent") and fields.get("version"):
        found.append(_consent_entity(fields["consent"], fields["version"]))
    return found


def _ledger_entity(seq: int, entry: bytes, fields: dict[str, Any]) -> dict[str, Any]:
    """The entry itself: what proves the event against a checkpoint (an inclusion proof of `seq`
    with this leaf hash), and its bytes, from which the hash is recomputed."""
    details = [
        {"type": f"{DETAIL}#seq", "valueString": str(seq)},
        {"type": f"{DETAIL}#leaf-hash", "valueString": entry_leaf_hash(entry).hex()},
        {"type": f"{DETAIL}#entry", "valueBase64Binary": base64.b64encode(entry).decode()},
    ]
    if fields.get("decision_id"):
        details.append({"type": f"{DETAIL}#decision-id", "valueString": fields["decision_id"]})
    return {"what": {"identifier": {"system": DETAIL, "value": str(seq)}},
            "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
            "description": "the Consentry ledger entry this event is", "detail": details}


def _consent_entity(consent_id: str, version: int) -> dict[str, Any]:
    return {"what": {"reference": f"Consent/{consent_id}/_history/{version}"},
            "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
            "description": "the consent version the decision relied on or the change made"}
