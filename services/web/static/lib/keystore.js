// A principal's Ed25519 identity key, made and kept in this browser: WebCrypto, non-extractable,
// stored in IndexedDB. Only the public half ever leaves (shown for the operator to enrol it).

import { concat, sha256, toBase64, toHex, utf8 } from "./bytes.js";

const DATABASE = "consentry";
const STORE = "identity-keys";

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function transact(mode, action) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const request = action(db.transaction(STORE, mode).objectStore(STORE));
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  } finally {
    db.close();
  }
}

// "ed25519:" + the first 16 hex digits of SHA-256("consentry-ed25519-v1" || public key): the
// key id a token's `kid` names (docs/identity.md).
export async function keyId(publicKey) {
  return "ed25519:" + toHex(await sha256(concat(utf8("consentry-ed25519-v1"), publicKey))).slice(0, 16);
}

async function describe(pair) {
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { pair, privateKey: pair.privateKey, publicKey, publicBase64: toBase64(publicKey), keyId: await keyId(publicKey) };
}

// The key kept under `slot` (e.g. "auditor"), or null.
export async function load(slot) {
  const pair = await transact("readonly", (store) => store.get(slot));
  return pair ? describe(pair) : null;
}

// A new key, not yet kept: `save` keeps it once it is enrolled (so a failed enrolment leaves the
// key already kept as it was).
export async function generate() {
  return describe(await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]));
}

export async function save(slot, key) {
  await transact("readwrite", (store) => store.put(key.pair, slot));
  return key;
}

// A new key in `slot`, replacing any there (losing the old one means enrolling the new one).
export async function create(slot) {
  return save(slot, await generate());
}
