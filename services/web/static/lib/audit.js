// AuditService over gRPC-Web (proto/consentry/v1/audit.proto): each call signed by the caller's
// own key. Field numbers are the proto's.

import { call } from "./grpcweb.js";
import { decode, encode } from "./proto.js";
import { callToken } from "./token.js";

const SERVICE = "/consentry.v1.AuditService/";

export class AuditClient {
  constructor(key, principal) {
    this.key = key;
    this.principal = principal;
  }

  async unary(name, request) {
    const method = SERVICE + name;
    const [response] = await call(method, request, await callToken(this.key, this.principal, method, request));
    return decode(response || new Uint8Array(0));
  }

  // The latest checkpoint as the server states it; the page believes only the note's signature.
  async checkpoint(refresh) {
    const checkpoint = (await this.unary("GetCheckpoint", encode([[1, "uint", refresh]]))).message(1);
    return { note: checkpoint.string(1), treeSize: checkpoint.uint(2), time: checkpoint.message(4).uint(1) };
  }

  async entries(start, pageSize) {
    const page = await this.unary("ListEntries", encode([[1, "uint", start], [2, "uint", pageSize]]));
    const entries = page.repeated(1).map((bytes) => {
      const entry = decode(bytes);
      return { seq: entry.uint(1), entry: entry.bytes(2) };
    });
    return { entries, nextStart: page.uint(2) };
  }

  async inclusionProof(seq, treeSize) {
    const proof = await this.unary("GetInclusionProof", encode([[1, "uint", seq], [2, "uint", treeSize]]));
    return proof.repeated(4);
  }

  async consistencyProof(oldSize, newSize) {
    const proof = await this.unary("GetConsistencyProof", encode([[1, "uint", oldSize], [2, "uint", newSize]]));
    return proof.repeated(3);
  }
}
