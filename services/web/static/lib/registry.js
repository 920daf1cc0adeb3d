// RegistryService over gRPC-Web for the patient portal: institutions' names, their privacy
// notices (each checked against its content hash here), the service keys, and enrolment by a
// one-time code.

import { concat, equal, sha256, utf8 } from "./bytes.js";
import { canonicalJson } from "./canonical.js";
import { call } from "./grpcweb.js";
import { decode, encode } from "./proto.js";
import { SignedClient } from "./signed.js";

const NOTICE_FORMAT = "consentry-privacy-notice/1";
const LANGUAGES = ["en", "zh-Hans"];
const PARTS = ["recipient_legal_name", "recipient_contact", "purpose_description", "handling_method",
  "necessity_and_impact", "retention", "how_to_withdraw"];

function notice(m) {
  const texts = {};
  for (const t of m.messages(6)) {
    texts[t.string(1)] = Object.fromEntries(PARTS.map((part, i) => [part, t.string(i + 2)]));
  }
  return { noticeId: m.string(1), version: Number(m.uint(2)), institutionId: m.string(3), purposes: m.strings(4),
    categories: m.strings(5), texts, contentHash: m.bytes(8) };
}

// The content hash of docs/notices.md, computed here from the notice's parts alone.
export async function noticeContentHash(n) {
  const document = { format: NOTICE_FORMAT, notice_id: n.noticeId, version: n.version, institution_id: n.institutionId,
    purposes: [...n.purposes].sort(), categories: [...n.categories].sort(),
    texts: LANGUAGES.filter((lang) => n.texts[lang]).map((lang) => ({ language: lang, ...n.texts[lang] })) };
  return sha256(canonicalJson(document));
}

export class NoticeMismatch extends Error {}

export class RegistryClient extends SignedClient {
  constructor(key, principal) {
    super(key, principal, "RegistryService");
    this.names = new Map();
  }

  // The institution's display name (cached); its id when it cannot be read.
  async institutionName(id) {
    if (!this.names.has(id)) {
      try {
        const inst = (await this.unary("GetInstitution", encode([[1, "string", id]]))).message(1);
        this.names.set(id, inst.string(2) || id);
      } catch {
        return id;
      }
    }
    return this.names.get(id);
  }

  async institutions() {
    const page = await this.unary("ListInstitutions", encode([[1, "uint", 200]]));
    return page.messages(1).map((m) => ({ id: m.string(1), name: m.string(2), kind: Number(m.uint(3)) }));
  }

  // The notice version (0: the latest) and the NoticeRef to send, refused (NoticeMismatch) when
  // the hash computed here differs from the one the server states: the patient would be shown
  // one text and bound to another.
  async notice(noticeId, version = 0) {
    const answer = await this.unary("GetPrivacyNotice", encode([[1, "string", noticeId], [2, "uint", version]]));
    const n = notice(answer.message(1));
    const ref = answer.message(2);
    const computed = await noticeContentHash(n);
    if (!equal(computed, n.contentHash) || !equal(computed, ref.bytes(3)) || ref.string(1) !== n.noticeId
        || Number(ref.uint(2)) !== n.version) {
      throw new NoticeMismatch(`${n.noticeId} v${n.version}`);
    }
    return { notice: n, ref: { noticeId: n.noticeId, version: n.version, contentHash: computed } };
  }

  async serviceKeys() {
    const keys = await this.unary("GetServiceKeys", new Uint8Array(0));
    return { shareSigning: keys.bytes(1), ledgerVerifier: keys.string(2) };
  }
}

// Enrols this browser's key with a one-time code the operator or an institution gave the
// patient (no token: the key is not enrolled yet), or replaces a lost device's key with it (the
// earlier keys are revoked). The proof is the new key's signature over the domain-separated,
// normalised code and the key (docs/identity.md, "Enrolment codes"), so a code intercepted on
// its way enrols no other key than the one that signed.
export const REDEEM_DOMAIN = "consentry/enrolment-code/v1";

// Case-insensitive, hyphens and spaces ignored, I and L read as 1, O as 0 (Crockford base32).
export function normaliseCode(code) {
  return code.toUpperCase().replace(/[\s-]/g, "").replace(/[IL]/g, "1").replace(/O/g, "0");
}

export async function redeemEnrolmentCode(key, code) {
  const normalised = normaliseCode(code);
  const message = concat(utf8(REDEEM_DOMAIN), new Uint8Array([0]), utf8(normalised), new Uint8Array([0]), key.publicKey);
  const proof = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, message));
  const request = encode([[1, "string", code], [2, "bytes", key.publicKey], [3, "bytes", proof]]);
  const [answer] = await call("/consentry.v1.RegistryService/RedeemEnrolmentCode", request, null);
  const m = decode(answer || new Uint8Array(0));
  return { patientId: m.string(1), keyId: m.string(2) };
}
