// RFC 8785 (JSON Canonicalization Scheme) for the values the pages hash or verify: objects with
// keys sorted by UTF-16 code units, ECMAScript number and string serialisation, no whitespace.

import { utf8 } from "./bytes.js";

export function canonicalText(value) {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) throw new Error("not a JSON number");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalText).join(",")}]`;
  const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalText(value[k])}`).join(",")}}`;
}

export function canonicalJson(value) {
  return utf8(canonicalText(value));
}
