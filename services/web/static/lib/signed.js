// Calls to any of our services over gRPC-Web, each signed by the caller's own key for its exact
// request bytes (lib/token.js): the base of the pages' per-service modules.

import { call, stream } from "./grpcweb.js";
import { decode } from "./proto.js";
import { callToken } from "./token.js";

export class SignedClient {
  // `key` from lib/keystore.js; `principal` e.g. "patient:P123".
  constructor(key, principal, service) {
    this.key = key;
    this.principal = principal;
    this.service = `/consentry.v1.${service}/`;
  }

  async token(method, request) {
    return callToken(this.key, this.principal, method, request);
  }

  // One response message, decoded (lib/proto.js Message).
  async unary(name, request) {
    const method = this.service + name;
    const [response] = await call(method, request, await this.token(method, request));
    return decode(response || new Uint8Array(0));
  }

  // Each response message of a server stream, decoded, as it arrives; `signal` ends it.
  async* stream(name, request, signal) {
    const method = this.service + name;
    for await (const message of stream(method, request, await this.token(method, request), signal)) {
      yield decode(message);
    }
  }
}

// A protobuf Timestamp's seconds as a JS Date (or null when unset).
export function timeOf(message) {
  const seconds = message.uint(1);
  return seconds ? new Date(Number(BigInt.asIntN(64, seconds)) * 1000) : null;
}

// A Date as an encoded protobuf Timestamp.
export function timestamp(date) {
  return [[1, "uint", BigInt(Math.floor(date.getTime() / 1000))]];
}
