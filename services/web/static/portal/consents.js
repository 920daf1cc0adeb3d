// The patient's consents: listed in plain words, narrowed or revoked; and a new one given to an
// institution under its privacy notice (shown, its hash checked here) after a preview of what
// the institution could then see.

import { t } from "../lib/i18n.js";
import { noticeView } from "./notice.js";
import * as receipts from "./receipts.js";
import { $, button, categoryName, checkboxes, clear, date, el, list, need, purposeName, show, showError,
  ticked } from "./ui.js";

export const NAME = "consents";
const PURPOSES = ["TREAT", "HPAYMT", "PUBHLTH", "PATRQT"];
const CATEGORIES = ["demographics", "encounter", "discharge-summary", "medication", "lab", "imaging", "allergy",
  "immunization", "procedure", "condition", "vital-signs", "care-plan", "social-history", "survey", "exam",
  "clinical-test", "clinical-note", "other", "mental-health", "genetic", "hiv-sti", "reproductive", "substance-use",
  "psychotherapy-notes"];
let shown = [];
let institutions = [];
let grantNotice = null; // { notice, ref } of the notice shown in the grant form

export function setup(ctx) {
  $("grant-show-notice").addEventListener("click", () => showNotice(ctx()));
  $("grant-notice").addEventListener("input", () => { grantNotice = null; $("grant-notice-text").hidden = true; });
  $("grant-preview").addEventListener("click", () => preview(ctx()));
  $("grant").addEventListener("click", () => grant(ctx()));
  renderChoices();
}

function renderChoices() {
  const keep = (id) => new Set(ticked($(id)));
  const purposes = keep("grant-purposes");
  const categories = keep("grant-categories");
  const first = !$("grant-purposes").children.length;
  checkboxes($("grant-purposes"), "grant-purpose", PURPOSES, (p) => t(`purpose.${p}`),
    (p) => (first ? p === "TREAT" : purposes.has(p)));
  checkboxes($("grant-categories"), "grant-category", CATEGORIES, categoryName, (c) => categories.has(c));
}

export async function load(ctx) {
  const status = $("consents-status");
  try {
    // Every version, to keep the latest of each consent: active ones can change, ended ones
    // (revoked, expired) still have their receipts.
    const latest = new Map();
    for (const c of await ctx.consent.consents(ctx.patient, true)) {
      if (!latest.has(c.consentId) || latest.get(c.consentId).version < c.version) latest.set(c.consentId, c);
    }
    const found = [...latest.values()].sort((a, b) => (a.status === "active" ? 0 : 1) - (b.status === "active" ? 0 : 1));
    shown = await Promise.all(found.map(async (c) => ({ consent: c, name: await ctx.registry.institutionName(c.grantee) })));
    if (shown.some((item) => item.consent.status === "active")) clear(status);
    else show(status, "info", "consents.none");
    if (!institutions.length) {
      try {
        institutions = await ctx.registry.institutions();
      } catch {
        institutions = [];
      }
    }
    render(ctx);
  } catch (error) {
    showError(status, error);
  }
}

export function render(ctx) {
  renderChoices();
  if (grantNotice) $("grant-notice-text").replaceChildren(noticeView(grantNotice.notice));
  if (!ctx) return;
  const select = $("grant-institution");
  const chosen = select.value;
  select.replaceChildren(...institutions.map((i) => el("option", { value: i.id, text: i.name === i.id ? i.id : `${i.name} (${i.id})` })));
  if (chosen) select.value = chosen;
  $("consents").replaceChildren(...shown.map((item) => card(ctx, item)));
}

function card(ctx, { consent, name }) {
  const until = consent.validity.end ? t("requests.until", { date: date(consent.validity.end) }) : t("requests.no-end");
  const status = el("div", { className: "status", role: "status", "aria-live": "polite" });
  const form = el("fieldset", { hidden: true }, el("legend", { text: t("consents.narrow.legend") }));
  const boxes = el("div", { className: "choices" });
  checkboxes(boxes, "narrow-category", consent.categories, categoryName);
  const end = el("input", { type: "date" });
  form.append(boxes, el("label", { text: t("requests.narrower.until") }, end), button(t("consents.narrow.save"),
    () => change(ctx, status, "narrow", () => ctx.consent.narrow(consent.consentId, { ...consent, categories: ticked(boxes),
      validity: { start: consent.validity.start, end: end.value ? new Date(`${end.value}T23:59:59Z`) : consent.validity.end } }))));
  const narrow = button(t("consents.narrow"), () => {
    form.hidden = !form.hidden;
    narrow.setAttribute("aria-expanded", String(!form.hidden));
  }, true);
  narrow.setAttribute("aria-expanded", "false");
  const revoke = button(t("consents.revoke"), () => change(ctx, status, "revoke", () => ctx.consent.revoke(consent.consentId)), true);
  const receiptsButton = button(t("consents.receipts"), () => receipts.listFor(ctx, consent, name, status), true);
  const active = consent.status === "active";
  return el("li", { "data-consent": consent.consentId, "data-status": consent.status },
    el("p", {}, el("strong", { text: name }), active ? null : el("span", { className: "tag ended",
      text: ` ${t(`consents.status.${consent.status}`)}` })),
    el("p", { text: t("requests.what", { categories: list(consent.categories, categoryName),
      purposes: list(consent.purposes, purposeName) }) }),
    el("p", { text: `${until} · ${t("consents.since", { date: date(consent.createTime) })}` }),
    active ? narrow : null, active ? revoke : null, receiptsButton, active ? form : null, status);
}

async function change(ctx, status, kind, action) {
  try {
    await receipts.fromResponse(ctx, await action(), kind);
    await ctx.reload.consents();
    show($("consents-status"), "ok", "consents.changed");
    $("consents-status").focus(); // the card re-rendered: the focus goes to what happened
  } catch (error) {
    showError(status, error);
  }
}

function grantTerms() {
  const until = $("grant-until").value;
  return { kind: 1, categories: ticked($("grant-categories")), purposes: ticked($("grant-purposes")),
    validity: until ? { end: new Date(`${until}T23:59:59Z`) } : null };
}

async function showNotice(ctx) {
  const status = $("grant-status");
  try {
    if (!ctx) throw need("need.open");
    const id = $("grant-notice").value.trim();
    if (!id) throw need("need.notice");
    grantNotice = await ctx.registry.notice(id);
    if (grantNotice.notice.institutionId !== $("grant-institution").value) {
      grantNotice = null;
      throw need("grant.notice.other");
    }
    $("grant-notice-text").replaceChildren(noticeView(grantNotice.notice));
    $("grant-notice-text").hidden = false;
    clear(status);
  } catch (error) {
    $("grant-notice-text").hidden = true;
    showError(status, error);
  }
}

async function preview(ctx) {
  const status = $("grant-status");
  try {
    if (!ctx) throw need("need.open");
    const result = await ctx.consent.preview(ctx.patient, $("grant-institution").value, grantTerms());
    const name = await ctx.registry.institutionName($("grant-institution").value);
    const line = (g) => el("li", { text: t("preview.group", { count: g.count, category: categoryName(g.category),
      holder: g.holder, reasons: g.reasons.join("; ") }) });
    $("preview").replaceChildren(
      el("h4", { text: t("preview.shared", { name }) }),
      result.shared.length ? el("ul", {}, ...result.shared.map(line)) : el("p", { text: t("preview.nothing") }),
      el("h4", { text: t("preview.withheld") }),
      result.withheld.length ? el("ul", {}, ...result.withheld.map(line)) : el("p", { text: t("preview.nothing") }));
    $("preview").hidden = false;
    clear(status);
  } catch (error) {
    showError(status, error);
  }
}

async function grant(ctx) {
  const status = $("grant-status");
  try {
    if (!ctx) throw need("need.open");
    if (!grantNotice) throw need("need.notice");
    const answer = await ctx.consent.grant(ctx.patient, $("grant-institution").value, grantTerms(), grantNotice.ref);
    await receipts.fromResponse(ctx, answer, "grant");
    await ctx.reload.consents();
    show(status, "ok", "grant.done");
  } catch (error) {
    showError(status, error);
  }
}
