// What is held about the patient, by category and by holder (metadata only: the portal never
// receives content), and the form that adds a home reading, listed as patient-reported.

import { t } from "../lib/i18n.js";
import { fields, observation } from "./observation.js";
import { $, categoryName, clear, date, el, need, show, showError } from "./ui.js";

export const NAME = "records";
let held = [];

export function setup(ctx) {
  $("reading-kind").addEventListener("change", renderValues);
  $("add-reading").addEventListener("click", () => addReading(ctx()));
  renderValues();
}

function renderValues() {
  const kind = $("reading-kind").value;
  $("reading-values").replaceChildren(...fields(kind).map(([code, unit]) => el("label", {},
    el("span", { text: `${t(`reading.value.${code}`)} (${unit})` }),
    el("input", { type: "number", inputmode: "decimal", step: "any", min: "0", "data-code": code }))));
}

export async function load(ctx) {
  const status = $("records-status");
  try {
    const found = await ctx.exchange.records(ctx.patient);
    held = await Promise.all(found.filter((r) => !r.erased).map(async (r) => ({ ...r,
      holderName: r.patientReported ? null : await ctx.registry.institutionName(r.holder) })));
    if (held.length) clear(status);
    else show(status, "info", "records.none");
    render(ctx);
  } catch (error) {
    showError(status, error);
  }
}

export function render(ctx) {
  renderValues();
  if (!ctx) return;
  const byCategory = new Map();
  for (const r of held) {
    if (!byCategory.has(r.category)) byCategory.set(r.category, []);
    byCategory.get(r.category).push(r);
  }
  const groups = [...byCategory.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([category, rows]) =>
    el("div", { "data-category": category }, el("h3", { text: categoryName(category) }),
      el("ul", { className: "plain" }, ...rows.map((r) => el("li", { "data-record": r.recordId },
        `${date(r.effectiveTime || r.createTime)} · ${r.resourceType} · `,
        r.patientReported ? el("span", { className: "tag", text: t("records.patient-reported") })
          : t("records.held-by", { name: r.holderName }))))));
  $("records").replaceChildren(...groups);
}

async function addReading(ctx) {
  const status = $("reading-status");
  try {
    if (!ctx) throw need("need.open");
    const values = {};
    for (const input of $("reading-values").querySelectorAll("input")) {
      if (!input.value || !(Number(input.value) > 0)) {
        input.focus();
        throw need("reading.need.value");
      }
      values[input.dataset.code] = Number(input.value);
    }
    const when = $("reading-time").value ? new Date($("reading-time").value) : new Date();
    await ctx.exchange.putObservation(ctx.patient, observation($("reading-kind").value, ctx.patient, values, when));
    for (const input of $("reading-values").querySelectorAll("input")) input.value = "";
    await ctx.reload.records();
    show(status, "ok", "reading.done");
  } catch (error) {
    showError(status, error);
  }
}
