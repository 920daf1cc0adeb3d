// Signed consent receipts (docs/receipts.md): the one each consent change returns and every one
// of a consent (ListConsentReceipts), each verified here against the service's share-signing key
// and offered as a file (the CLI's receipt file); a receipt file can be checked again later.
// The key is the one GetServiceKeys gave the first time, remembered in this browser: a different
// key later is refused rather than believed (a patient can compare its id with the one the
// operator publishes, `consentry keys show`).

import { fromBase64, toBase64 } from "../lib/bytes.js";
import { t } from "../lib/i18n.js";
import { keyId } from "../lib/keystore.js";
import { encode } from "../lib/proto.js";
import { parseReceiptFile, receiptFile, receiptOf, verifyReceipt } from "../lib/receipt.js";
import { $, dateTime, el, need, show, showError } from "./ui.js";

export const NAME = "receipts";
// The `receipt` field of each consent-changing response.
export const RECEIPT_FIELD = { approve: 3, grant: 2, narrow: 2, revoke: 2, import: 2 };
const PINNED = "consentry.portal.service-key";
let serviceKey = null;

export function setup(ctx) {
  $("receipt-file").addEventListener("change", () => checkFile(ctx()));
}

export async function load() {}

export function render() {
  for (const item of document.querySelectorAll("#receipts li")) item.dispatchEvent(new CustomEvent("retranslate"));
}

// The service key: as pinned in this browser, or pinned now from GetServiceKeys.
async function key(ctx) {
  if (serviceKey) return serviceKey;
  const served = (await ctx.registry.serviceKeys()).shareSigning;
  const pinned = localStorage.getItem(PINNED);
  if (pinned && pinned !== toBase64(served)) {
    throw new Error(t("receipts.key.changed", { pinned: await keyId(fromBase64(pinned)), served: await keyId(served) }));
  }
  localStorage.setItem(PINNED, toBase64(served));
  serviceKey = served;
  return served;
}

// The receipt a consent change (`kind`, a key of RECEIPT_FIELD) answered with, verified and listed.
export async function fromResponse(ctx, answer, kind) {
  const field = RECEIPT_FIELD[kind];
  if (answer.has(field)) await add(ctx, receiptOf(answer.message(field)));
}

export async function listFor(ctx, consent, name, status) {
  try {
    const page = await ctx.consent.unary("ListConsentReceipts", encode([[1, "string", consent.consentId], [2, "uint", 100]]));
    const found = page.messages(1).map(receiptOf);
    if (!found.length) throw need("receipts.none");
    for (const receipt of found) await add(ctx, receipt);
    show(status, "ok", "receipts.listed", { count: found.length, name });
  } catch (error) {
    showError(status, error);
  }
}

async function add(ctx, receipt) {
  const item = el("li");
  $("receipts").prepend(item);
  let verdict;
  try {
    const statement = await verifyReceipt(receipt, await key(ctx));
    const blob = new Blob([receiptFile(receipt)], { type: "application/json" });
    const link = el("a", { className: "button", href: URL.createObjectURL(blob),
      download: `receipt-${statement.consent_id}-v${statement.version}-${statement.change}.json` });
    item.dataset.verified = "true";
    item.dataset.consent = statement.consent_id;
    verdict = el("p", { className: "status ok" });
    const say = () => {
      verdict.textContent = t("receipts.verified", { change: t(`change.${statement.change}`), version: statement.version,
        grantee: statement.grantee, time: dateTime(new Date(statement.time)), seq: statement.ledger?.seq ?? "" });
      link.textContent = t("receipts.download");
    };
    say();
    item.addEventListener("retranslate", say);
    item.append(verdict, link);
  } catch (error) {
    item.dataset.verified = "false";
    verdict = el("p", { className: "status bad", text: t("receipts.bad", { why: error.message }) });
    item.append(verdict);
  }
}

async function checkFile(ctx) {
  const status = $("receipts-status");
  const file = $("receipt-file").files[0];
  if (!file) return;
  try {
    if (!ctx) throw need("need.open");
    const statement = await verifyReceipt(parseReceiptFile(await file.text()), await key(ctx));
    show(status, "ok", "receipts.file.ok", { change: t(`change.${statement.change}`), consent: statement.consent_id,
      version: statement.version, grantee: statement.grantee, time: dateTime(new Date(statement.time)) });
  } catch (error) {
    if (error.need || error.status) showError(status, error);
    else show(status, "bad", "receipts.file.bad", { why: error.message });
  } finally {
    $("receipt-file").value = "";
  }
}
