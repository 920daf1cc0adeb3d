// gRPC-Web (application/grpc-web+proto) over fetch to the page's own origin: the server's front
// door forwards each call unchanged to the gRPC services (docs/web.md).

import { concat } from "./bytes.js";
import { decode } from "./proto.js";

export const STATUS_NAMES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
  "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
  "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"];

const BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest";

// `violations`: the field violations ({ field, description }) of the google.rpc.BadRequest in
// the call's grpc-status-details-bin trailer, as the service names them.
export class GrpcError extends Error {
  constructor(code, message, violations = []) {
    super(`${STATUS_NAMES[code] || code}: ${message}`);
    this.code = code;
    this.status = STATUS_NAMES[code] || String(code);
    this.details = message;
    this.violations = violations;
  }
}

// google.rpc.Status (base64, padding optional) -> the BadRequest field violations it carries.
function fieldViolations(encoded) {
  if (!encoded) return [];
  try {
    const binary = atob(encoded.padEnd(Math.ceil(encoded.length / 4) * 4, "="));
    const status = decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    const out = [];
    for (const bytes of status.repeated(3)) {
      const any = decode(bytes);
      if (any.string(1) !== BAD_REQUEST) continue;
      for (const v of any.message(2).repeated(1)) {
        const violation = decode(v);
        out.push({ field: violation.string(1), description: violation.string(2) });
      }
    }
    return out;
  } catch {
    return [];
  }
}

function frame(message) {
  const header = new Uint8Array(5);
  new DataView(header.buffer).setUint32(1, message.length);
  return concat(header, message);
}

function parseTrailers(bytes) {
  const trailers = {};
  for (const line of new TextDecoder().decode(bytes).split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return trailers;
}

// Each response message of a call as it arrives (server streaming; a unary call yields one);
// throws GrpcError when the call ends with a non-OK status. Breaking out of the loop cancels the
// call.
export async function* stream(method, request, token, signal = undefined) {
  const response = await fetch(method, {
    signal,
    method: "POST",
    // No token (null) for the one call made before a key is enrolled (RedeemEnrolmentCode).
    headers: { "Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1",
      ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: frame(request),
    cache: "no-store",
  });
  if (response.status === 404) throw new GrpcError(12, `${method} is not served here`);
  if (!response.ok) throw new GrpcError(2, `HTTP ${response.status}`);
  const reader = response.body.getReader();
  let buffer = new Uint8Array(0);
  let trailers = null;
  try {
    for (;;) {
      while (buffer.length >= 5) {
        const length = new DataView(buffer.buffer, buffer.byteOffset + 1, 4).getUint32(0);
        if (buffer.length < 5 + length) break;
        const flag = buffer[0];
        const payload = buffer.slice(5, 5 + length);
        buffer = buffer.slice(5 + length);
        if (flag & 0x80) trailers = parseTrailers(payload);
        else yield payload;
      }
      const { value, done } = await reader.read();
      if (done) break;
      buffer = concat(buffer, value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  if (trailers === null) throw new GrpcError(2, "the answer ended without a status");
  const code = Number(trailers["grpc-status"]);
  if (code !== 0) {
    throw new GrpcError(code, decodeURIComponent(trailers["grpc-message"] || ""),
      fieldViolations(trailers["grpc-status-details-bin"]));
  }
}

// The response messages of one call (one for a unary call); throws GrpcError on a non-OK status.
export async function call(method, request, token) {
  const messages = [];
  for await (const message of stream(method, request, token)) messages.push(message);
  return messages;
}
