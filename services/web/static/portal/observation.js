// A home reading as a FHIR R4 vital-signs Observation (LOINC-coded, UCUM units), performed by
// the patient: what PutObservation files as a patient-reported record.

const LOINC = "http://loinc.org";
const UCUM = "http://unitsofmeasure.org";

export const READINGS = {
  bp: { code: "85354-9", display: "Blood pressure panel with all children optional",
    components: [["8480-6", "Systolic blood pressure", "mm[Hg]", "mmHg"], ["8462-4", "Diastolic blood pressure", "mm[Hg]", "mmHg"]] },
  glucose: { code: "2339-0", display: "Glucose [Mass/volume] in Blood", unit: ["mg/dL", "mg/dL"] },
  weight: { code: "29463-7", display: "Body weight", unit: ["kg", "kg"] },
  "heart-rate": { code: "8867-4", display: "Heart rate", unit: ["/min", "beats/minute"] },
};

// The value fields a reading needs: [name, unit shown].
export function fields(kind) {
  const reading = READINGS[kind];
  return reading.components ? reading.components.map(([code, , , unit]) => [code, unit]) : [[reading.code, reading.unit[1]]];
}

function quantity(value, code, unit) {
  return { value, unit, system: UCUM, code };
}

// `values`: the numbers typed, by LOINC code; `when`: a Date.
export function observation(kind, patientId, values, when) {
  const reading = READINGS[kind];
  const resource = {
    resourceType: "Observation",
    status: "final",
    category: [{ coding: [{ system: "http://terminology.hl7.org/CodeSystem/observation-category", code: "vital-signs",
      display: "Vital Signs" }] }],
    code: { coding: [{ system: LOINC, code: reading.code, display: reading.display }] },
    subject: { reference: `Patient/${patientId}` },
    performer: [{ reference: `Patient/${patientId}` }],
    effectiveDateTime: when.toISOString().replace(/\.\d{3}Z$/, "Z"),
  };
  if (reading.components) {
    resource.component = reading.components.map(([code, display, ucum, unit]) => ({
      code: { coding: [{ system: LOINC, code, display }] }, valueQuantity: quantity(values[code], ucum, unit) }));
  } else {
    resource.valueQuantity = quantity(values[reading.code], reading.unit[0], reading.unit[1]);
  }
  return resource;
}
