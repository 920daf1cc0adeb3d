// The auditor page: checkpoints, proofs and exports verified in the browser against the ledger
// key the auditor pasted; every call signed by the auditor's own key, held in this browser.

import { AuditClient } from "../lib/audit.js";
import { concat, fromUtf8, sha256, toHex, utf8 } from "../lib/bytes.js";
import { GrpcError } from "../lib/grpcweb.js";
import { current, setup, t, use } from "../lib/i18n.js";
import * as keystore from "../lib/keystore.js";
import { entryLeafHash, rootOf, verifyConsistency, verifyInclusion } from "../lib/merkle.js";
import { parseVerifierKey, verifyCheckpoint } from "../lib/note.js";
import { STRINGS } from "./strings.js";

const PAGE_SIZE = 20;
const EXPORT_PAGE = 1000;
const $ = (id) => document.getElementById(id);

const state = {
  key: null,
  trusted: null, // { origin, size, root, note, name }: the last checkpoint verified here
  baseline: null, // the first one verified since the page opened
  start: 0n,
};

// Something the auditor has to do first; `key` names the message saying what.
class Need extends Error {
  constructor(key) {
    super(key);
    this.key = key;
  }
}

// A status line remembers its message so a language switch can say it again.
function show(element, kind, key, values = {}) {
  element.className = `status ${kind}`;
  element.dataset.key = key;
  element.dataset.values = JSON.stringify(values);
  element.textContent = t(key, values);
}

function showError(element, error, fallbackKey = "checkpoint.bad") {
  if (error instanceof GrpcError) {
    if (error.status === "UNAUTHENTICATED") show(element, "bad", "error.unauthenticated");
    else show(element, "bad", "error.call", { status: error.status, details: error.details });
  } else {
    show(element, "bad", fallbackKey, { why: error.message });
  }
}

function retranslate() {
  for (const element of document.querySelectorAll("[data-key]")) {
    element.textContent = t(element.dataset.key, JSON.parse(element.dataset.values));
  }
  $("language").textContent = t("language");
  $("create-key").textContent = t(state.key ? "key.replace" : "key.create");
  renderCheckpoint();
}

function client() {
  const id = $("auditor-id").value.trim();
  if (!id) throw new Need("need.id");
  if (!state.key) throw new Need("need.key");
  return new AuditClient(state.key, `auditor:${id}`);
}

function renderKey() {
  $("key-details").hidden = !state.key;
  if (state.key) {
    $("public-key").textContent = state.key.publicBase64;
    $("key-id").textContent = state.key.keyId;
  }
  $("create-key").textContent = t(state.key ? "key.replace" : "key.create");
}

function renderCheckpoint() {
  const cp = state.trusted;
  $("checkpoint-details").hidden = !cp;
  if (!cp) return;
  $("cp-origin").textContent = cp.origin;
  $("cp-size").textContent = cp.size.toString();
  const growth = cp.size - state.baseline.size;
  $("cp-growth").textContent = growth ? t("growth.some", { count: growth.toString() }) : t("growth.none");
  $("cp-root").textContent = toHex(cp.root);
  $("cp-time").textContent = cp.time ? new Date(Number(cp.time) * 1000).toLocaleString(current() === "zh" ? "zh-CN" : "en") : "";
}

async function refresh() {
  const status = $("checkpoint-status");
  try {
    const audit = client();
    const keyText = $("verifier-key").value.trim();
    if (!keyText) throw new Need("need.verifier");
    localStorage.setItem("consentry.auditor.verifier", keyText);
    let verifier;
    try {
      verifier = await parseVerifierKey(keyText);
    } catch (error) {
      show(status, "bad", "bad.verifier", { why: error.message });
      return;
    }
    show(status, "info", "checkpoint.working");
    const served = await audit.checkpoint(true);
    const cp = { ...(await verifyCheckpoint(served.note, verifier)), note: served.note, name: verifier.name,
      time: served.time };
    const old = state.trusted && state.trusted.name === verifier.name ? state.trusted : null;
    if (old) {
      if (cp.size < old.size) {
        show(status, "bad", "checkpoint.rollback", { size: cp.size.toString(), old: old.size.toString() });
        return;
      }
      const proof = cp.size === old.size ? [] : await audit.consistencyProof(old.size, cp.size);
      try {
        await verifyConsistency(old.size, cp.size, old.root, cp.root, proof);
      } catch (error) {
        show(status, "bad", "checkpoint.fork", { why: error.message });
        return;
      }
    }
    state.trusted = cp;
    if (!old) state.baseline = cp;
    renderCheckpoint();
    if (old) show(status, "ok", "checkpoint.consistent", { size: cp.size.toString(), name: cp.name, old: old.size.toString() });
    else show(status, "ok", "checkpoint.verified", { size: cp.size.toString(), name: cp.name });
    await loadEntries(state.start);
  } catch (error) {
    if (error instanceof Need) show(status, "bad", error.key);
    else showError(status, error);
  }
}

// A page of entries from `start`; a failure is shown where the checkpoint's status is.
async function showEntries(start) {
  try {
    await loadEntries(start);
  } catch (error) {
    if (error instanceof Need) show($("checkpoint-status"), "bad", error.key);
    else showError($("checkpoint-status"), error);
  }
}

async function loadEntries(start) {
  const page = await client().entries(start, PAGE_SIZE);
  state.start = start;
  const body = $("entries");
  body.replaceChildren();
  for (const { seq, entry } of page.entries) body.append(entryRow(seq, entry));
  const size = state.trusted ? state.trusted.size : page.nextStart;
  const caption = $("entries-caption");
  if (page.entries.length) {
    show(caption, "", "entries.caption", { first: start.toString(), last: page.entries.at(-1).seq.toString(), size: size.toString() });
  } else {
    show(caption, "", "entries.empty");
  }
  caption.className = "hint";
  $("previous").disabled = start === 0n;
  $("next").disabled = !page.entries.length || page.nextStart >= size;
  $("next").dataset.start = page.nextStart.toString();
}

function entryRow(seq, bytes) {
  let parsed = {};
  try {
    parsed = JSON.parse(fromUtf8(bytes));
  } catch {
    parsed = { kind: "?" };
  }
  const row = document.createElement("tr");
  row.dataset.seq = seq.toString();
  const cell = (text, wide) => {
    const td = document.createElement("td");
    td.textContent = text ?? "";
    if (wide) td.className = "wide";
    row.append(td);
    return td;
  };
  cell(seq.toString());
  cell(parsed.kind);
  cell(parsed.time, true);
  cell(parsed.actor, true);
  const result = cell("");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary";
  button.dataset.i18n = "entries.verify";
  button.textContent = t("entries.verify");
  button.setAttribute("aria-label", t("entries.verify.label", { seq: seq.toString() }));
  button.addEventListener("click", () => verifyEntry(seq, bytes, result));
  result.append(button);
  return row;
}

async function verifyEntry(seq, bytes, cell) {
  const done = (kind, key, values) => {
    cell.replaceChildren();
    cell.className = `result ${kind}`;
    cell.setAttribute("role", "status");
    cell.textContent = t(key, values);
  };
  const cp = state.trusted;
  if (!cp) return done("bad", "need.checkpoint");
  if (seq >= cp.size) return done("bad", "entries.uncovered");
  try {
    const proof = await client().inclusionProof(seq, cp.size);
    await verifyInclusion(await entryLeafHash(bytes), seq, cp.size, proof, cp.root);
    done("ok", "entries.included");
  } catch (error) {
    done("bad", "entries.notincluded", { why: error.message });
  }
}

async function buildExport() {
  const status = $("export-status");
  $("export-links").hidden = true;
  const cp = state.trusted;
  if (!cp) return show(status, "bad", "need.checkpoint");
  try {
    const audit = client();
    const entries = [];
    let start = 0n;
    while (BigInt(entries.length) < cp.size) {
      show(status, "info", "export.working", { count: entries.length, size: cp.size.toString() });
      const page = await audit.entries(start, EXPORT_PAGE);
      if (!page.entries.length) break;
      for (const e of page.entries) if (e.seq < cp.size) entries.push(e);
      start = page.nextStart;
    }
    const leaves = await checkChain(entries, cp.size);
    const root = await rootOf(leaves);
    if (toHex(root) !== toHex(cp.root)) throw new Error("the entries rebuild another root than the signed one");
    const lines = entries.map((e) => concat(e.entry, utf8("\n")));
    link("download-entries", new Blob(lines, { type: "application/jsonl" }));
    link("download-checkpoint", new Blob([cp.note], { type: "text/plain" }));
    $("export-links").hidden = false;
    show(status, "ok", "export.verified", { size: cp.size.toString() });
  } catch (error) {
    showError(status, error, "export.bad");
  }
}

// seq and prev of each entry (docs/ledger.md, "Verifying an export", step 3); the leaf hashes.
async function checkChain(entries, size) {
  if (BigInt(entries.length) !== size) throw new Error(`${entries.length} entries for a checkpoint of ${size}`);
  let chain = new Uint8Array(32);
  const leaves = [];
  for (const [n, { seq, entry }] of entries.entries()) {
    const parsed = JSON.parse(fromUtf8(entry));
    if (BigInt(parsed.seq) !== BigInt(n) || seq !== BigInt(n)) throw new Error(`entry ${n} has seq ${parsed.seq}`);
    if (parsed.prev !== toHex(chain)) throw new Error(`entry ${n} does not chain to the entry before it`);
    const leaf = await entryLeafHash(entry);
    leaves.push(leaf);
    chain = await sha256(concat(chain, leaf));
  }
  return leaves;
}

function link(id, blob) {
  const anchor = $(id);
  if (anchor.href) URL.revokeObjectURL(anchor.href);
  anchor.href = URL.createObjectURL(blob);
}

async function createKey() {
  state.key = await keystore.create("auditor");
  renderKey();
}

async function start() {
  setup(STRINGS);
  document.addEventListener("languagechange", retranslate);
  $("language").addEventListener("click", () => use(current() === "zh" ? "en" : "zh"));
  $("auditor-id").value = localStorage.getItem("consentry.auditor.id") || "";
  $("auditor-id").addEventListener("change", () => localStorage.setItem("consentry.auditor.id", $("auditor-id").value.trim()));
  $("verifier-key").value = localStorage.getItem("consentry.auditor.verifier") || "";
  $("create-key").addEventListener("click", createKey);
  $("refresh").addEventListener("click", refresh);
  $("previous").addEventListener("click", () => showEntries(state.start >= BigInt(PAGE_SIZE) ? state.start - BigInt(PAGE_SIZE) : 0n));
  $("next").addEventListener("click", () => showEntries(BigInt($("next").dataset.start)));
  $("export").addEventListener("click", buildExport);
  state.key = await keystore.load("auditor");
  renderKey();
  retranslate();
  document.body.dataset.ready = "true";
}

start();
