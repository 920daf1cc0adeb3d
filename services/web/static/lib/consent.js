// ConsentService over gRPC-Web (proto/consentry/v1/consent.proto) for the patient portal: each
// call signed by the caller's own key. Field numbers are the proto's; messages become plain
// objects here and back.

import { toBase64Url } from "./bytes.js";
import { encode } from "./proto.js";
import { SignedClient, timeOf, timestamp } from "./signed.js";

export const SCOPE = { "manage-consents": 1, "read-history": 2, "report-readings": 3 };
export const REQUEST_STATUS = ["", "pending", "approved", "declined", "expired"];
export const CONSENT_STATUS = ["", "active", "revoked", "expired", "superseded"];
export const NOTICE_KIND = ["", "access-requested", "emergency-access", "record-amended"];

const idempotency = () => toBase64Url(crypto.getRandomValues(new Uint8Array(16)));

export function period(m) {
  return { start: timeOf(m.message(1)), end: timeOf(m.message(2)) };
}

function encodePeriod(p) {
  if (!p) return new Uint8Array(0);
  return encode([[1, "bytes", p.start ? encode(timestamp(p.start)) : new Uint8Array(0)],
    [2, "bytes", p.end ? encode(timestamp(p.end)) : new Uint8Array(0)]]);
}

export function noticeRef(m) {
  return { noticeId: m.string(1), version: Number(m.uint(2)), contentHash: m.bytes(3) };
}

export function encodeNoticeRef(ref) {
  return encode([[1, "string", ref.noticeId], [2, "uint", ref.version], [3, "bytes", ref.contentHash]]);
}

export function terms(m) {
  return { kind: Number(m.uint(1)), categories: m.strings(2), purposes: m.strings(3), dataPeriod: period(m.message(4)),
    validity: period(m.message(5)), excepted: m.strings(6) };
}

export function encodeTerms(t) {
  return encode([[1, "uint", t.kind || 0], ...t.categories.map((c) => [2, "string", c]),
    ...t.purposes.map((p) => [3, "string", p]), [4, "bytes", encodePeriod(t.dataPeriod)],
    [5, "bytes", encodePeriod(t.validity)], ...(t.excepted || []).map((c) => [6, "string", c])]);
}

export function consent(m) {
  return { consentId: m.string(1), version: Number(m.uint(2)), patientId: m.string(3), grantee: m.string(4),
    kind: Number(m.uint(5)), categories: m.strings(6), purposes: m.strings(7), dataPeriod: period(m.message(8)),
    validity: period(m.message(9)), excepted: m.strings(10), status: CONSENT_STATUS[Number(m.uint(11))] || "",
    createdBy: m.string(12), createTime: timeOf(m.message(13)), notice: noticeRef(m.message(17)) };
}

export function accessRequest(m) {
  return { requestId: m.string(1), patientId: m.string(2), requester: m.string(3), terms: terms(m.message(4)),
    reason: m.string(5), status: REQUEST_STATUS[Number(m.uint(6))] || "", createTime: timeOf(m.message(7)),
    expireTime: timeOf(m.message(8)), consentId: m.string(11), notice: noticeRef(m.message(12)) };
}

export function accessEvent(m) {
  return { seq: m.uint(1), time: timeOf(m.message(2)), institution: m.string(3), role: m.string(4),
    practitioner: m.string(5), purpose: m.string(6), recordId: m.string(7), category: m.string(8),
    allowed: m.uint(9) === 1n, reasons: m.strings(10), consentIds: m.strings(11), emergency: m.uint(12) === 1n,
    emergencyId: m.string(14) };
}

export function patientNotice(m) {
  return { noticeId: m.string(1), kind: NOTICE_KIND[Number(m.uint(3))] || "", subject: m.string(4),
    createTime: timeOf(m.message(5)) };
}

function proxy(m) {
  const names = Object.fromEntries(Object.entries(SCOPE).map(([name, n]) => [n, name]));
  return { patientId: m.string(1), proxyId: m.string(2), scopes: m.numbers(3).map((n) => names[n] || String(n)),
    relationship: m.string(4), expireTime: timeOf(m.message(6)), active: m.uint(7) === 1n };
}

export class ConsentClient extends SignedClient {
  constructor(key, principal) {
    super(key, principal, "ConsentService");
  }

  // Every page of a list call, its items decoded by `item`.
  async all(name, fields, item, pageSizeField, pageTokenField) {
    const out = [];
    let token = "";
    for (let pages = 0; pages < 50; pages++) {
      const page = await this.unary(name, encode([...fields, [pageSizeField, "uint", 100], [pageTokenField, "string", token]]));
      out.push(...page.messages(1).map(item));
      token = page.string(2);
      if (!token) break;
    }
    return out;
  }

  accessRequests(patientId, status = 1) {
    return this.all("ListAccessRequests", [[1, "string", patientId], [2, "uint", status]], accessRequest, 3, 4);
  }

  // `narrower`: terms within those asked, or null for as asked. The whole response: its
  // `receipt` (when the service gives one) is read by lib/receipts.js.
  approve(requestId, narrower) {
    return this.unary("ApproveAccessRequest", encode([[1, "string", requestId],
      [2, "bytes", narrower ? encodeTerms(narrower) : new Uint8Array(0)], [3, "string", idempotency()]]));
  }

  decline(requestId) {
    return this.unary("DeclineAccessRequest", encode([[1, "string", requestId], [3, "string", idempotency()]]));
  }

  consents(patientId, includeInactive = false) {
    return this.all("ListConsents", [[1, "string", patientId], [2, "uint", includeInactive]], consent, 3, 4);
  }

  grant(patientId, grantee, t, ref) {
    return this.unary("GrantConsent", encode([[1, "string", patientId], [2, "string", grantee],
      [3, "bytes", encodeTerms(t)], [4, "string", idempotency()], [5, "bytes", encodeNoticeRef(ref)]]));
  }

  narrow(consentId, t) {
    return this.unary("NarrowConsent", encode([[1, "string", consentId], [2, "bytes", encodeTerms(t)],
      [3, "string", idempotency()]]));
  }

  revoke(consentId) {
    return this.unary("RevokeConsent", encode([[1, "string", consentId], [3, "string", idempotency()]]));
  }

  async proxies(patientId) {
    return (await this.unary("ListProxies", encode([[1, "string", patientId]]))).messages(1).map(proxy);
  }

  addProxy(patientId, proxyId, scopes, relationship) {
    return this.unary("AddProxy", encode([[1, "string", patientId], [2, "string", proxyId],
      ...scopes.map((s) => [3, "uint", SCOPE[s]]), [4, "string", relationship], [6, "string", idempotency()]]));
  }

  removeProxy(patientId, proxyId) {
    return this.unary("RemoveProxy", encode([[1, "string", patientId], [2, "string", proxyId],
      [3, "string", idempotency()]]));
  }

  history(patientId) {
    return this.all("GetAccessHistory", [[1, "string", patientId]], accessEvent, 2, 3);
  }

  async emergency(emergencyId) {
    const access = (await this.unary("GetEmergencyAccess", encode([[1, "string", emergencyId]]))).message(1);
    return { recipient: access.string(3), practitioner: access.string(4), role: access.string(5),
      justification: access.string(8), time: timeOf(access.message(9)) };
  }

  // The notices not yet marked read (ListNotices), oldest first.
  unreadNotices(patientId) {
    return this.all("ListNotices", [[1, "string", patientId], [2, "uint", true]], patientNotice, 3, 4);
  }

  markNoticesRead(patientId, noticeIds) {
    return this.unary("MarkNoticesRead", encode([[1, "string", patientId], ...noticeIds.map((id) => [2, "string", id]),
      [3, "string", idempotency()]]));
  }

  // What the grantee could see under these terms (PreviewConsent).
  async preview(patientId, grantee, t) {
    const answer = await this.unary("PreviewConsent", encode([[1, "string", patientId], [2, "string", grantee],
      [3, "bytes", encodeTerms(t)]]));
    const group = (m) => ({ category: m.string(1), holder: m.string(2), purpose: m.string(3),
      count: Number(m.uint(4)), reasons: m.strings(5) });
    return { shared: answer.messages(1).map(group), withheld: answer.messages(2).map(group) };
  }

  // The live feed (WatchAccess): { access } or { notice } or { heartbeat } per message.
  async* watch(patientId, afterSeq, signal) {
    const request = encode([[1, "string", patientId], [2, "uint", afterSeq]]);
    for await (const m of this.stream("WatchAccess", request, signal)) {
      if (m.has(1)) yield { access: accessEvent(m.message(1)) };
      else if (m.has(2)) yield { notice: patientNotice(m.message(2)) };
      else yield { heartbeat: true };
    }
  }
}
