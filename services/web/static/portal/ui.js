// The portal's shared pieces: status lines that a language switch says again, one plain
// sentence for an error (the gRPC status and the field violations it carries), elements, dates.

import { GrpcError } from "../lib/grpcweb.js";
import { current, t } from "../lib/i18n.js";
import { NoticeMismatch } from "../lib/registry.js";

export const $ = (id) => document.getElementById(id);

// The message a key names, with the status's own words for an error's {what}.
export function say(key, values = {}) {
  return t(key, { ...values, what: values.status ? t(`grpc.${values.status}`) : "" });
}

export function show(element, kind, key, values = {}) {
  element.className = `status ${kind}`;
  element.dataset.key = key;
  element.dataset.values = JSON.stringify(values);
  element.textContent = say(key, values);
}

export function clear(element) {
  element.className = "status";
  delete element.dataset.key;
  element.textContent = "";
}

// One sentence: what the service said no to, and why, naming the fields it named.
export function errorValues(error) {
  if (error instanceof GrpcError) {
    const fields = error.violations.map((v) => `${v.field} ${v.description}`).join("; ");
    return ["error.call", { status: error.status, details: fields || error.details }];
  }
  if (error instanceof NoticeMismatch) return ["notice.mismatch", { notice: error.message }];
  if (error && error.need) return [error.need, {}];
  return ["error.other", { why: error && error.message ? error.message : String(error) }];
}

export function showError(element, error) {
  const [key, values] = errorValues(error);
  show(element, "bad", key, values);
}

// Something the person has to do first; `need` names the message.
export function need(key) {
  const error = new Error(key);
  error.need = key;
  return error;
}

export function retranslateStatuses() {
  for (const element of document.querySelectorAll("[data-key]")) {
    element.textContent = say(element.dataset.key, JSON.parse(element.dataset.values));
  }
}

export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") element.textContent = value;
    else if (name === "className") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value !== false && value !== undefined && value !== null) element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.filter((c) => c !== null && c !== undefined));
  return element;
}

export function button(label, onclick, secondary = false) {
  return el("button", { type: "button", className: secondary ? "secondary" : "", onclick, text: label });
}

function locale() {
  return current() === "zh" ? "zh-CN" : "en-GB";
}

export function date(d) {
  return d ? d.toLocaleDateString(locale(), { year: "numeric", month: "short", day: "numeric" }) : "";
}

export function dateTime(d) {
  return d ? d.toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" }) : "";
}

export function categoryName(category) {
  return category === "*" ? t("cat.*") : t(`cat.${category}`);
}

export function purposeName(purpose) {
  return t(`purpose.${purpose}`);
}

export function list(items, name) {
  return items.map(name).join(current() === "zh" ? "、" : ", ");
}

// The checkboxes for `values`, all ticked unless `checked` says otherwise.
export function checkboxes(container, name, values, label, checked = () => true) {
  container.replaceChildren(...values.map((value) => el("label", { className: "choice" },
    el("input", { type: "checkbox", name, value, checked: checked(value) }), " ", el("span", { text: label(value) }))));
}

export function ticked(container) {
  return Array.from(container.querySelectorAll("input[type=checkbox]:checked"), (input) => input.value);
}
