// The patient portal: a patient (or a proxy acting for them, with their own key) sees and
// decides who may see their records. Every call goes through the server's gRPC-Web door to the
// same services and rules as any other client, signed per call by the key held in this browser
// (no session); the portal receives record metadata only, never content.

import { ConsentClient } from "../lib/consent.js";
import { ExchangeClient } from "../lib/exchange.js";
import { current, setup, t, use } from "../lib/i18n.js";
import * as keystore from "../lib/keystore.js";
import { qrSvg } from "../lib/qr.js";
import { RegistryClient, redeemEnrolmentCode } from "../lib/registry.js";
import * as consents from "./consents.js";
import * as history from "./history.js";
import * as proxies from "./proxies.js";
import * as receipts from "./receipts.js";
import * as records from "./records.js";
import * as requests from "./requests.js";
import { STRINGS } from "./strings.js";
import { $, need, retranslateStatuses, show, showError } from "./ui.js";

const SLOT = "patient";
const sections = [requests, consents, receipts, records, history, proxies];
const state = { key: null, ctx: null, opening: 0 };

function renderKey() {
  $("key-details").hidden = !state.key;
  $("create-key").textContent = t(state.key ? "key.replace" : "key.create");
  if (!state.key) return;
  $("public-key").textContent = state.key.publicBase64;
  $("key-id").textContent = state.key.keyId;
  // The QR code is the public key's base64, exactly what `consentry operator enrol-patient
  // --identity-public-key` takes: a scanner pastes it there.
  $("qr").replaceChildren(qrSvg(state.key.publicBase64, t("key.qr")));
}

async function createKey() {
  if (state.key && !confirm(t("key.replace.confirm"))) return;
  state.key = await keystore.create(SLOT);
  renderKey();
  show($("key-status"), "info", "key.made");
}

async function redeem() {
  const status = $("key-status");
  const code = $("enrol-code").value.trim();
  try {
    if (!code) throw need("need.code");
    const key = await keystore.generate();
    const enrolled = await redeemEnrolmentCode(key, code);
    state.key = await keystore.save(SLOT, key);
    $("my-id").value = enrolled.patientId;
    $("acting-for").value = $("acting-for").value || enrolled.patientId;
    remember();
    renderKey();
    show(status, "ok", "code.done", { id: enrolled.patientId, keyId: enrolled.keyId });
  } catch (error) {
    showError(status, error);
  }
}

function remember() {
  localStorage.setItem("consentry.portal.me", $("my-id").value.trim());
  localStorage.setItem("consentry.portal.patient", $("acting-for").value.trim());
}

async function open() {
  const status = $("open-status");
  try {
    const me = $("my-id").value.trim();
    if (!me) throw need("need.id");
    if (!state.key) throw need("need.key");
    if (!$("acting-for").value.trim()) $("acting-for").value = me;
    const patient = $("acting-for").value.trim();
    remember();
    const opening = ++state.opening;
    if (state.ctx) history.stop();
    const principal = `patient:${me}`;
    state.ctx = { me, patient, proxy: me !== patient,
      consent: new ConsentClient(state.key, principal), exchange: new ExchangeClient(state.key, principal),
      registry: new RegistryClient(state.key, principal), reload: {} };
    for (const section of sections) state.ctx.reload[section.NAME] = () => section.load(state.ctx);
    $("portal").hidden = false;
    show(status, "info", "open.working");
    const ctx = state.ctx;
    await Promise.all(sections.map((section) => section.load(ctx)));
    if (opening !== state.opening) return; // opened again meanwhile: that one goes on
    show(status, "ok", ctx.proxy ? "open.proxy" : "open.done", { patient, me });
    history.start(ctx);
  } catch (error) {
    showError(status, error);
  }
}

function retranslate() {
  $("language").textContent = t("language");
  retranslateStatuses();
  renderKey();
  for (const section of sections) section.render?.(state.ctx);
}

async function start() {
  setup(STRINGS);
  $("language").addEventListener("click", () => use(current() === "zh" ? "en" : "zh"));
  $("my-id").value = localStorage.getItem("consentry.portal.me") || "";
  $("acting-for").value = localStorage.getItem("consentry.portal.patient") || "";
  $("my-id").addEventListener("change", remember);
  $("create-key").addEventListener("click", createKey);
  $("redeem").addEventListener("click", redeem);
  $("open").addEventListener("click", open);
  for (const section of sections) section.setup(() => state.ctx);
  state.key = await keystore.load(SLOT);
  document.addEventListener("languagechange", retranslate);
  retranslate();
  document.body.dataset.ready = "true";
  // A returning patient (or proxy) finds their records open.
  if (state.key && $("my-id").value.trim() && $("acting-for").value.trim()) open();
}

start();
