"""Whether a deposited body is about the patient it is deposited for (docs/labelling.md,
"References").

Every resource in the body that names a patient (its `subject` or `patient`, and every Patient
resource in it) must name this one, and at least one must. A reference names the patient when:

- it is `Patient/<id>`, an absolute URL ending so, or either with `/_history/<version>`, with the
  patient's id, or it resolves inside the Bundle to a Patient that is the patient;
- it is a `urn:uuid:` (or `urn:oid:`) reference to a Bundle entry's `fullUrl`, that entry being a
  Patient that is the patient, or `#<id>` to a contained Patient that is;
- it has no `reference` but an `identifier` the patient was enrolled with.

A Patient resource is the patient when its `id` is the patient's id or one of its identifiers is
one the patient was enrolled with (patient_identifiers.py, compared as keyed hashes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from consentry.services.domain.fhir_walk import Found, as_list, resource_type, resources
from consentry.services.domain.patient_identifiers import identifier_hash

PATIENT_ELEMENTS = ("subject", "patient", "beneficiary")  # beneficiary: Coverage
# [base/]Type/id[/_history/version]: FHIR ids, and the service's patient ids ('_' too).
_LITERAL = re.compile(r"(?:^|/)([A-Z][A-Za-z]{1,63})/([A-Za-z0-9._-]{1,128})(?:/_history/[A-Za-z0-9._-]{1,64})?$")


@dataclass(frozen=True)
class PatientIdentity:
    """The patient a deposit is for: the id, and the keyed hashes of their enrolled identifiers."""

    patient_id: str
    identifier_hashes: frozenset[str] = frozenset()
    secret: bytes = b""

    def has_identifier(self, identifier: Any) -> bool:
        if not isinstance(identifier, dict) or not self.identifier_hashes:
            return False
        system, value = identifier.get("system"), identifier.get("value")
        return (isinstance(system, str) and isinstance(value, str)
                and identifier_hash(self.secret, system, value) in self.identifier_hashes)

    def is_patient(self, patient: dict) -> bool:
        return patient.get("id") == self.patient_id or any(
            self.has_identifier(i) for i in as_list(patient.get("identifier")))


def not_about_patient(root: dict, identity: PatientIdentity) -> str | None:
    """None when the body is about the patient; otherwise the path of the first element that
    names someone else ("" when nothing in it names a patient at all)."""
    index = _Index(root)
    named = False
    for path, verdict in _namings(root, index, identity):
        if not verdict:
            return path
        named = True
    return None if named else ""


def _namings(root: dict, index: _Index, identity: PatientIdentity) -> Iterator[tuple[str, bool]]:
    for item in resources(root):
        if item.type == "Patient" and not item.contained:
            yield item.path, identity.is_patient(item.resource)
        for key in PATIENT_ELEMENTS:
            if key not in item.resource:
                continue
            value = item.resource[key]
            refs = value if isinstance(value, list) else [value]  # Account.subject is a list
            for i, ref in enumerate(refs):
                path = f"{item.path}.{key}" + (f"[{i}]" if isinstance(value, list) else "")
                verdict = _names_patient(ref, item, index, identity)
                if verdict is not None:
                    yield path, verdict


def _names_patient(ref: Any, item: Found, index: _Index, identity: PatientIdentity) -> bool | None:
    """True or False for a reference that names someone; None for one that names nobody (only a
    display)."""
    if not isinstance(ref, dict):
        return False
    reference = ref.get("reference")
    if reference is None:
        return identity.has_identifier(ref["identifier"]) if "identifier" in ref else None
    if not isinstance(reference, str):
        return False
    target = index.resolve(reference, item)
    if isinstance(target, dict):
        return resource_type(target) == "Patient" and identity.is_patient(target)
    if reference.startswith(("#", "urn:")):
        return False  # a local reference that resolves to nothing in the body
    literal = _LITERAL.search(reference)
    return literal is not None and literal.group(1) == "Patient" and literal.group(2) == identity.patient_id


class _Index:
    """The body's resources a reference can resolve to: Bundle entries by fullUrl and by
    Type/id (their own, or their fullUrl's), contained resources by #id."""

    def __init__(self, root: dict) -> None:
        self.entries: dict[str, dict] = {}
        for item in resources(root):
            if item.contained or item.resource is root:
                continue
            rid = item.resource.get("id")
            if isinstance(rid, str):
                self.entries.setdefault(f"{item.type}/{rid}", item.resource)
        for entry in _entries(root):
            full_url, resource = entry.get("fullUrl"), entry.get("resource")
            if isinstance(full_url, str) and isinstance(resource, dict):
                self.entries.setdefault(full_url, resource)
                literal = _LITERAL.search(full_url)
                if literal is not None:
                    self.entries.setdefault(f"{literal.group(1)}/{literal.group(2)}", resource)

    def resolve(self, reference: str, item: Found) -> dict | None:
        if reference.startswith("#"):
            return next((c for c in as_list(item.resource.get("contained"))
                         if isinstance(c, dict) and c.get("id") == reference[1:]), None)
        if reference in self.entries:
            return self.entries[reference]
        literal = _LITERAL.search(reference)
        return self.entries.get(f"{literal.group(1)}/{literal.group(2)}") if literal else None


def _entries(root: dict) -> Iterator[dict]:
    """Every Bundle entry object in the body, nested Bundles' too."""
    for item in resources(root):
        if item.type == "Bundle":
            yield from (e for e in as_list(item.resource.get("entry")) if isinstance(e, dict))
