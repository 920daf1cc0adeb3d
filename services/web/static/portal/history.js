// Who saw (or was refused) the patient's records, newest first, kept up to date without a reload
// by the WatchAccess stream: each new access is added and announced, a break-the-glass access
// raises the alert at the top of the page, and a new access request reloads the requests. Where
// the stream is not served, the page asks again every few seconds instead.

import { t } from "../lib/i18n.js";
import * as emergency from "./emergency.js";
import { $, categoryName, clear, dateTime, el, purposeName, show, showError } from "./ui.js";

export const NAME = "history";
const RETRY_MS = 2000;
const POLL_MS = 3000;
let events = new Map(); // seq (string) -> event
let live = null; // { abort: AbortController }

export function setup() {
  // A page left (or closed) ends its watch at once rather than at the server's next heartbeat.
  window.addEventListener("pagehide", stop);
  emergency.setup();
}

export async function load(ctx) {
  const status = $("history-status");
  await emergency.load(ctx);
  try {
    events = new Map((await ctx.consent.history(ctx.patient)).map((e) => [e.seq.toString(), e]));
    if (events.size) clear(status);
    else show(status, "info", "history.none");
    render(ctx);
  } catch (error) {
    showError(status, error);
  }
}

export function render(ctx) {
  emergency.render();
  if (!ctx) return;
  const rows = [...events.values()].sort((a, b) => (a.seq < b.seq ? 1 : -1)).map((e) => row(ctx, e));
  $("history").replaceChildren(...rows);
}

// The institution by the name already read for the requests and consents, else by its id.
function row(ctx, e) {
  const name = ctx.registry.names.get(e.institution) || e.institution;
  const who = e.practitioner ? `${name} · ${e.practitioner}` : name;
  const outcome = e.allowed ? t("history.shared") : t("history.refused", { reasons: e.reasons.join("; ") });
  const tr = el("tr", { "data-seq": e.seq.toString(), className: e.emergency ? "emergency" : "" },
    el("td", { text: dateTime(e.time) }), el("td", { text: who }),
    el("td", { className: "wide", text: purposeName(e.purpose) }),
    el("td", { text: e.category ? categoryName(e.category) : "" }),
    el("td", { className: e.allowed ? "shared" : "refused" },
      e.emergency ? el("strong", { text: `${t("history.emergency")} · ` }) : null, outcome));
  return tr;
}

function added(ctx, e) {
  const seq = e.seq.toString();
  if (events.has(seq)) return;
  events.set(seq, e);
  clear($("history-status"));
  render(ctx);
  $("history-announce").textContent = t("history.new", { who: e.institution, category: categoryName(e.category),
    outcome: e.allowed ? t("history.shared") : t("history.refused.short") });
  if (e.emergency) emergency.fromEvent(ctx, e);
}

function lastSeq() {
  let last = 0n;
  for (const e of events.values()) if (e.seq > last) last = e.seq;
  return last;
}

export function stop() {
  if (live) live.abort.abort();
  live = null;
}

export function start(ctx) {
  stop();
  show($("live-status"), "info", "live.connecting");
  const me = { abort: new AbortController() };
  live = me;
  follow(ctx, me);
}

// The stream, reopened after the last seq seen whenever it ends; its first heartbeat says the
// watch is open, and the history and requests are read once more then, so that nothing that
// committed before it opened (with no seq to resume from) is missed.
async function follow(ctx, me) {
  while (live === me) {
    try {
      let opened = false;
      for await (const item of ctx.consent.watch(ctx.patient, lastSeq(), me.abort.signal)) {
        if (live !== me) return;
        if (item.access) added(ctx, item.access);
        else if (item.notice && item.notice.kind === "access-requested") await ctx.reload.requests();
        else if (item.notice) await emergency.fromNotice(ctx, item.notice);
        else if (item.heartbeat && !opened) {
          opened = true;
          await catchUp(ctx);
          show($("live-status"), "info", "live.on");
        }
      }
    } catch (error) {
      if (live !== me) return;
      if (error.status === "UNIMPLEMENTED") return poll(ctx, me);
      show($("live-status"), "info", error.status === "PERMISSION_DENIED" ? "live.denied" : "live.retry");
      if (error.status === "PERMISSION_DENIED") return;
      await catchUp(ctx);
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

async function catchUp(ctx) {
  try {
    for (const e of await ctx.consent.history(ctx.patient)) added(ctx, e);
    await ctx.reload.requests();
  } catch {
    // the stream (or the next round) brings it
  }
}

// Without the stream: the history and the requests, read again every few seconds.
async function poll(ctx, me) {
  show($("live-status"), "info", "live.poll");
  while (live === me) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (live !== me) return;
    await catchUp(ctx);
  }
}
