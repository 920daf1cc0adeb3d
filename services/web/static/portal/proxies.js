// The people the patient named to act for them (a daughter for her father), with what each may
// do: listed, added, removed. Only the patient in person may change them; a proxy sees the
// service's refusal.

import { t } from "../lib/i18n.js";
import { $, button, clear, date, el, need, show, showError } from "./ui.js";

export const NAME = "proxies";
let named = [];

export function setup(ctx) {
  $("add-proxy").addEventListener("click", () => add(ctx()));
}

export async function load(ctx) {
  const status = $("proxies-status");
  try {
    named = (await ctx.consent.proxies(ctx.patient)).filter((p) => p.active);
    if (named.length) clear(status);
    else show(status, "info", "proxies.none");
    render(ctx);
  } catch (error) {
    named = [];
    render(ctx);
    showError(status, error);
  }
}

export function render(ctx) {
  if (!ctx) return;
  $("proxies").replaceChildren(...named.map((p) => el("li", { "data-proxy": p.proxyId },
    el("p", {}, el("strong", { text: p.relationship ? `${p.proxyId} (${p.relationship})` : p.proxyId })),
    el("p", { text: p.scopes.map((s) => t(`scope.${s}`)).join(" · ") }),
    p.expireTime ? el("p", { text: t("requests.until", { date: date(p.expireTime) }) }) : null,
    button(t("proxies.remove", { id: p.proxyId }), () => remove(ctx, p.proxyId), true))));
}

async function add(ctx) {
  const status = $("proxies-status");
  try {
    if (!ctx) throw need("need.open");
    const id = $("proxy-id").value.trim();
    if (!id) throw need("proxies.need.id");
    const scopes = Array.from(document.querySelectorAll("input[name=proxy-scope]:checked"), (i) => i.value);
    await ctx.consent.addProxy(ctx.patient, id, scopes, $("proxy-relationship").value.trim());
    $("proxy-id").value = "";
    await load(ctx);
    show(status, "ok", "proxies.added", { id });
  } catch (error) {
    showError(status, error);
  }
}

async function remove(ctx, id) {
  const status = $("proxies-status");
  try {
    await ctx.consent.removeProxy(ctx.patient, id);
    await load(ctx);
    show(status, "ok", "proxies.removed", { id });
  } catch (error) {
    showError(status, error);
  }
}
