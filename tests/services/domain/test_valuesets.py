"""The shipped value sets, and how an operator's sets are merged over them: codes are only ever
added, and every label a set gives is a sensitivity label (docs/labelling.md, "Value sets")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consentry.services.domain.sensitivity import SENSITIVE_LABELS
from consentry.services.domain.valuesets import SHIPPED_DIR, ValueSetError, load_value_sets

SNOMED, LOINC = "http://snomed.info/sct", "http://loinc.org"
SHIPPED = {vs.name: vs for vs in load_value_sets()}


def test_the_shipped_sets_cover_the_sensitive_kinds_of_data():
    assert {name: vs.label for name, vs in SHIPPED.items()} == {
        "mental-health": "PSY", "substance-use": "SUD", "reproductive": "SEX", "hiv-sti": "HIV",
        "genetic": "GDIS", "violence-abuse": "SDV"}


@pytest.mark.parametrize("path", sorted(SHIPPED_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_each_shipped_file_states_its_version_source_and_the_licence_of_every_system_it_uses(path):
    doc = json.loads(path.read_text())
    assert doc["version"] and doc["source"]
    used = {s for inc in doc.get("include", []) for s in inc["systems"]}
    used |= {s for group in doc.get("medications", []) for inc in group.get("include", []) for s in inc["systems"]}
    assert used <= set(doc["licences"])
    if LOINC in used:
        assert "This material contains content from LOINC (http://loinc.org)" in doc["licences"][LOINC]


def test_every_label_a_shipped_set_gives_is_a_sensitivity_label():
    labels = set()
    for vs in SHIPPED.values():
        labels.add(vs.label)
        labels |= {lab for codes in vs.codes.exact.values() for lab in codes.values()}
        labels |= {lab for prefixes in vs.codes.prefixes.values() for _, lab in prefixes}
        labels |= {g.label for g in vs.medications}
    assert labels <= SENSITIVE_LABELS


@pytest.mark.parametrize(("system", "code", "label"), [
    ("http://hl7.org/fhir/sid/icd-10-cm", "F32.9", "PSY"),
    ("http://hl7.org/fhir/sid/icd-10", "F329", "PSY"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "F11.20", "OPIOIDUD"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "F10.10", "SUD"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "F17.210", None),  # tobacco: not substance use here
    ("http://hl7.org/fhir/sid/icd-10-cm", "B20", "HIV"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "A56.01", "STD"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "O04.5", "SEX"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "Z15.01", "GDIS"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "T74.11XA", "SDV"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "J45.909", None),
    (SNOMED, "5602001", "OPIOIDUD"),
    ("", "44249-1", "PSY"),  # a code without its system: exact codes only
    ("", "F3", None),
])
def test_matching(system, code, label):
    found = [vs.codes.label_of(system, code) for vs in SHIPPED.values()]
    assert [x for x in found if x] == ([label] if label else [])


def write(directory: Path, name: str, doc: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(doc))


def site_set(**overrides) -> dict:
    doc = {"name": "mental-health", "label": "PSY", "version": "site-1", "source": "the hospital's own list",
           "include": [{"systems": [SNOMED], "codes": {"73595000": "stress"}}]}
    return {**doc, **overrides}


def test_an_operator_file_adds_codes_to_a_shipped_set_and_takes_none_away(tmp_path):
    write(tmp_path, "mental-health", site_set())
    [merged] = [vs for vs in load_value_sets([tmp_path]) if vs.name == "mental-health"]
    assert merged.codes.label_of(SNOMED, "73595000") == "PSY"
    assert merged.codes.label_of(SNOMED, "35489007") == "PSY"
    assert merged.version == f"{SHIPPED['mental-health'].version}+site-1"


def test_an_operator_file_adds_a_set_of_its_own(tmp_path):
    write(tmp_path, "sickle-cell", site_set(name="sickle-cell", label="SCA",
                                            include=[{"systems": [SNOMED], "codes": {"417357006": "sickle cell"}}]))
    sets = {vs.name: vs for vs in load_value_sets([tmp_path, tmp_path / "absent"])}
    assert sets["sickle-cell"].codes.label_of(SNOMED, "417357006") == "SCA"
    assert set(SHIPPED) < set(sets)


@pytest.mark.parametrize(("doc", "why"), [
    (site_set(label="SUD"), "cannot change the label of value set mental-health"),
    (site_set(exclude=[{"systems": [SNOMED], "codes": {"35489007": ""}}]), "value sets only add codes"),
    (site_set(name="normal", label="N"), "label must be a sensitivity label"),
    (site_set(include=[{"systems": [SNOMED], "codes": {"1": ""}, "label": "N"}]), "label must be a sensitivity label"),
    (site_set(version=""), "version must be a non-empty string"),
    (site_set(include=[{"codes": {"1": ""}}]), "systems must name at least one code system"),
    ([], "must be a JSON object"),
])
def test_a_file_that_would_lower_or_blur_sensitivity_stops_the_load(tmp_path, doc, why):
    write(tmp_path, "site", doc)
    with pytest.raises(ValueSetError, match=why):
        load_value_sets([tmp_path])


def test_two_files_of_one_directory_naming_one_set_stop_the_load(tmp_path):
    write(tmp_path, "a", site_set())
    write(tmp_path, "b", site_set())
    with pytest.raises(ValueSetError, match="a second file"):
        load_value_sets([tmp_path])
