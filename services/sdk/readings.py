"""FHIR R4 Observations for home readings, as ExchangeService.PutObservation takes them
(docs/readings.md): blood pressure, glucose, body weight and heart rate, each a vital-signs
Observation with a LOINC code and a UCUM quantity, about the patient who took it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
_VITAL_SIGNS = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                             "code": "vital-signs", "display": "Vital Signs"}]}]
# Glucose in blood (by test strip) in each unit a meter shows.
GLUCOSE_CODES = {"mg/dL": "2339-0", "mmol/L": "15074-8"}


def blood_pressure(patient_id: str, systolic: float, diastolic: float, at: datetime) -> bytes:
    """A blood-pressure panel (LOINC 85354-9) with its systolic and diastolic components, mm[Hg]."""
    body = _observation(patient_id, "85354-9", "Blood pressure panel", at)
    body["component"] = [
        {"code": _code("8480-6", "Systolic blood pressure"), "valueQuantity": _quantity(systolic, "mm[Hg]", "mmHg")},
        {"code": _code("8462-4", "Diastolic blood pressure"), "valueQuantity": _quantity(diastolic, "mm[Hg]", "mmHg")},
    ]
    return _json(body)


def glucose(patient_id: str, value: float, unit: str, at: datetime) -> bytes:
    """Blood glucose in mg/dL (LOINC 2339-0) or mmol/L (LOINC 15074-8)."""
    if unit not in GLUCOSE_CODES:
        raise ValueError("glucose unit must be one of " + ", ".join(GLUCOSE_CODES))
    return _single(patient_id, GLUCOSE_CODES[unit], "Glucose", value, unit, unit, at)


def weight(patient_id: str, kg: float, at: datetime) -> bytes:
    """Body weight in kg (LOINC 29463-7)."""
    return _single(patient_id, "29463-7", "Body weight", kg, "kg", "kg", at)


def heart_rate(patient_id: str, per_minute: float, at: datetime) -> bytes:
    """Heart rate in beats per minute (LOINC 8867-4)."""
    return _single(patient_id, "8867-4", "Heart rate", per_minute, "/min", "beats/minute", at)


def _single(patient_id: str, code: str, display: str, value: float, ucum: str, unit: str, at: datetime) -> bytes:
    body = _observation(patient_id, code, display, at)
    body["valueQuantity"] = _quantity(value, ucum, unit)
    return _json(body)


def _observation(patient_id: str, code: str, display: str, at: datetime) -> dict[str, Any]:
    when = (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat(timespec="seconds")
    return {"resourceType": "Observation", "status": "final", "category": _VITAL_SIGNS,
            "code": _code(code, display), "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": when}


def _code(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


def _quantity(value: float, ucum: str, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": ucum}


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
