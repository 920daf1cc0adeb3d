// The break-the-glass alert at the top of the page: raised by an emergency access arriving on the
// live feed, or, when the page opens, by an unread notice of one (ListNotices), with who, when and
// the practitioner's justification (GetEmergencyAccess). "I have seen this" marks its notices read.

import { t } from "../lib/i18n.js";
import { $, dateTime } from "./ui.js";

let shown = null; // { emergencyId, who, time, justification, noticeIds }
let context = null;

export function setup() {
  $("alert-dismiss").addEventListener("click", dismiss);
}

export function reset() {
  shown = null;
  $("alert").hidden = true;
}

// On opening: the latest unread emergency notice, if any.
export async function load(ctx) {
  context = ctx;
  reset();
  try {
    const notices = (await ctx.consent.unreadNotices(ctx.patient)).filter((n) => n.kind === "emergency-access");
    if (notices.length) await raise(ctx, notices.at(-1).subject, notices.map((n) => n.noticeId));
  } catch {
    // a proxy without the read-history scope is not told of notices
  }
}

// An emergency access (AccessEvent) or a notice of one (PatientNotice), live.
export async function fromEvent(ctx, event) {
  if (event.emergencyId) await raise(ctx, event.emergencyId, [], { who: event.institution, time: event.time });
}

export async function fromNotice(ctx, notice) {
  if (notice.kind === "emergency-access") await raise(ctx, notice.subject, [notice.noticeId]);
}

async function raise(ctx, emergencyId, noticeIds, known = {}) {
  if (shown && shown.emergencyId === emergencyId) {
    noticeIds.forEach((id) => shown.noticeIds.add(id));
    return;
  }
  shown = { emergencyId, who: known.who || "", time: known.time || null, justification: "", noticeIds: new Set(noticeIds) };
  render();
  try {
    const access = await ctx.consent.emergency(emergencyId);
    const who = await ctx.registry.institutionName(access.recipient);
    if (shown && shown.emergencyId === emergencyId) {
      Object.assign(shown, { who, time: access.time, justification: access.justification });
      render();
    }
  } catch {
    // the alert stands without the details
  }
}

export function render() {
  if (!shown) return;
  $("alert-text").textContent = t(shown.justification ? "alert.emergency.why" : "alert.emergency",
    { who: shown.who, when: dateTime(shown.time), why: shown.justification });
  $("alert").hidden = false;
}

async function dismiss() {
  const ids = shown ? [...shown.noticeIds] : [];
  reset();
  if (ids.length && context) {
    try {
      await context.consent.markNoticesRead(context.patient, ids);
    } catch {
      // shown again next time: better than lost
    }
  }
}
