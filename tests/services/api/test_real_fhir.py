"""Real FHIR R4 data, deposited over gRPC: 393 resources that nobody on this project wrote (the HL7
FHIR R4 specification's examples and the International Patient Summary guide's, CC0; see
tests/data/fhir-r4/README.md). Each is accepted or refused as the tables below say, filed under
the category they give, labelled exactly as they say, and a fetch under a broad consent shares
every accepted record except the labelled ones, and names none of those (docs/labelling.md).

The tables are the expectations, stated resource by resource, not a record of what the code
did: a change that moves any entry must change the table too, in review.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
from harness import Person, field_violations, grant
from nacl.signing import SigningKey

from consentry.services.domain.sensitivity import is_sensitive
from consentry.services.identity.tokens import Caller
from consentry.v1 import exchange_pb2, registry_pb2

CORPUS = Path(__file__).resolve().parents[2] / "data" / "fhir-r4"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())

# resource type: (accepted, refused)
ACCEPTED_AND_REFUSED = {
    'AdverseEvent': (1, 0),
    'AllergyIntolerance': (9, 0),
    'Bundle': (16, 2),
    'CarePlan': (11, 0),
    'CareTeam': (1, 0),
    'Claim': (1, 0),
    'ClinicalImpression': (1, 0),
    'Communication': (3, 0),
    'Composition': (3, 0),
    'Condition': (13, 0),
    'Coverage': (1, 0),
    'DetectedIssue': (1, 0),
    'DeviceRequest': (4, 0),
    'DeviceUseStatement': (2, 0),
    'DiagnosticReport': (6, 0),
    'DocumentReference': (1, 0),
    'Encounter': (10, 0),
    'EpisodeOfCare': (1, 0),
    'ExplanationOfBenefit': (1, 0),
    'FamilyMemberHistory': (2, 0),
    'Flag': (3, 0),
    'Goal': (2, 0),
    'ImagingStudy': (3, 0),
    'Immunization': (6, 0),
    'ImmunizationRecommendation': (1, 0),
    'List': (4, 0),
    'Media': (4, 0),
    'MedicationAdministration': (14, 0),
    'MedicationDispense': (31, 0),
    'MedicationRequest': (41, 0),
    'MedicationStatement': (8, 0),
    'MolecularSequence': (9, 8),
    'NutritionOrder': (13, 0),
    'Observation': (69, 6),
    'Patient': (25, 0),
    'Procedure': (16, 2),
    'QuestionnaireResponse': (4, 1),
    'RiskAssessment': (5, 1),
    'ServiceRequest': (17, 3),
    'Specimen': (5, 0),
    'VisionPrescription': (2, 0),
}


# Refused, with the field the refusal names: no patient named at all ("fhir_json"), or a subject
# that is not the patient (a contained newborn, a Group, a Bundle holding several patients).
REFUSED = {
    'hl7.fhir.r4.examples/MolecularSequence-coord-0-base.json': 'fhir_json',
    'hl7.fhir.r4.examples/MolecularSequence-coord-1-base.json': 'fhir_json',
    'hl7.fhir.r4.examples/MolecularSequence-graphic-example-1.json': 'fhir_json',
    'hl7.fhir.r4.examples/MolecularSequence-graphic-example-2.json': 'fhir_json',
    'hl7.fhir.r4.examples/MolecularSequence-graphic-example-3.json': 'fhir_json',
    'hl7.fhir.r4.examples/MolecularSequence-graphic-example-4.json': 'fhir_json',
    'hl7.fhir.r4.examples/MolecularSequence-graphic-example-5.json': 'fhir_json',
    'hl7.fhir.r4.examples/MolecularSequence-sequence-complex-variant.json': 'fhir_json',
    'hl7.fhir.r4.examples/Observation-10minute-apgar-score.json': 'fhir_json.subject',
    'hl7.fhir.r4.examples/Observation-1minute-apgar-score.json': 'fhir_json.subject',
    'hl7.fhir.r4.examples/Observation-20minute-apgar-score.json': 'fhir_json.subject',
    'hl7.fhir.r4.examples/Observation-2minute-apgar-score.json': 'fhir_json.subject',
    'hl7.fhir.r4.examples/Observation-5minute-apgar-score.json': 'fhir_json.subject',
    'hl7.fhir.r4.examples/Observation-vp-oyster.json': 'fhir_json',
    'hl7.fhir.r4.examples/Procedure-education.json': 'fhir_json',
    'hl7.fhir.r4.examples/Procedure-ob.json': 'fhir_json',
    'hl7.fhir.r4.examples/QuestionnaireResponse-3141.json': 'fhir_json.subject',
    'hl7.fhir.r4.examples/RiskAssessment-population.json': 'fhir_json.subject',
    'hl7.fhir.r4.examples/ServiceRequest-appendectomy-narrative.json': 'fhir_json',
    'hl7.fhir.r4.examples/ServiceRequest-education.json': 'fhir_json',
    'hl7.fhir.r4.examples/ServiceRequest-ob.json': 'fhir_json',
    'hl7.fhir.r4.examples/Bundle-bundle-references.json': 'fhir_json.entry[1].resource',
    'hl7.fhir.r4.examples/Bundle-bundle-transaction.json': 'fhir_json.entry[0].resource',
}


# Every labelled resource, with its labels. Any accepted resource not listed has none.
LABELS = {
    'hl7.fhir.r4.examples/Condition-f202.json': ['TBOO'],
    'hl7.fhir.r4.examples/List-example-double-cousin-relationship.json': ['GDIS'],
    'hl7.fhir.r4.examples/List-genetic.json': ['GDIS'],
    'hl7.fhir.r4.examples/MolecularSequence-breastcancer.json': ['GDIS'],
    'hl7.fhir.r4.examples/MolecularSequence-example-TPMT-one.json': ['GDIS'],
    'hl7.fhir.r4.examples/MolecularSequence-example-TPMT-two.json': ['GDIS'],
    'hl7.fhir.r4.examples/MolecularSequence-example-pgx-1.json': ['GDIS'],
    'hl7.fhir.r4.examples/MolecularSequence-example-pgx-2.json': ['GDIS'],
    'hl7.fhir.r4.examples/MolecularSequence-example.json': ['GDIS'],
    'hl7.fhir.r4.examples/MolecularSequence-fda-example.json': ['GDIS'],
    'hl7.fhir.r4.examples/MolecularSequence-fda-vcf-comparison.json': ['GDIS'],
    'hl7.fhir.r4.examples/MolecularSequence-fda-vcfeval-comparison.json': ['GDIS'],
    'hl7.fhir.r4.examples/Observation-date-lastmp.json': ['SEX'],
    'hl7.fhir.r4.examples/Observation-example-TPMT-diplotype.json': ['GDIS'],
    'hl7.fhir.r4.examples/Observation-example-TPMT-haplotype-one.json': ['GDIS'],
    'hl7.fhir.r4.examples/Observation-example-TPMT-haplotype-two.json': ['GDIS'],
    'hl7.fhir.r4.examples/Observation-example-diplotype1.json': ['GDIS'],
    'hl7.fhir.r4.examples/Observation-example-genetics-1.json': ['GDIS'],
    'hl7.fhir.r4.examples/Observation-example-genetics-2.json': ['GDIS'],
    'hl7.fhir.r4.examples/Observation-example-genetics-brcapat.json': ['GDIS'],
    'hl7.fhir.r4.examples/Observation-example-haplotype1.json': ['GDIS'],
    'hl7.fhir.r4.examples/Observation-example-haplotype2.json': ['GDIS'],
    'hl7.fhir.r4.examples/Observation-example-phenotype.json': ['GDIS'],
    'hl7.fhir.r4.examples/Procedure-ambulation.json': ['SEX'],
    'hl7.fhir.r4.examples/ServiceRequest-example-pgx.json': ['GDIS'],
    'hl7.fhir.r4.examples/Bundle-dg2.json': ['GDIS'],
    'hl7.fhir.r4.examples/Bundle-report.json': ['GDIS'],
    'hl7.fhir.r4.examples/Bundle-hla-1.json': ['GDIS'],
    'hl7.fhir.uv.ips/Bundle-bundle-ips-all-sections.json': ['N', 'SEX'],
    'hl7.fhir.uv.ips/Observation-pregnancy-edd-example.json': ['SEX'],
    'hl7.fhir.uv.ips/Observation-pregnancy-outcome-example.json': ['SEX'],
    'hl7.fhir.uv.ips/Observation-pregnancy-status-example.json': ['SEX'],
}


# The category of each resource filed by rules (DiagnosticReport, DocumentReference, Composition,
# Observation, ServiceRequest) and of each Bundle.
CATEGORIES = {
    'hl7.fhir.r4.examples/Composition-example-mixed.json': 'discharge-summary',
    'hl7.fhir.r4.examples/Composition-example.json': 'clinical-note',
    'hl7.fhir.r4.examples/DiagnosticReport-102.json': 'imaging',
    'hl7.fhir.r4.examples/DiagnosticReport-example-pgx.json': 'other',
    'hl7.fhir.r4.examples/DiagnosticReport-f201.json': 'imaging',
    'hl7.fhir.r4.examples/DiagnosticReport-pap.json': 'other',
    'hl7.fhir.r4.examples/DiagnosticReport-ultrasound.json': 'imaging',
    'hl7.fhir.r4.examples/DocumentReference-example.json': 'clinical-note',
    'hl7.fhir.r4.examples/Observation-656.json': 'other',
    'hl7.fhir.r4.examples/Observation-abdo-tender.json': 'exam',
    'hl7.fhir.r4.examples/Observation-alcohol-type.json': 'social-history',
    'hl7.fhir.r4.examples/Observation-bgpanel.json': 'lab',
    'hl7.fhir.r4.examples/Observation-blood-pressure-cancel.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-blood-pressure-dar.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-blood-pressure.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-bloodgroup.json': 'lab',
    'hl7.fhir.r4.examples/Observation-bmd.json': 'imaging',
    'hl7.fhir.r4.examples/Observation-bmi-using-related.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-bmi.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-body-height.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-body-length.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-body-temperature.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-clinical-gender.json': 'social-history',
    'hl7.fhir.r4.examples/Observation-date-lastmp.json': 'survey',
    'hl7.fhir.r4.examples/Observation-ekg.json': 'clinical-test',
    'hl7.fhir.r4.examples/Observation-example-TPMT-diplotype.json': 'other',
    'hl7.fhir.r4.examples/Observation-example-TPMT-haplotype-one.json': 'other',
    'hl7.fhir.r4.examples/Observation-example-TPMT-haplotype-two.json': 'other',
    'hl7.fhir.r4.examples/Observation-example-diplotype1.json': 'other',
    'hl7.fhir.r4.examples/Observation-example-genetics-1.json': 'other',
    'hl7.fhir.r4.examples/Observation-example-genetics-2.json': 'other',
    'hl7.fhir.r4.examples/Observation-example-genetics-3.json': 'other',
    'hl7.fhir.r4.examples/Observation-example-genetics-4.json': 'other',
    'hl7.fhir.r4.examples/Observation-example-genetics-5.json': 'other',
    'hl7.fhir.r4.examples/Observation-example-genetics-brcapat.json': 'other',
    'hl7.fhir.r4.examples/Observation-example-haplotype1.json': 'other',
    'hl7.fhir.r4.examples/Observation-example-haplotype2.json': 'other',
    'hl7.fhir.r4.examples/Observation-example-phenotype.json': 'other',
    'hl7.fhir.r4.examples/Observation-example.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-eye-color.json': 'other',
    'hl7.fhir.r4.examples/Observation-f001.json': 'other',
    'hl7.fhir.r4.examples/Observation-f002.json': 'other',
    'hl7.fhir.r4.examples/Observation-f003.json': 'other',
    'hl7.fhir.r4.examples/Observation-f004.json': 'other',
    'hl7.fhir.r4.examples/Observation-f005.json': 'other',
    'hl7.fhir.r4.examples/Observation-f202.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-f203.json': 'other',
    'hl7.fhir.r4.examples/Observation-f204.json': 'other',
    'hl7.fhir.r4.examples/Observation-f205.json': 'other',
    'hl7.fhir.r4.examples/Observation-f206.json': 'other',
    'hl7.fhir.r4.examples/Observation-gcs-qa.json': 'exam',
    'hl7.fhir.r4.examples/Observation-glasgow.json': 'exam',
    'hl7.fhir.r4.examples/Observation-head-circumference.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-heart-rate.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-map-sitting.json': 'lab',
    'hl7.fhir.r4.examples/Observation-mbp.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-respiratory-rate.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-rhstatus.json': 'lab',
    'hl7.fhir.r4.examples/Observation-satO2.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-secondsmoke.json': 'social-history',
    'hl7.fhir.r4.examples/Observation-trachcare.json': 'exam',
    'hl7.fhir.r4.examples/Observation-unsat.json': 'other',
    'hl7.fhir.r4.examples/Observation-vitals-panel.json': 'vital-signs',
    'hl7.fhir.r4.examples/Observation-vomiting.json': 'other',
    'hl7.fhir.r4.examples/ServiceRequest-ambulation.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-benchpress.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-colon-biopsy.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-colonoscopy.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-di.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-do-not-turn.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-example-implant.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-example-pgx.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-example.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-ft4.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-lipid.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-myringotomy.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-og-example1.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-physical-therapy.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-physiotherapy.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-subrequest.json': 'procedure',
    'hl7.fhir.r4.examples/ServiceRequest-vent.json': 'procedure',
    'hl7.fhir.r4.examples/Bundle-dg2.json': 'lab',
    'hl7.fhir.r4.examples/Bundle-f001.json': 'procedure',
    'hl7.fhir.r4.examples/Bundle-f202.json': 'procedure',
    'hl7.fhir.r4.examples/Bundle-lipids.json': 'other',
    'hl7.fhir.r4.examples/Bundle-father.json': 'clinical-note',
    'hl7.fhir.r4.examples/Bundle-xds.json': 'clinical-note',
    'hl7.fhir.r4.examples/Bundle-report.json': 'other',
    'hl7.fhir.r4.examples/Bundle-hla-1.json': 'other',
    'hl7.fhir.r4.examples/Bundle-micro.json': 'other',
    'hl7.fhir.r4.examples/Bundle-lri-example.json': 'lab',
    'hl7.fhir.r4.examples/Bundle-bundle-example.json': 'medication',
    'hl7.fhir.uv.ips/Bundle-IPS-examples-Bundle-01.json': 'clinical-note',
    'hl7.fhir.uv.ips/Bundle-IPS-examples-Bundle-with-immunization.json': 'clinical-note',
    'hl7.fhir.uv.ips/Bundle-bundle-ips-all-sections.json': 'clinical-note',
    'hl7.fhir.uv.ips/Bundle-bundle-minimal.json': 'clinical-note',
    'hl7.fhir.uv.ips/Bundle-bundle-no-info-required-sections.json': 'clinical-note',
    'hl7.fhir.uv.ips/Composition-composition-minimal.json': 'clinical-note',
    'hl7.fhir.uv.ips/DiagnosticReport-hemoglobin.json': 'lab',
    'hl7.fhir.uv.ips/Observation-alcohol-use-example.json': 'social-history',
    'hl7.fhir.uv.ips/Observation-hemoglobin.json': 'lab',
    'hl7.fhir.uv.ips/Observation-ips-example-imaging-1.json': 'imaging',
    'hl7.fhir.uv.ips/Observation-ips-example-imaging-4.json': 'imaging',
    'hl7.fhir.uv.ips/Observation-ips-example-imaging-5.json': 'imaging',
    'hl7.fhir.uv.ips/Observation-pathology-cancer.json': 'lab',
    'hl7.fhir.uv.ips/Observation-pathology-suppressed-data.json': 'lab',
    'hl7.fhir.uv.ips/Observation-pregnancy-edd-example.json': 'other',
    'hl7.fhir.uv.ips/Observation-pregnancy-outcome-example.json': 'other',
    'hl7.fhir.uv.ips/Observation-pregnancy-status-example.json': 'other',
    'hl7.fhir.uv.ips/Observation-serum-creatinine-adult.json': 'lab',
    'hl7.fhir.uv.ips/Observation-tobacco-use-example.json': 'social-history',
    'hl7.fhir.uv.ips/Observation-urine-wbc-range.json': 'lab',
}


# The category of every accepted resource of the other types.
CATEGORY_OF_TYPE = {
    'AdverseEvent': 'other',
    'AllergyIntolerance': 'allergy',
    'CarePlan': 'care-plan',
    'CareTeam': 'care-plan',
    'Claim': 'other',
    'ClinicalImpression': 'clinical-note',
    'Communication': 'clinical-note',
    'Condition': 'condition',
    'Coverage': 'other',
    'DetectedIssue': 'other',
    'DeviceRequest': 'other',
    'DeviceUseStatement': 'other',
    'Encounter': 'encounter',
    'EpisodeOfCare': 'encounter',
    'ExplanationOfBenefit': 'other',
    'FamilyMemberHistory': 'condition',
    'Flag': 'condition',
    'Goal': 'care-plan',
    'ImagingStudy': 'imaging',
    'Immunization': 'immunization',
    'ImmunizationRecommendation': 'immunization',
    'List': 'other',
    'Media': 'imaging',
    'MedicationAdministration': 'medication',
    'MedicationDispense': 'medication',
    'MedicationRequest': 'medication',
    'MedicationStatement': 'medication',
    'MolecularSequence': 'lab',
    'NutritionOrder': 'care-plan',
    'Patient': 'demographics',
    'Procedure': 'procedure',
    'QuestionnaireResponse': 'survey',
    'RiskAssessment': 'survey',
    'Specimen': 'lab',
    'VisionPrescription': 'other',
}


@pytest.fixture(scope="module")
def deposited(harness):
    """Every patient of the corpus enrolled (one by an identifier only), a hospital, and every
    resource deposited: file -> the PutRecord reply, or the RpcError."""
    patients = {}
    for patient_id, identifiers in MANIFEST["patients"].items():
        identity = SigningKey.generate()
        harness.operator.registry.EnrollPatient(registry_pb2.EnrollPatientRequest(
            patient_id=patient_id, identity_public_key=bytes(identity.verify_key),
            identifiers=[registry_pb2.PatientIdentifier(**i) for i in identifiers]))
        patients[patient_id] = Person(patient_id, harness.client(Caller("patient:" + patient_id, identity)), identity)
    hospital = harness.org()
    outcomes = {}
    for item in MANIFEST["resources"]:
        body = (CORPUS / item["file"]).read_bytes()
        try:
            outcomes[item["file"]] = hospital.client.exchange.PutRecord(
                exchange_pb2.PutRecordRequest(patient_id=item["patient"], fhir_json=body))
        except Exception as error:  # grpc.RpcError; asserted below
            outcomes[item["file"]] = error
    return patients, outcomes


def accepted(outcomes) -> dict[str, exchange_pb2.RecordMetadata]:
    return {f: o.record for f, o in outcomes.items() if isinstance(o, exchange_pb2.PutRecordResponse)}


def test_the_corpus_is_what_its_manifest_says():
    assert len(MANIFEST["resources"]) == 393
    for item in MANIFEST["resources"]:
        path = CORPUS / item["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == item["sha256"], item["file"]
        assert json.loads(path.read_bytes())["resourceType"] == item["resourceType"]


def test_acceptance_by_type(deposited):
    _, outcomes = deposited
    types = {i["file"]: i["resourceType"] for i in MANIFEST["resources"]}
    counts: Counter = Counter()
    for file, outcome in outcomes.items():
        counts[types[file], isinstance(outcome, exchange_pb2.PutRecordResponse)] += 1
    got = {t: (counts[t, True], counts[t, False]) for t in sorted(set(types.values()))}
    assert got == ACCEPTED_AND_REFUSED


def test_each_refusal_names_the_field(deposited):
    _, outcomes = deposited
    refused = {f: o for f, o in outcomes.items() if not isinstance(o, exchange_pb2.PutRecordResponse)}
    assert {f: list(field_violations(o)) for f, o in refused.items()} == {f: [field] for f, field in REFUSED.items()}


def test_every_labelled_resource_is_labelled_exactly_so(deposited):
    _, outcomes = deposited
    records = accepted(outcomes)
    assert {f: list(r.labels) for f, r in records.items() if r.labels} == LABELS
    for file in LABELS:
        assert all(reason.element for reason in records[file].label_reasons)


def test_every_resource_is_filed_under_its_category(deposited):
    _, outcomes = deposited
    records = accepted(outcomes)
    assert {f: records[f].category for f in CATEGORIES} == CATEGORIES
    for file, record in records.items():
        if file not in CATEGORIES:
            assert record.category == CATEGORY_OF_TYPE[record.resource_type], file


def test_an_ips_document_is_filed_for_the_patient_enrolled_with_its_national_id(deposited):
    _, outcomes = deposited
    records = accepted(outcomes)
    for file in ("hl7.fhir.uv.ips/Bundle-IPS-examples-Bundle-01.json", "hl7.fhir.uv.ips/Bundle-bundle-minimal.json"):
        assert records[file].patient_id == "ips-nl-574687583"


def test_a_broad_consent_shares_every_record_but_the_sensitive_ones_and_names_none_of_those(harness, deposited):
    _, outcomes = deposited
    records = accepted(outcomes)
    patients, _ = deposited
    doctor = harness.org()
    by_patient: dict[str, list] = {}
    for record in records.values():
        by_patient.setdefault(record.patient_id, []).append(record)
    sensitive = {r.record_id for r in records.values() if is_sensitive(r.category, r.labels)}
    assert sensitive == {records[f].record_id for f, labels in LABELS.items() if set(labels) != {"N"}}
    for patient_id, theirs in sorted(by_patient.items()):
        grant(patients[patient_id], doctor, ["*"])
        got = list(doctor.client.fetch(patient_id, "TREAT", recipient_key=doctor.encryption,
                                       service_key=harness.service_key))
        expected = {r.record_id for r in theirs if r.record_id not in sensitive}
        assert {g.record_id for g in got if g.shared} == expected, patient_id
        assert not {g.record_id for g in got} & sensitive, patient_id
        bodies = {r.record_id: f for f, r in records.items()}
        for g in got:
            assert g.body == (CORPUS / bodies[g.record_id]).read_bytes()
