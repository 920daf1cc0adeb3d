"""An operator's value sets, in the data directory's `valuesets/` and in a configured directory
($CONSENTRY_VALUESETS_DIR), label deposits beside the shipped ones; a file that would take
sensitivity away keeps the server from starting."""

from __future__ import annotations

import json

import pytest
from backends import BACKENDS, database
from clinical_samples import SNOMED, body, concept
from harness import Harness

from consentry.services.cli.bootstrap import build_app, init_data_dir
from consentry.services.config import Settings
from consentry.services.domain.valuesets import ValueSetError
from consentry.v1 import exchange_pb2


def value_set(name: str, label: str, code: str) -> str:
    return json.dumps({"name": name, "label": label, "version": "site-1", "source": "the hospital's list",
                       "include": [{"systems": [SNOMED], "codes": {code: "local"}}]})


@pytest.fixture(scope="module", params=BACKENDS)
def extended(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp("valuesets")
    (directory / "data" / "valuesets").mkdir(parents=True)
    (directory / "data" / "valuesets" / "mental-health.json").write_text(value_set("mental-health", "PSY", "73595000"))
    (directory / "configured").mkdir()
    (directory / "configured" / "sickle-cell.json").write_text(value_set("sickle-cell", "SCA", "417357006"))
    with database(request.param, directory) as url:
        h = Harness.start(directory / "data", url, valuesets_dir=directory / "configured")
        try:
            yield h
        finally:
            h.stop()


@pytest.mark.parametrize(("code", "labels", "value_set"), [
    ("73595000", ["PSY"], "mental-health"),
    ("417357006", ["SCA"], "sickle-cell"),
    ("5602001", ["OPIOIDUD"], "substance-use"),
])
def test_operator_sets_label_beside_the_shipped_ones(extended, code, labels, value_set):
    hospital, patient = extended.org(), extended.patient()
    condition = {"resourceType": "Condition", "subject": {"reference": f"Patient/{patient.id}"},
                 "code": concept(SNOMED, code), "recordedDate": "2026-01-01"}
    record = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=body(condition))).record
    assert list(record.labels) == labels
    [reason] = record.label_reasons
    assert reason.value_set == value_set
    assert reason.value_set_version.endswith("site-1") == (value_set != "substance-use")


def test_a_file_that_changes_a_shipped_label_stops_the_start(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    init_data_dir(settings)
    (settings.data_dir / "valuesets").mkdir()
    (settings.data_dir / "valuesets" / "mental-health.json").write_text(value_set("mental-health", "SUD", "1"))
    with pytest.raises(ValueSetError, match="cannot change the label"):
        build_app(settings)
