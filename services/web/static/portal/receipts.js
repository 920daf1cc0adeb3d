// Signed consent receipts (docs/receipts.md): the one each consent change returns, and every one
// of a consent (ListConsentReceipts), each verified here against the service's key
// (GetServiceKeys) and offered as a file; a receipt file can be checked again later.

import { t } from "../lib/i18n.js";
import { encode } from "../lib/proto.js";
import { parseReceiptFile, receiptFile, receiptOf, verifyReceipt } from "../lib/receipt.js";
import { $, el, need, show, showError } from "./ui.js";

export const NAME = "receipts";
// The `receipt` field of the consent-changing responses (Approve, Grant, Narrow, Revoke, Import).
const RESPONSE_RECEIPT_FIELD = { approve: 3, other: 2 };
let context = null;
let serviceKey = null;

export function setup(ctx) {
  $("receipt-file").addEventListener("change", () => checkFile(ctx()));
}

export async function load(ctx) {
  context = ctx;
  serviceKey = null;
}

async function key(ctx) {
  if (!serviceKey) serviceKey = (await ctx.registry.serviceKeys()).receiptKey;
  return serviceKey;
}

// The receipt a consent change answered with, verified and listed (nothing when none came).
export function fromResponse(ctx, answer) {
  const field = answer.has(RESPONSE_RECEIPT_FIELD.approve) && answer.message(2).has(1)
    ? RESPONSE_RECEIPT_FIELD.approve : RESPONSE_RECEIPT_FIELD.other;
  if (!answer.has(field)) return;
  add(ctx, receiptOf(answer.message(field)));
}

export async function listFor(ctx, consent, name, status) {
  try {
    const page = await ctx.consent.unary("ListConsentReceipts", encode([[1, "string", consent.consentId], [2, "uint", 100]]));
    const found = page.messages(1).map(receiptOf);
    if (!found.length) throw need("receipts.none");
    for (const receipt of found) await add(ctx, receipt);
    show(status, "ok", "receipts.listed", { count: found.length, name });
    $("receipts").lastElementChild?.querySelector("a")?.focus();
  } catch (error) {
    showError(status, error);
  }
}

async function add(ctx, receipt) {
  const item = el("li", { "data-receipt": receipt.keyId });
  $("receipts").append(item);
  try {
    const statement = await verifyReceipt(receipt, await key(ctx));
    const blob = new Blob([receiptFile(receipt)], { type: "application/json" });
    const name = `receipt-${statement.consent_id || "consent"}-${statement.action || "change"}.json`;
    item.dataset.verified = "true";
    item.append(el("p", { className: "status ok", text: t("receipts.verified", { action: t(`action.${statement.action}`),
      time: statement.time || "" }) }),
    el("a", { className: "button", href: URL.createObjectURL(blob), download: name, text: t("receipts.download") }));
  } catch (error) {
    item.dataset.verified = "false";
    item.append(el("p", { className: "status bad", text: t("receipts.bad", { why: error.message }) }));
  }
}

async function checkFile(ctx) {
  const status = $("receipts-status");
  const file = $("receipt-file").files[0];
  if (!file) return;
  try {
    if (!ctx) throw need("need.open");
    const receipt = parseReceiptFile(await file.text());
    const statement = await verifyReceipt(receipt, await key(ctx));
    show(status, "ok", "receipts.file.ok", { action: statement.action || "", consent: statement.consent_id || "" });
  } catch (error) {
    if (error.need || error.status) showError(status, error);
    else show(status, "bad", "receipts.file.bad", { why: error.message });
  }
}

