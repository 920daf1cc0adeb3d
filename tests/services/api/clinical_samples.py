"""FHIR R4 resources of the kinds real feeds send, built for a given patient: the sensitive
examples of docs/labelling.md, each coded as a hospital system codes it and with no security
label or category from the holder."""

from __future__ import annotations

import json

SNOMED, LOINC = "http://snomed.info/sct", "http://loinc.org"
RXNORM, ICD10 = "http://www.nlm.nih.gov/research/umls/rxnorm", "http://hl7.org/fhir/sid/icd-10"


def body(resource: dict) -> bytes:
    return json.dumps(resource).encode()


def concept(system: str, code: str, display: str = "") -> dict:
    return {"coding": [{"system": system, "code": code, **({"display": display} if display else {})}]}


def termination_of_pregnancy(patient: str) -> dict:
    return {"resourceType": "Procedure", "status": "completed", "subject": {"reference": f"Patient/{patient}"},
            "code": concept(SNOMED, "714812005", "Induced termination of pregnancy (procedure)"),
            "performedDateTime": "2026-03-02T10:00:00Z"}


def opioid_abuse(patient: str) -> dict:
    return {"resourceType": "Condition", "subject": {"reference": f"Patient/{patient}"},
            "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
            "code": concept(SNOMED, "5602001", "Opioid abuse (disorder)"), "onsetDateTime": "2025-11-20"}


def alcoholism_counselling(patient: str) -> dict:
    return {"resourceType": "Procedure", "status": "completed", "subject": {"reference": f"Patient/{patient}"},
            "code": concept(SNOMED, "24165007", "Alcoholism counseling (procedure)"),
            "performedPeriod": {"start": "2026-01-10T09:00:00Z", "end": "2026-01-10T09:45:00Z"}}


def depression_screening(patient: str) -> dict:
    return {"resourceType": "Observation", "status": "final", "subject": {"reference": f"Patient/{patient}"},
            "category": [concept("http://terminology.hl7.org/CodeSystem/observation-category", "survey")],
            "code": concept(LOINC, "44249-1", "PHQ-9 quick depression assessment panel [Reported.PHQ]"),
            "effectiveDateTime": "2026-02-14T11:00:00Z",
            "component": [{"code": concept(LOINC, "44261-6"), "valueInteger": 14}]}


def ssri_prescription(patient: str, reason: dict | None = None) -> dict:
    """Sertraline, coded in RxNorm as a prescriber's system sends it; for depression unless `reason`."""
    return {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "subject": {"reference": f"Patient/{patient}"}, "authoredOn": "2026-02-14",
            "medicationCodeableConcept": concept(RXNORM, "312938", "Sertraline 100 MG Oral Tablet"),
            "reasonCode": [reason or concept(SNOMED, "35489007", "Depressive disorder")]}


def familial_alzheimers(patient: str) -> dict:
    return {"resourceType": "Condition", "subject": {"reference": f"Patient/{patient}"},
            "code": concept(SNOMED, "230265002", "Familial Alzheimer's disease of early onset (disorder)"),
            "recordedDate": "2026-04-01"}


def lab_result(patient: str) -> dict:
    return {"resourceType": "Observation", "status": "final", "subject": {"reference": f"Patient/{patient}"},
            "category": [concept("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")],
            "code": concept(LOINC, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma"),
            "effectiveDateTime": "2026-02-14T08:00:00Z", "valueQuantity": {"value": 0.9, "unit": "mg/dL"}}


# title -> (builder, the labels the service derives, the category it files it under)
SENSITIVE = {
    "induced termination of pregnancy": (termination_of_pregnancy, ["SEX"], "procedure"),
    "opioid abuse": (opioid_abuse, ["OPIOIDUD"], "condition"),
    "alcoholism counselling": (alcoholism_counselling, ["SUD"], "procedure"),
    "depression screening (PHQ-9)": (depression_screening, ["PSY"], "survey"),
    "SSRI prescription for depression": (ssri_prescription, ["PSY"], "medication"),
    "familial Alzheimer's disease": (familial_alzheimers, ["GDIS"], "condition"),
}
