// Pending access requests in plain words: who asks, why, for which records and how long; the
// requester's privacy notice shown (its hash checked here); approve as asked, approve narrower
// (fewer categories, a shorter period), or decline.

import { t } from "../lib/i18n.js";
import { noticeView } from "./notice.js";
import * as receipts from "./receipts.js";
import { $, button, categoryName, checkboxes, clear, date, el, list, purposeName, show, showError,
  ticked } from "./ui.js";

export const NAME = "requests";
let pending = [];

export function setup() {}

export async function load(ctx) {
  const status = $("requests-status");
  try {
    const found = await ctx.consent.accessRequests(ctx.patient);
    pending = await Promise.all(found.map(async (request) => {
      const item = { request, name: await ctx.registry.institutionName(request.requester), notice: null, error: null };
      try {
        item.notice = (await ctx.registry.notice(request.notice.noticeId, request.notice.version)).notice;
      } catch (error) {
        item.error = error;
      }
      return item;
    }));
    if (pending.length) clear(status);
    else show(status, "info", "requests.none");
    update(ctx);
  } catch (error) {
    showError(status, error);
  }
}

// After a reload: a card still pending stays as it is (with whatever the person was ticking
// or typing in it, and the focus); new ones are added, decided ones removed.
function update(ctx) {
  const shown = new Map(Array.from($("requests").children, (li) => [li.dataset.request, li]));
  $("requests").replaceChildren(...pending.map((item) => shown.get(item.request.requestId) || card(ctx, item)));
}

// In another language: every card anew.
export function render(ctx) {
  if (!ctx) return;
  $("requests").replaceChildren(...pending.map((item) => card(ctx, item)));
}

function card(ctx, { request, name, notice, error }) {
  const terms = request.terms;
  const until = terms.validity.end ? t("requests.until", { date: date(terms.validity.end) }) : t("requests.no-end");
  const status = el("div", { className: "status", role: "status", "aria-live": "polite" });
  const li = el("li", { "data-request": request.requestId },
    el("p", {}, el("strong", { text: t("requests.who", { name }) })),
    el("p", { text: t("requests.why", { reason: request.reason }) }),
    el("p", { text: t("requests.what", { categories: list(terms.categories, categoryName),
      purposes: list(terms.purposes, purposeName) }) }),
    el("p", { text: until }),
    request.expireTime ? el("p", { className: "hint", text: t("requests.lapses", { date: date(request.expireTime) }) }) : null);
  if (notice) li.append(el("details", {}, el("summary", { text: t("requests.notice") }), noticeView(notice)));
  else show(status, "bad", "notice.mismatch", { notice: request.notice.noticeId });
  const narrower = narrowForm(terms);
  narrower.hidden = true;
  const approve = button(t("requests.approve"), () => decide(ctx, status, "approve",
    () => ctx.consent.approve(request.requestId, null)));
  const less = button(t("requests.narrower"), () => {
    narrower.hidden = !narrower.hidden;
    less.setAttribute("aria-expanded", String(!narrower.hidden));
    if (!narrower.hidden) narrower.querySelector("input").focus();
  }, true);
  less.setAttribute("aria-expanded", "false");
  const confirmLess = button(t("requests.approve.these"), () => decide(ctx, status, "approve",
    () => ctx.consent.approve(request.requestId, narrowed(terms, narrower))));
  narrower.append(confirmLess);
  const decline = button(t("requests.decline"), () => decide(ctx, status, null,
    () => ctx.consent.decline(request.requestId)), true);
  for (const b of [approve, less, confirmLess]) b.disabled = !notice || Boolean(error);
  li.append(approve, less, decline, narrower, status);
  return li;
}

function narrowForm(terms) {
  const box = el("div", { className: "choices" });
  checkboxes(box, "narrow-category", terms.categories, categoryName);
  const until = el("input", { type: "date", className: "narrow-until" });
  if (terms.validity.end) until.max = terms.validity.end.toISOString().slice(0, 10);
  return el("fieldset", {}, el("legend", { text: t("requests.narrower.legend") }), box,
    el("label", { text: t("requests.narrower.until") }, until));
}

function narrowed(terms, form) {
  const categories = ticked(form);
  const chosen = form.querySelector("input[type=date]").value;
  const end = chosen ? new Date(`${chosen}T23:59:59Z`) : terms.validity.end;
  return { ...terms, categories, validity: { start: terms.validity.start, end } };
}

// `kind`: the receipt the answer carries (none for a decline).
async function decide(ctx, status, kind, action) {
  try {
    const answer = await action();
    if (kind) await receipts.fromResponse(ctx, answer, kind);
    await Promise.all([ctx.reload.requests(), ctx.reload.consents()]);
    show($("requests-status"), "ok", "requests.done");
    $("requests-status").focus(); // the card with the focused button is gone: say where it went
  } catch (error) {
    showError(status, error);
  }
}
