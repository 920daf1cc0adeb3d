// C2SP signed notes and tlog checkpoints (docs/ledger.md, "Checkpoints"), verified with the
// ledger's verifier key through WebCrypto Ed25519: the page trusts the key the auditor pasted,
// never the server.

import { concat, equal, fromBase64, sha256, toBase64, toHex, utf8 } from "./bytes.js";

export class NoteError extends Error {}

const SIGNATURE_PREFIX = "\u2014 ";
const ED25519 = 0x01;

// "<name>+<8 hex key id>+<base64(0x01 || public key)>"; the base64 may hold '+', so split twice.
export async function parseVerifierKey(text) {
  const key = text.trim();
  const first = key.indexOf("+");
  const second = key.indexOf("+", first + 1);
  if (first <= 0 || second < 0) throw new NoteError("the verifier key is not name+id+key");
  const name = key.slice(0, first);
  const id = key.slice(first + 1, second);
  let raw;
  try {
    raw = fromBase64(key.slice(second + 1));
  } catch {
    throw new NoteError("the verifier key's public key is not base64");
  }
  if (!/^[0-9a-f]{8}$/.test(id) || raw.length !== 33 || raw[0] !== ED25519) {
    throw new NoteError("the verifier key is not an Ed25519 note key");
  }
  const publicKey = raw.slice(1);
  const keyId = (await sha256(concat(utf8(name), Uint8Array.of(0x0a, ED25519), publicKey))).slice(0, 4);
  if (toHex(keyId) !== id) throw new NoteError("the verifier key's id does not match its public key");
  const cryptoKey = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  return { name, keyId, publicKey, cryptoKey };
}

// The note's text if `verifier` signed it; throws otherwise. Other keys' lines (witness
// cosignatures) are passed over, a line in the verifier's name and id that fails is an error.
export async function openNote(note, verifier) {
  if (!note.endsWith("\n")) throw new NoteError("a signed note ends with a newline");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new NoteError("a signed note needs a blank line before its signatures");
  const text = note.slice(0, split + 1);
  let found = false;
  const others = []; // key ids of lines in the verifier's name but another key: another install's
  for (const line of note.slice(split + 2, -1).split("\n")) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new NoteError("a signature line does not start with an em dash");
    const [name, blob, ...rest] = line.slice(SIGNATURE_PREFIX.length).split(" ");
    if (!name || !blob || rest.length) throw new NoteError("a signature line is not '\u2014 <name> <signature>'");
    let raw;
    try {
      raw = fromBase64(blob);
    } catch {
      throw new NoteError("a signature is not base64");
    }
    if (name === verifier.name && raw.length >= 4 && !equal(raw.slice(0, 4), verifier.keyId)) {
      others.push(toHex(raw.slice(0, 4)));
    }
    if (name !== verifier.name || !equal(raw.slice(0, 4), verifier.keyId)) continue;
    const signature = raw.slice(4);
    const good = signature.length === 64 &&
      (await crypto.subtle.verify({ name: "Ed25519" }, verifier.cryptoKey, signature, utf8(text)));
    if (!good) throw new NoteError(`the signature by ${verifier.name} does not match the note text`);
    found = true;
  }
  // Every install names its key after the default origin: only the key id tells them apart.
  if (!found && others.length) {
    throw new NoteError(`the note is signed by a key other than the one given: note key id ${others.join(", ")}, ` +
      `given key id ${toHex(verifier.keyId)}`);
  }
  if (!found) throw new NoteError(`the note carries no signature by ${verifier.name}`);
  return text;
}

// origin, size (BigInt) and root of a checkpoint note signed by `verifier`.
export async function verifyCheckpoint(note, verifier) {
  const lines = (await openNote(note, verifier)).split("\n");
  if (lines.length !== 4 || lines[3] !== "") throw new NoteError("a checkpoint body is exactly origin, size and root lines");
  const [origin, sizeText, rootText] = lines;
  if (!origin) throw new NoteError("the checkpoint origin is empty");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw new NoteError("the checkpoint size is not a plain decimal");
  let root;
  try {
    root = fromBase64(rootText);
  } catch {
    throw new NoteError("the checkpoint root is not base64");
  }
  if (root.length !== 32 || toBase64(root) !== rootText) throw new NoteError("the checkpoint root is not a 32-byte hash");
  return { origin, size: BigInt(sizeText), root };
}

