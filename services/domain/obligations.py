"""Apply a policy decision's body obligations to a FHIR R4 JSON body before it is encrypted.

Fail closed: an obligation this module does not know, a value it does not understand, or a body
it cannot transform raises ``ObligationError`` — the caller must then not disclose the record.

Obligations (the decision's ``obligations`` object, or a list of names)::

    {"pseudonymise": true}                     replace/remove direct identifiers (see below)
    {"redact": ["Patient.telecom", "note"]}    remove elements (paths, see ``redact``)

A false/empty value means "not required". Obligations that are not about the body (e.g.
``notify_patient``) must be named in ``handled_elsewhere`` by the caller that handles them;
otherwise they count as unknown and raise, so a new policy obligation can never be silently
ignored.

Output: RFC 8785 canonical JSON. Caveat: JSON numbers pass through Python floats, so a FHIR
decimal's trailing zeros are not kept (1.50 -> 1.5). When no obligation applies the body is
returned unchanged, byte for byte.

What ``pseudonymise`` does (structured data only; free text such as ``note`` or ``valueString``
can still identify someone and needs ``redact``, or a deny):
- Patient, RelatedPerson, Person: drop identifier, name, telecom, address, photo, contact,
  extension (birthPlace, mothersMaidenName, ...); birthDate and deceasedDateTime -> year only;
  Patient.id -> pseudonym(id).
- every resource: drop ``identifier`` (business ids link back to the source) and ``text`` (the
  narrative repeats names); Bundle: drop ``link`` (search URLs can hold identifiers).
- every reference to a Patient (``reference`` "Patient/<id>", relative or absolute, in any
  resource, Bundle entry ``fullUrl``/``request.url``/``response.location``) -> "Patient/<pseudonym>";
  such references, and every ``subject``/``patient``/``beneficiary``, lose ``display`` and
  ``identifier`` (a reference left empty gets the data-absent-reason extension "masked"). A
  conditional reference ("Patient?identifier=...") cannot be mapped: raises.
- Attachments lose ``data`` and ``url`` (opaque documents may show the patient's identity).
- Primitive-extension companions (``_birthDate`` etc.) go with their element.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import rfc8785

PSEUDONYMISE = "pseudonymise"
REDACT = "redact"
BODY_OBLIGATIONS = frozenset({PSEUDONYMISE, REDACT})

_PERSON_TYPES = frozenset({"Patient", "RelatedPerson", "Person"})
_PERSON_DROP = frozenset({"identifier", "name", "telecom", "address", "photo", "contact", "extension"})
_ALL_RESOURCES_DROP = frozenset({"identifier", "text"})
_YEAR_ONLY = ("birthDate", "deceasedDateTime")
_PATIENT_REF_KEYS = frozenset({"subject", "patient", "beneficiary"})
# [base/]Patient/<FHIR id>[/_history/<vid>]; the id charset is FHIR's: [A-Za-z0-9\-\.]{1,64}.
_PATIENT_REF = re.compile(r"(?P<base>(?:.*/)?)Patient/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?")
_CONDITIONAL_PATIENT_REF = re.compile(r"(?:.*/)?Patient\?.*", re.DOTALL)
_TYPED_PATH = re.compile(r"(\*|[A-Z][A-Za-z0-9]*)(\.[A-Za-z_][A-Za-z0-9_]*)+")
_ELEMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_MASKED = {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "masked"}

Pseudonym = Callable[[str], str]


class ObligationError(ValueError):
    """An obligation could not be applied, so the record must not be disclosed."""


class UnknownObligation(ObligationError):
    """The decision names an obligation this service does not implement (fail closed)."""


def keyed_pseudonym(key: bytes) -> Pseudonym:
    """HMAC-SHA-256 pseudonyms (32 hex chars, a valid FHIR id); stable per key, not reversible."""
    if len(key) < 32:
        raise ValueError("the pseudonym key must be at least 32 bytes")

    def pseudonym(patient_id: str) -> str:
        mac = hmac.new(key, b"consentry-pseudonym-v1\x00" + patient_id.encode("utf-8"), hashlib.sha256)
        return mac.digest()[:16].hex()

    return pseudonym


def apply_obligations(
    body: bytes,
    obligations: Mapping[str, Any] | Iterable[str],
    *,
    pseudonym: Pseudonym | None = None,
    handled_elsewhere: Collection[str] = (),
) -> tuple[bytes, list[str]]:
    """Return (new body, sorted names of the body obligations applied)."""
    wanted = _normalise(obligations, handled_elsewhere)
    if not wanted:
        return bytes(body), []  # nothing to do: keep the holder's bytes exactly
    doc = _load(body)
    if PSEUDONYMISE in wanted:
        if pseudonym is None:
            raise ObligationError("pseudonymise requires a pseudonym function")
        doc = pseudonymise(doc, pseudonym)
    if REDACT in wanted:
        doc = redact(doc, wanted[REDACT])
    try:
        return rfc8785.dumps(doc), sorted(wanted)
    except Exception as e:  # e.g. an integer outside the I-JSON range
        raise ObligationError(f"cannot serialise the transformed body: {type(e).__name__}") from None


def _normalise(obligations: Mapping[str, Any] | Iterable[str], handled: Collection[str]) -> dict[str, Any]:
    if isinstance(obligations, str):
        raise ObligationError("obligations must be a mapping or a list of names, not a string")
    if not isinstance(obligations, Mapping):
        obligations = dict.fromkeys(obligations, True)
    wanted: dict[str, Any] = {}
    for name, value in obligations.items():
        if name in handled:
            continue
        if name not in BODY_OBLIGATIONS:
            raise UnknownObligation(f"unknown obligation {name!r}; refusing to disclose")
        if value is None or value is False or (isinstance(value, (list, tuple)) and not value):
            continue  # explicitly not required
        if name == PSEUDONYMISE and value is not True:
            raise ObligationError("pseudonymise takes true or false")
        if name == REDACT:
            _check_redact_paths(value)
        wanted[name] = value
    return wanted


def _load(body: bytes) -> Any:
    try:
        return json.loads(bytes(body).decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise ObligationError("the body is not UTF-8 JSON, so obligations cannot be applied") from None


def _reject_constant(name: str) -> None:
    raise ValueError(name)


# --- pseudonymise -----------------------------------------------------------------------------


def pseudonymise(doc: Any, pseudonym: Pseudonym) -> Any:
    """A pseudonymised copy of a FHIR resource (or any JSON holding resources); input untouched."""
    return _pseudo_value(doc, None, pseudonym)


def _pseudo_value(value: Any, key: str | None, ps: Pseudonym) -> Any:
    if isinstance(value, list):
        return [_pseudo_value(v, key, ps) for v in value]
    if isinstance(value, dict):
        if "resourceType" in value:
            return _pseudo_resource(value, ps)
        return _pseudo_element(value, key, ps)
    return value


def _pseudo_resource(res: dict[str, Any], ps: Pseudonym) -> dict[str, Any]:
    rtype = res["resourceType"]
    person = rtype in _PERSON_TYPES
    drop = _ALL_RESOURCES_DROP | (_PERSON_DROP if person else frozenset())
    if rtype == "Bundle":
        drop = drop | {"link"}
    out = {k: _pseudo_value(v, k, ps) for k, v in res.items() if _base(k) not in drop}
    if person:
        for name in _YEAR_ONLY:
            out.pop("_" + name, None)  # e.g. the birthTime extension holds the full timestamp
            if name in out:
                out[name] = _year(out[name])
    if rtype == "Patient" and isinstance(out.get("id"), str):
        out["id"] = ps(out["id"])
    return out


def _pseudo_element(el: dict[str, Any], key: str | None, ps: Pseudonym) -> dict[str, Any]:
    out = {k: _pseudo_value(v, k, ps) for k, v in el.items()}
    ref = out.get("reference")
    points_at_patient = False
    if isinstance(ref, str):
        out["reference"], points_at_patient = _rewrite_ref(ref, ps)
    if points_at_patient or out.get("type") == "Patient" or key in _PATIENT_REF_KEYS:
        for name in ("display", "identifier", "_display"):
            out.pop(name, None)
        if not out:  # a logical reference by identifier only: say "masked" the FHIR way
            out = {"extension": [_MASKED]}
    if isinstance(out.get("fullUrl"), str):  # Bundle.entry.fullUrl
        out["fullUrl"] = _rewrite_ref(out["fullUrl"], ps)[0]
    if key == "request" and isinstance(out.get("url"), str):
        out["url"] = _rewrite_ref(out["url"], ps)[0]
    if key == "response" and isinstance(out.get("location"), str):
        out["location"] = _rewrite_ref(out["location"], ps)[0]
    if "contentType" in out and ("data" in out or "url" in out):  # an Attachment
        out.pop("data", None)
        out.pop("url", None)
    return out


def _rewrite_ref(ref: str, ps: Pseudonym) -> tuple[str, bool]:
    if _CONDITIONAL_PATIENT_REF.fullmatch(ref):
        raise ObligationError("a conditional Patient reference cannot be pseudonymised")
    m = _PATIENT_REF.fullmatch(ref)
    if not m:
        return ref, False
    return f"{m['base']}Patient/{ps(m['id'])}", True


def _year(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}(-.*)?", value):
        return value[:4]
    raise ObligationError("a birth/death date is not a FHIR date, so it cannot be generalised")


def _base(key: str) -> str:
    return key[1:] if key.startswith("_") else key  # "_name" carries extensions of "name"


# --- redact -----------------------------------------------------------------------------------


def redact(doc: Any, paths: Iterable[str]) -> Any:
    """A copy of ``doc`` without the named elements, in every resource it contains.

    Path forms: ``"Patient.telecom"`` (that resource type; dots walk into child elements and
    through lists), ``"*.note"`` (any resource type), ``"note"`` (an element of that name at any
    depth). The ``_x`` primitive-extension companion of a removed ``x`` goes too.
    """
    paths = list(paths)
    _check_redact_paths(paths)
    typed = [p.split(".") for p in paths if "." in p]
    anywhere = frozenset(p for p in paths if "." not in p)
    return _redact_value(doc, typed, anywhere)


def _check_redact_paths(paths: Any) -> None:
    if isinstance(paths, str) or not isinstance(paths, (list, tuple)):
        raise ObligationError("redact takes a list of element paths")
    for p in paths:
        if not isinstance(p, str) or not (_TYPED_PATH.fullmatch(p) or _ELEMENT.fullmatch(p)):
            raise ObligationError(f"invalid redact path {p!r}")
        if p.split(".")[-1] == "resourceType":
            raise ObligationError("refusing to redact resourceType (the result would not be FHIR)")


def _redact_value(value: Any, typed: list[list[str]], anywhere: frozenset[str]) -> Any:
    if isinstance(value, list):
        return [_redact_value(v, typed, anywhere) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: v for k, v in value.items() if _base(k) not in anywhere}
    rtype = out.get("resourceType")
    if isinstance(rtype, str):
        for path in typed:
            if path[0] in ("*", rtype):
                out = _remove_path(out, path[1:])
    return {k: _redact_value(v, typed, anywhere) for k, v in out.items()}


def _remove_path(node: Any, path: list[str]) -> Any:
    if isinstance(node, list):
        return [_remove_path(n, path) for n in node]
    if not isinstance(node, dict):
        return node
    head, rest = path[0], path[1:]
    if not rest:
        return {k: v for k, v in node.items() if k not in (head, "_" + head)}
    if head not in node:
        return node
    return {**node, head: _remove_path(node[head], rest)}
