// A privacy notice as the patient reads it, in the page's language. The notice comes from
// lib/registry.js, which has already checked its content hash; what is shown is what is hashed.

import { current, t } from "../lib/i18n.js";
import { categoryName, el, list, purposeName } from "./ui.js";

const PARTS = ["recipient_legal_name", "recipient_contact", "purpose_description", "handling_method",
  "necessity_and_impact", "retention", "how_to_withdraw"];

export function noticeView(notice) {
  const lang = current() === "zh" ? "zh-Hans" : "en";
  const text = notice.texts[lang] || notice.texts.en || {};
  const dl = el("dl");
  for (const part of PARTS) dl.append(el("dt", { text: t(`notice.${part}`) }), el("dd", { text: text[part] || "" }));
  dl.append(el("dt", { text: t("notice.covers") }),
    el("dd", { text: `${list(notice.purposes, purposeName)} — ${list(notice.categories, categoryName)}` }));
  return el("div", { className: "notice", "data-notice": notice.noticeId },
    el("p", { className: "hint", text: t("notice.title", { version: notice.version }) }), dl);
}
