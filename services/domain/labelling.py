"""The security labelling step of a deposit (HL7 DS4P's "security labeling service").

Every code in a deposited body (each Bundle entry and contained resource too) is matched against
the value sets (valuesets.py); a match gives the set's sensitivity label, whose category
policy/data/labels.json names, so the record needs a consent naming that category as well as its
own. The body's own `meta.security` labels and the holder's `labels` are kept beside them. Labels
only ever add sensitivity: nothing here removes one, and a holder can add labels but never take a
derived one away. Each label keeps why it is there (docs/labelling.md, "Why a label is there"):
the value set and its version, the code system and the element of the body that matched. The
matching code itself is not kept beside the record: the row is not encrypted and outlives an
erasure, while the element names the code inside the sealed body.

Medicines are a case of their own: many have psychiatric and other uses (an SSRI for hot flushes,
bupropion to stop smoking, methadone for pain), so a medicine in a value set labels a resource
unless the resource states its indications as codes and none of them is in that value set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from consentry.services.domain.fhir_walk import Found, as_list, codings, extension_urls, resources
from consentry.services.domain.valuesets import MedicationGroup, ValueSet

LABEL_CODE = re.compile(r"[A-Za-z0-9._-]{1,32}")
VALUE_SET, META_SECURITY, HOLDER = "value-set", "meta.security", "holder"


@dataclass(frozen=True)
class LabelReason:
    """Why a record carries `label`: from a value set (with the matching code's system and
    element), from the body's `meta.security` (element), or from the holder (`labels[i]`)."""

    label: str
    source: str
    element: str
    value_set: str = ""
    value_set_version: str = ""
    system: str = ""

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}

    @classmethod
    def from_json(cls, doc: dict) -> LabelReason:
        return cls(**{k: str(doc.get(k, "")) for k in cls.__dataclass_fields__})


class Labeller:
    def __init__(self, value_sets: Iterable[ValueSet]) -> None:
        self.value_sets = tuple(value_sets)

    def label(self, root: dict, holder_labels: Iterable[str] = ()) -> list[LabelReason]:
        """Every label the deposit carries, one reason for each label, source, value set and
        code system (the first element found), in the order found."""
        found: list[LabelReason] = []
        for item in resources(root):
            found += _meta_security(item)
            for vs in self.value_sets:
                found += self._matches(vs, item)
        found += [LabelReason(label, HOLDER, f"labels[{i}]") for i, label in enumerate(holder_labels)]
        return _first_of_each(found)

    def _matches(self, vs: ValueSet, item: Found) -> Iterator[LabelReason]:
        def reason(label: str, element: str, system: str = "") -> LabelReason:
            return LabelReason(label, VALUE_SET, element, vs.name, vs.version, system)

        if item.type in vs.resource_types:
            yield reason(vs.label, item.path)
        for coding in codings(item.resource, item.path):
            label = vs.codes.label_of(coding.system, coding.code)
            if label is not None:
                yield reason(label, coding.path, coding.system)
        for path, url in extension_urls(item.resource, item.path):
            if any(url.startswith(prefix) for prefix in vs.extensions):
                yield reason(vs.label, path)
        if vs.medications and not _other_indications_only(vs, item.resource):
            for group in vs.medications:
                for label, element, system in _medicines(group, item):
                    yield reason(label, element, system)


def _medicines(group: MedicationGroup, item: Found) -> Iterator[tuple[str, str, str]]:
    """(label, element, system) for each medicine concept of the resource that `group` names, by
    code or by ingredient name in a coding's display or the concept's text."""
    for path, concept in _medication_concepts(item):
        for i, coding in enumerate(as_list(concept.get("coding"))):
            if not isinstance(coding, dict):
                continue
            system, code, display = coding.get("system"), coding.get("code"), coding.get("display")
            if isinstance(system, str) and isinstance(code, str) and group.codes.label_of(system, code):
                yield group.codes.label_of(system, code) or group.label, f"{path}.coding[{i}]", system
            elif isinstance(display, str) and group.label_of_name(display.lower()):
                yield group.label, f"{path}.coding[{i}].display", ""
        text = concept.get("text")
        if isinstance(text, str) and group.label_of_name(text.lower()):
            yield group.label, f"{path}.text", ""


def _medication_concepts(item: Found) -> Iterator[tuple[str, dict]]:
    resource, path = item.resource, item.path
    concept = resource.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        yield f"{path}.medicationCodeableConcept", concept
    if item.type == "Medication":
        if isinstance(resource.get("code"), dict):
            yield f"{path}.code", resource["code"]
        for i, ingredient in enumerate(as_list(resource.get("ingredient"))):
            if isinstance(ingredient, dict) and isinstance(ingredient.get("itemCodeableConcept"), dict):
                yield f"{path}.ingredient[{i}].itemCodeableConcept", ingredient["itemCodeableConcept"]


def _other_indications_only(vs: ValueSet, resource: dict) -> bool:
    """Whether the resource states its indications as codes, none in `vs`. A reference to the
    reason (reasonReference) may be to anything, so it never rules a medicine out."""
    if as_list(resource.get("reasonReference")):
        return False
    stated = list(codings({"reasonCode": resource.get("reasonCode")}, ""))
    return bool(stated) and not any(vs.codes.label_of(c.system, c.code) for c in stated)


def _meta_security(item: Found) -> Iterator[LabelReason]:
    meta = item.resource.get("meta")
    for i, coding in enumerate(as_list(meta.get("security")) if isinstance(meta, dict) else []):
        code = coding.get("code") if isinstance(coding, dict) else None
        if isinstance(code, str) and LABEL_CODE.fullmatch(code):
            yield LabelReason(code, META_SECURITY, f"{item.path}.meta.security[{i}]")


def _first_of_each(reasons: list[LabelReason]) -> list[LabelReason]:
    seen: set[tuple[str, str, str, str]] = set()
    kept = []
    for r in reasons:
        key = (r.label.upper(), r.source, r.value_set, r.system)
        if key not in seen:
            seen.add(key)
            kept.append(r)
    return kept
