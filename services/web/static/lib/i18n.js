// English and Simplified Chinese labels, switchable; the choice is kept in this browser.
// Elements name their label with data-i18n="key"; messages with {name} placeholders are filled.

const STORAGE = "consentry.lang";
let strings = {};
let lang = "en";

export function setup(table) {
  strings = table;
  const saved = localStorage.getItem(STORAGE);
  const preferred = (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
  use(saved in table ? saved : preferred);
}

export function use(which) {
  lang = which;
  localStorage.setItem(STORAGE, which);
  document.documentElement.lang = which === "zh" ? "zh-Hans" : "en";
  for (const element of document.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of document.querySelectorAll("[data-i18n-placeholder]")) {
    element.placeholder = t(element.dataset.i18nPlaceholder);
  }
  document.dispatchEvent(new CustomEvent("languagechange"));
}

export function current() {
  return lang;
}

export function t(key, values = {}) {
  const text = (strings[lang] && strings[lang][key]) ?? strings.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}
