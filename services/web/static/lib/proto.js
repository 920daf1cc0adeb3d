// The few protobuf wire-format pieces the pages need (proto3: varints and length-delimited
// fields), written by hand so that nothing is fetched or bundled. Integers are BigInt.

import { fromUtf8, utf8 } from "./bytes.js";

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

function varint(value) {
  let v = BigInt.asUintN(64, BigInt(value));
  const out = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return out;
}

// Encodes [number, kind, value] fields in the order given; kind is "uint" (any varint: uint64,
// int32, bool, enum), "bytes" or "string". Zero values are left out, as proto3 does.
export function encode(fields) {
  const out = [];
  for (const [number, kind, value] of fields) {
    if (kind === "uint") {
      const v = typeof value === "boolean" ? BigInt(value ? 1 : 0) : BigInt(value);
      if (v === 0n) continue;
      out.push(...varint((BigInt(number) << 3n) | BigInt(VARINT)), ...varint(v));
    } else {
      const bytes = kind === "string" ? utf8(value) : value;
      if (!bytes.length) continue;
      out.push(...varint((BigInt(number) << 3n) | BigInt(LEN)), ...varint(bytes.length), ...bytes);
    }
  }
  return Uint8Array.from(out);
}

export class Message {
  constructor(fields) {
    this.fields = fields; // number -> list of values (BigInt or Uint8Array), in wire order
  }

  uint(number) {
    const values = this.fields.get(number);
    return values ? values[values.length - 1] : 0n;
  }

  bytes(number) {
    const values = this.fields.get(number);
    return values ? values[values.length - 1] : new Uint8Array(0);
  }

  string(number) {
    return fromUtf8(this.bytes(number));
  }

  message(number) {
    return decode(this.bytes(number));
  }

  repeated(number) {
    return this.fields.get(number) || [];
  }

  strings(number) {
    return this.repeated(number).map(fromUtf8);
  }

  messages(number) {
    return this.repeated(number).map(decode);
  }

  // A repeated varint field (enums), packed (proto3's default) or not, as Numbers.
  numbers(number) {
    const out = [];
    for (const value of this.repeated(number)) {
      if (typeof value === "bigint") out.push(Number(value));
      else out.push(...unpack(value));
    }
    return out;
  }

  has(number) {
    return this.fields.has(number);
  }
}

function unpack(bytes) {
  const out = [];
  let value = 0;
  let shift = 0;
  for (const byte of bytes) {
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(byte & 0x80)) {
      out.push(value);
      value = 0;
      shift = 0;
    }
  }
  return out;
}

export function decode(bytes) {
  const fields = new Map();
  let at = 0;
  const readVarint = () => {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (at >= bytes.length) throw new Error("truncated varint");
      const byte = bytes[at++];
      result |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return BigInt.asUintN(64, result);
    }
    throw new Error("varint too long");
  };
  while (at < bytes.length) {
    const key = readVarint();
    const number = Number(key >> 3n);
    const wire = Number(key & 7n);
    let value;
    if (wire === VARINT) value = readVarint();
    else if (wire === LEN) {
      const length = Number(readVarint());
      if (at + length > bytes.length) throw new Error("truncated field");
      value = bytes.slice(at, at + length);
      at += length;
    } else if (wire === I64 || wire === I32) {
      at += wire === I64 ? 8 : 4; // no such fields in our messages; skipped
      continue;
    } else throw new Error(`unsupported wire type ${wire}`);
    if (!fields.has(number)) fields.set(number, []);
    fields.get(number).push(value);
  }
  return new Message(fields);
}
