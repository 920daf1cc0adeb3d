// Consent receipts (docs/receipts.md): an RFC 8785 JSON statement of one consent change, signed
// by the service with Ed25519 over a domain-separated message, checked here against the
// service's key. A receipt file is the three parts as JSON, the statement and signature base64.

import { concat, equal, fromBase64, fromUtf8, toBase64, utf8 } from "./bytes.js";
import { canonicalJson } from "./canonical.js";

export const FORMAT = "consentry-consent-receipt/1";
export const DOMAIN = "consentry-consent-receipt-v1\n";

// A ConsentReceipt message (lib/proto.js Message) as { statement, signature, keyId }.
export function receiptOf(m) {
  return { statement: m.bytes(1), signature: m.bytes(2), keyId: m.string(3) };
}

export function receiptFile(receipt) {
  return JSON.stringify({ format: FORMAT, statement: toBase64(receipt.statement),
    signature: toBase64(receipt.signature), key_id: receipt.keyId }, null, 2);
}

export function parseReceiptFile(text) {
  const file = JSON.parse(text);
  return { statement: fromBase64(file.statement), signature: fromBase64(file.signature), keyId: file.key_id };
}

// The statement, parsed, once its signature by `publicKey` (raw Ed25519) checks and it is in
// canonical form and of our format; throws otherwise.
export async function verifyReceipt(receipt, publicKey) {
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  const signed = concat(utf8(DOMAIN), receipt.statement);
  if (!(await crypto.subtle.verify({ name: "Ed25519" }, key, receipt.signature, signed))) {
    throw new Error("the signature does not match the statement");
  }
  const statement = JSON.parse(fromUtf8(receipt.statement));
  if (!equal(canonicalJson(statement), receipt.statement)) throw new Error("the statement is not in canonical form");
  if (statement.format !== FORMAT) throw new Error(`the statement is not a ${FORMAT}`);
  return statement;
}
