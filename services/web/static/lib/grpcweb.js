// gRPC-Web (application/grpc-web+proto) over fetch to the page's own origin: the server's front
// door forwards each call unchanged to the gRPC services (docs/web.md).

import { concat } from "./bytes.js";

export const STATUS_NAMES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
  "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
  "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"];

export class GrpcError extends Error {
  constructor(code, message) {
    super(`${STATUS_NAMES[code] || code}: ${message}`);
    this.code = code;
    this.status = STATUS_NAMES[code] || String(code);
    this.details = message;
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
export async function* stream(method, request, token) {
  const response = await fetch(method, {
    method: "POST",
    headers: { "Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1", Authorization: `Bearer ${token}` },
    body: frame(request),
    cache: "no-store",
  });
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
  if (code !== 0) throw new GrpcError(code, decodeURIComponent(trailers["grpc-message"] || ""));
}

// The response messages of one call (one for a unary call); throws GrpcError on a non-OK status.
export async function call(method, request, token) {
  const messages = [];
  for await (const message of stream(method, request, token)) messages.push(message);
  return messages;
}
