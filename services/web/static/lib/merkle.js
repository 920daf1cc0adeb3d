// RFC 9162 §2.1 (= RFC 6962) Merkle hashing and proof checks, as docs/ledger.md specifies them and
// ledger/merkle.py implements them. Sizes and indices are BigInt: a tree may outgrow 2^53.

import { concat, equal, sha256 } from "./bytes.js";

export class ProofError extends Error {}

const HASH_SIZE = 32;
export const EMPTY_ROOT_PROMISE = sha256(new Uint8Array(0));

export function leafHash(data) {
  return sha256(concat(Uint8Array.of(0), data));
}

const SALT_KEY = '"salt":"';
const TOMBSTONE = /^\{"prev":"[0-9a-f]{64}","redacted":"([0-9a-f]{64})","seq":(0|[1-9][0-9]*)\}$/;

// The leaf of a ledger entry as exported (docs/ledger.md, "Hashes"): a version 2 entry's leaf
// commits to SHA-256 of its bytes, a tombstone's to the commitment it carries (so a redacted
// entry keeps its leaf), and a version 1 entry is its own leaf data.
export async function entryLeafHash(entry) {
  const text = new TextDecoder().decode(entry);
  if (text.includes(SALT_KEY)) return leafHash(concat(Uint8Array.of(2), await sha256(entry)));
  const tombstone = TOMBSTONE.exec(text);
  if (tombstone) return leafHash(concat(Uint8Array.of(2), fromHex(tombstone[1])));
  return leafHash(entry);
}

function fromHex(hex) {
  return Uint8Array.from(hex.match(/../g), (pair) => parseInt(pair, 16));
}

export function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

function checkHash(value, what) {
  if (!(value instanceof Uint8Array) || value.length !== HASH_SIZE) {
    throw new ProofError(`${what} is not a ${HASH_SIZE}-byte hash`);
  }
  return value;
}

// RFC 9162 §2.1.3.2: resolves if `leaf` is at `index` in the tree of `size` with `root`.
export async function verifyInclusion(leaf, index, size, proof, root) {
  index = BigInt(index);
  size = BigInt(size);
  if (!(index >= 0n && index < size)) throw new ProofError(`leaf index ${index} is not inside a tree of size ${size}`);
  let r = checkHash(leaf, "the leaf hash");
  checkHash(root, "the root");
  let fn = index;
  let sn = size - 1n;
  for (const [i, p] of proof.entries()) {
    checkHash(p, `proof node ${i}`);
    if (sn === 0n) throw new ProofError("the proof has more nodes than the tree needs");
    if (fn & 1n || fn === sn) {
      r = await nodeHash(p, r);
      if (!(fn & 1n)) {
        while (fn !== 0n && !(fn & 1n)) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new ProofError("the proof has too few nodes for this tree size");
  if (!equal(r, root)) throw new ProofError(`the proof for leaf ${index} leads to a different root`);
}

// RFC 9162 §2.1.4.2: resolves if the tree (newSize, newRoot) extends (oldSize, oldRoot).
export async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  oldSize = BigInt(oldSize);
  newSize = BigInt(newSize);
  const empty = await EMPTY_ROOT_PROMISE;
  if (oldSize < 0n || newSize < 0n) throw new ProofError("tree sizes cannot be negative");
  if (oldSize > newSize) throw new ProofError(`old size ${oldSize} is larger than new size ${newSize}`);
  if (oldSize === newSize) {
    if (proof.length) throw new ProofError("equal sizes need an empty proof");
    if (oldSize === 0n && (!equal(oldRoot, empty) || !equal(newRoot, empty))) {
      throw new ProofError('an empty tree has the root SHA-256("")');
    }
    if (!equal(oldRoot, newRoot)) throw new ProofError(`two different roots for the same size ${oldSize}`);
    return;
  }
  checkHash(newRoot, "the new root");
  if (oldSize === 0n) {
    if (proof.length) throw new ProofError("a proof from the empty tree must be empty");
    if (!equal(oldRoot, empty)) throw new ProofError('an empty tree has the root SHA-256("")');
    return;
  }
  checkHash(oldRoot, "the old root");
  if (!proof.length) throw new ProofError("the consistency proof is empty");
  const path = proof.map((p, i) => checkHash(p, `proof node ${i}`));
  if ((oldSize & (oldSize - 1n)) === 0n) path.unshift(oldRoot);
  let fn = oldSize - 1n;
  let sn = newSize - 1n;
  while (fn & 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new ProofError("the proof has more nodes than the sizes need");
    if (fn & 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if (!(fn & 1n)) {
        while (fn !== 0n && !(fn & 1n)) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new ProofError("the proof has too few nodes for these sizes");
  if (!equal(fr, oldRoot)) throw new ProofError(`the proof does not rebuild the old root at size ${oldSize}`);
  if (!equal(sr, newRoot)) throw new ProofError(`the proof does not rebuild the new root at size ${newSize}`);
}

// MTH over leaf hashes (an export's entries rebuild the checkpoint's root).
export async function rootOf(leaves) {
  if (leaves.length === 0) return EMPTY_ROOT_PROMISE;
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(await rootOf(leaves.slice(0, k)), await rootOf(leaves.slice(k)));
}
