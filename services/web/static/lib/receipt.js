// Consent receipts (docs/receipts.md), checked here by its steps 1 to 4: the key id names the
// service key, the Ed25519 signature over "consentry-consent-receipt/1" 0x00 || statement
// verifies under it, the statement is RFC 8785 canonical JSON of our format naming that key id.
// A receipt file is the ConsentReceipt message in protobuf's JSON form, as the CLI writes it.

import { concat, equal, fromUtf8, toBase64, utf8 } from "./bytes.js";
import { canonicalJson } from "./canonical.js";
import { keyId } from "./keystore.js";

export const FORMAT = "consentry-consent-receipt/1";

// A ConsentReceipt message (lib/proto.js Message) as { statement, signature, keyId }.
export function receiptOf(m) {
  return { statement: m.bytes(1), signature: m.bytes(2), keyId: m.string(3) };
}

export function receiptFile(receipt) {
  return `${JSON.stringify({ statement: toBase64(receipt.statement), signature: toBase64(receipt.signature),
    keyId: receipt.keyId }, null, 2)}\n`;
}

// protobuf's JSON mapping accepts standard or URL-safe base64, padded or not.
function bytesOf(text, name) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) throw new Error(`${name} is not base64`);
  const standard = text.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  const binary = atob(standard.padEnd(Math.ceil(standard.length / 4) * 4, "="));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export function parseReceiptFile(text) {
  let file;
  try {
    file = JSON.parse(text);
  } catch {
    throw new Error("the file is not JSON");
  }
  if (!file || typeof file !== "object") throw new Error("the file is not a receipt");
  return { statement: bytesOf(file.statement, "statement"), signature: bytesOf(file.signature, "signature"),
    keyId: String(file.keyId ?? file.key_id ?? "") };
}

// The statement, parsed, once every check passes under `publicKey` (the service's raw 32-byte
// share-signing key); throws an Error saying which check failed otherwise.
export async function verifyReceipt(receipt, publicKey) {
  if (receipt.keyId !== (await keyId(publicKey))) throw new Error(`it names key ${receipt.keyId}, not the service's key`);
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  const signed = concat(utf8(FORMAT), new Uint8Array([0]), receipt.statement);
  if (!(await crypto.subtle.verify({ name: "Ed25519" }, key, receipt.signature, signed))) {
    throw new Error("the signature does not match the statement");
  }
  let statement;
  try {
    statement = JSON.parse(fromUtf8(receipt.statement));
  } catch {
    throw new Error("the statement is not JSON");
  }
  if (!statement || typeof statement !== "object" || Array.isArray(statement)) throw new Error("the statement is not an object");
  if (!equal(canonicalJson(statement), receipt.statement)) throw new Error("the statement is not in canonical form");
  if (statement.format !== FORMAT) throw new Error(`the statement is not a ${FORMAT}`);
  if (statement.key_id !== receipt.keyId) throw new Error("the statement names another key");
  return statement;
}
