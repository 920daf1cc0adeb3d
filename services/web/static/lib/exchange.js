// ExchangeService over gRPC-Web for the patient portal: record metadata (never content) and the
// patient's own home readings. Field numbers are the proto's.

import { toBase64Url, utf8 } from "./bytes.js";
import { encode } from "./proto.js";
import { SignedClient, timeOf } from "./signed.js";

// RecordMetadata.patient_reported (a reading the patient added, PutObservation).
export const PATIENT_REPORTED_FIELD = 14;

export function recordMetadata(m) {
  return { recordId: m.string(1), holder: m.string(3), resourceType: m.string(4), category: m.string(5),
    labels: m.strings(6), effectiveTime: timeOf(m.message(7)), createTime: timeOf(m.message(8)),
    erased: m.uint(9) === 1n, patientReported: m.uint(PATIENT_REPORTED_FIELD) === 1n };
}

export class ExchangeClient extends SignedClient {
  constructor(key, principal) {
    super(key, principal, "ExchangeService");
  }

  async records(patientId) {
    const out = [];
    let token = "";
    for (let pages = 0; pages < 50; pages++) {
      const page = await this.unary("ListRecords", encode([[1, "string", patientId], [2, "uint", 100], [3, "string", token]]));
      out.push(...page.messages(1).map(recordMetadata));
      token = page.string(2);
      if (!token) break;
    }
    return out;
  }

  // Adds a home reading (a FHIR R4 Observation, lib/observation.js) to the patient's records.
  async putObservation(patientId, observation) {
    const answer = await this.unary("PutObservation", encode([[1, "string", patientId],
      [2, "bytes", utf8(JSON.stringify(observation))],
      [3, "string", toBase64Url(crypto.getRandomValues(new Uint8Array(16)))]]));
    return recordMetadata(answer.message(1));
  }
}
