"""The value sets the labelling step matches codes against (docs/labelling.md, "Value sets").

Shipped sets live in policy/data/valuesets/<name>.json; an operator adds codes or whole sets in
files of the same format in extra directories (the data directory's `valuesets/`, and
$CONSENTRY_VALUESETS_DIR). A file naming a shipped set adds its codes to it; any other file adds a
set. Nothing can take a shipped code away: there is no exclude, and a set's label cannot change.
Every label a set gives must be a sensitivity label of policy/data/labels.json, so a value set
can only ever make a record more sensitive. A file that breaks these rules stops the server at
start, rather than run without the codes its operator meant it to have.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from consentry.policy.bundle import POLICY_DIR
from consentry.services.domain.sensitivity import SENSITIVE_LABELS

SHIPPED_DIR = POLICY_DIR / "data" / "valuesets"
# ICD-10 codes are written with and without their dot ("F32.9", "F329"): compared without it.
DOTLESS_SYSTEMS = frozenset({"http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm"})
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_KNOWN = {"name", "title", "label", "version", "source", "licences", "include", "medications", "extensions",
          "resource_types", "_comment"}


class ValueSetError(ValueError):
    """A value set file that cannot be used; the message names the file and what is wrong."""


def normalised(system: str, code: str) -> str:
    code = code.strip()
    return code.replace(".", "").upper() if system in DOTLESS_SYSTEMS else code


@dataclass
class Codes:
    """Codes and code prefixes per code system, each with the label it gives."""

    exact: dict[str, dict[str, str]] = field(default_factory=dict)
    prefixes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def label_of(self, system: str, code: str) -> str | None:
        """The label `code` gets. A code without a system (real feeds leave it out) matches an
        exact code of any system, never a prefix, which would be too loose without one."""
        if not system:
            return next((codes[code.strip()] for codes in self.exact.values() if code.strip() in codes), None)
        code = normalised(system, code)
        label = self.exact.get(system, {}).get(code)
        if label is not None:
            return label
        return next((lab for prefix, lab in self.prefixes.get(system, ()) if code.startswith(prefix)), None)

    def add(self, other: Codes) -> None:
        for system, codes in other.exact.items():
            self.exact.setdefault(system, {}).update(codes)
        for system, prefixes in other.prefixes.items():
            self.prefixes.setdefault(system, []).extend(prefixes)


@dataclass
class MedicationGroup:
    """Medicines that label a resource unless it states only other indications."""

    label: str
    names: re.Pattern[str] | None
    codes: Codes

    def label_of_name(self, text: str) -> str | None:
        return self.label if self.names is not None and self.names.search(text) else None


@dataclass
class ValueSet:
    name: str
    label: str
    version: str
    codes: Codes
    medications: list[MedicationGroup]
    extensions: tuple[str, ...]
    resource_types: frozenset[str]
    sources: tuple[str, ...]

    def merged(self, extra: ValueSet, origin: str) -> ValueSet:
        if extra.label != self.label:
            raise ValueSetError(f"{origin}: cannot change the label of value set {self.name}; add a set of its own")
        codes = Codes()
        codes.add(self.codes)
        codes.add(extra.codes)
        return replace(self, version=f"{self.version}+{extra.version}", codes=codes,
                       medications=self.medications + extra.medications,
                       extensions=self.extensions + extra.extensions,
                       resource_types=self.resource_types | extra.resource_types,
                       sources=self.sources + extra.sources)


def load_value_sets(extra_dirs: Sequence[Path] = ()) -> tuple[ValueSet, ...]:
    """The shipped value sets, with what the extra directories (those that exist) add to them."""
    sets = {vs.name: vs for vs in _read_dir(SHIPPED_DIR)}
    for directory in extra_dirs:
        if not directory.is_dir():
            continue
        for extra in _read_dir(directory):
            origin = str(directory / f"{extra.name}.json")
            sets[extra.name] = sets[extra.name].merged(extra, origin) if extra.name in sets else extra
    return tuple(sets[name] for name in sorted(sets))


def _read_dir(directory: Path) -> list[ValueSet]:
    found: dict[str, ValueSet] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueSetError(f"{path}: not a readable JSON file ({error})") from None
        vs = parse_value_set(doc, str(path))
        if vs.name in found:
            raise ValueSetError(f"{path}: a second file in {directory} names value set {vs.name}")
        found[vs.name] = vs
    return list(found.values())


def parse_value_set(doc: Any, origin: str) -> ValueSet:
    """One value set file's content; raises ValueSetError naming `origin` and the problem."""
    if not isinstance(doc, dict):
        raise ValueSetError(f"{origin}: must be a JSON object")
    unknown = sorted(set(doc) - _KNOWN)
    if unknown:
        # "exclude" lands here too: a value set only ever adds codes.
        raise ValueSetError(f"{origin}: unknown member(s) {', '.join(unknown)}; value sets only add codes")
    name = doc.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueSetError(f"{origin}: name must be 1-63 lower-case letters, digits and '-'")
    label = _check_label(doc.get("label"), origin)
    for member in ("version", "source"):
        if not isinstance(doc.get(member), str) or not doc[member].strip():
            raise ValueSetError(f"{origin}: {member} must be a non-empty string")
    return ValueSet(
        name=name, label=label, version=doc["version"], codes=_codes(doc.get("include", []), label, origin),
        medications=[_medications(g, label, origin) for g in _list(doc.get("medications", []), "medications", origin)],
        extensions=tuple(_strings(doc.get("extensions", []), "extensions", origin)),
        resource_types=frozenset(_strings(doc.get("resource_types", []), "resource_types", origin)),
        sources=(origin,),
    )


def _codes(includes: Any, default_label: str, origin: str) -> Codes:
    codes = Codes()
    for i, inc in enumerate(_list(includes, "include", origin)):
        where = f"{origin}: include[{i}]"
        if not isinstance(inc, dict) or set(inc) - {"systems", "codes", "prefixes", "label", "note"}:
            raise ValueSetError(f"{where} must be an object of systems, codes, prefixes, label and note")
        label = _check_label(inc.get("label", default_label), where)
        exact = inc.get("codes", {})
        if not isinstance(exact, dict):
            raise ValueSetError(f"{where}: codes must map each code to a note")
        prefixes = _strings(inc.get("prefixes", []), "prefixes", where)
        for system in _strings(inc.get("systems"), "systems", where) or _missing(where):
            codes.exact.setdefault(system, {}).update({normalised(system, c): label for c in exact})
            codes.prefixes.setdefault(system, []).extend((normalised(system, p), label) for p in prefixes)
    return codes


def _medications(group: Any, default_label: str, origin: str) -> MedicationGroup:
    if not isinstance(group, dict) or set(group) - {"names", "include", "label", "note"}:
        raise ValueSetError(f"{origin}: each medications group must be an object of names, include, label and note")
    label = _check_label(group.get("label", default_label), origin)
    names = _strings(group.get("names", []), "names", origin)
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(n.lower()) for n in names) + r")\b") if names else None
    return MedicationGroup(label, pattern, _codes(group.get("include", []), label, origin))


def _check_label(label: Any, origin: str) -> str:
    if not isinstance(label, str) or label.upper() not in SENSITIVE_LABELS:
        raise ValueSetError(f"{origin}: label must be a sensitivity label of policy/data/labels.json")
    return label


def _list(value: Any, member: str, origin: str) -> list:
    if not isinstance(value, list):
        raise ValueSetError(f"{origin}: {member} must be a list")
    return value


def _strings(value: Any, member: str, origin: str) -> list[str]:
    items = _list(value if value is not None else [], member, origin)
    if not all(isinstance(v, str) and v.strip() for v in items):
        raise ValueSetError(f"{origin}: {member} must hold non-empty strings")
    return items


def _missing(where: str) -> Iterable[str]:
    raise ValueSetError(f"{where}: systems must name at least one code system")
