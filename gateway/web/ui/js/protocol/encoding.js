/**
 * The byte encodings of protocol v1: strict unpadded base64url, UTF-8, canonical JSON and a strict
 * JSON parser that accepts exactly what gateway/crypto/encoding.py accepts.
 *
 * `JSON.parse` is not used for protocol data: it keeps the last of duplicate keys, turns
 * 9007199254740993 into another number and lets "\ud800" through, where the Python side refuses.
 */
import { Malformed, TooLarge } from "./errors.js";
import { sodium } from "./sodium.js";

export const MAX_SAFE_INTEGER = Number.MAX_SAFE_INTEGER;
const MAX_DEPTH = 32;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
// A UTF-16 string with an unpaired surrogate has no UTF-8 form; TextEncoder would silently
// replace it with U+FFFD, so it is refused instead.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const encoder = new TextEncoder();
// fatal: invalid UTF-8 is refused; ignoreBOM: a BOM stays in the text, and the parser refuses it.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function utf8Encode(text) {
  if (typeof text !== "string" || LONE_SURROGATE.test(text)) {
    throw new Malformed("text contains a lone surrogate, which is not valid Unicode");
  }
  return encoder.encode(text);
}

export function utf8Decode(bytes, what = "text") {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new Malformed(`${what} is not UTF-8`);
  }
}

/** Length in code points, as Python's len() counts text (not UTF-16 units). */
export function codePointLength(text) {
  let length = 0;
  for (const _ of text) length += 1;
  return length;
}

export function concatBytes(...parts) {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function isBytes(value) {
  return value instanceof Uint8Array;
}

/** Unpadded base64url (RFC 4648 section 5, no '='). */
export function b64encode(bytes) {
  return sodium.to_base64(bytes, sodium.base64_variants.URLSAFE_NO_PADDING);
}

function encodedLength(byteLength) {
  return Math.floor((byteLength * 4 + 2) / 3);
}

/**
 * Decode strict unpadded base64url; refuse padding, other alphabets and non-canonical tails.
 * `length` demands an exact decoded length, `maxLength` a bound checked before decoding.
 */
export function b64decode(text, { what, length = null, maxLength = null }) {
  if (typeof text !== "string") throw new Malformed(`${what} must be a base64url string`);
  // Lengths in code points, as Python counts them (only non-ASCII text differs, and is refused).
  if (maxLength !== null && text.length > encodedLength(maxLength) && codePointLength(text) > encodedLength(maxLength)) {
    throw new TooLarge(`${what} is longer than ${maxLength} bytes`);
  }
  if (length !== null && text.length !== encodedLength(length)) {
    throw new Malformed(`${what} must encode exactly ${length} bytes`);
  }
  if (text.length % 4 === 1 || !BASE64URL.test(text)) {
    throw new Malformed(`${what} is not unpadded base64url`);
  }
  let data;
  try {
    data = sodium.from_base64(text, sodium.base64_variants.URLSAFE_NO_PADDING);
  } catch {
    throw new Malformed(`${what} is not unpadded base64url`);
  }
  // Unused trailing bits must be zero, so that every byte string has exactly one encoding.
  if (b64encode(data) !== text) throw new Malformed(`${what} is not canonical base64url`);
  return data;
}

export function toHex(bytes) {
  return sodium.to_hex(bytes);
}

// ------------------------------------------------------------------ canonical JSON

function isPlainObject(value) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function checkEncodable(value, depth) {
  if (depth > MAX_DEPTH) throw new Malformed("JSON nesting is too deep");
  if (value === null || typeof value === "boolean") return;
  if (typeof value === "string") {
    if (LONE_SURROGATE.test(value)) throw new Malformed("JSON text contains a lone surrogate");
    return;
  }
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new Malformed("JSON numbers must be integers");
    if (!Number.isSafeInteger(value)) {
      throw new Malformed("integer outside the range JSON numbers keep exactly");
    }
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) checkEncodable(item, depth + 1);
    return;
  }
  if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      // ASCII keys make Python's code-point order and JavaScript's UTF-16 order the same.
      if (!/^[\x00-\x7f]*$/.test(key)) throw new Malformed("JSON object keys must be ASCII strings");
      checkEncodable(value[key], depth + 1);
    }
    return;
  }
  throw new Malformed(`${typeof value} has no canonical JSON form`);
}

function serialise(value) {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  // -0 is written as 0, as Python (which has no negative integer zero) writes it.
  if (typeof value === "number") return Object.is(value, -0) ? "0" : String(value);
  // JSON.stringify of a string escapes exactly what Python's json.dumps(ensure_ascii=False) does:
  // '"', '\\', \b \t \n \f \r and other U+0000..U+001F as lower-case \u00xx.
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(serialise).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${serialise(value[key])}`).join(",")}}`;
}

/**
 * Canonical JSON bytes: sorted ASCII keys, no whitespace, UTF-8, safe integers, no lone surrogates.
 * Keys are sorted explicitly: JavaScript objects list integer-like keys ("10", "2") first.
 */
export function canonicalJson(value) {
  checkEncodable(value, 0);
  return encoder.encode(serialise(value));
}

// ------------------------------------------------------------------ strict parsing

class Parser {
  constructor(text, what) {
    this.text = text;
    this.pos = 0;
    this.what = what;
  }

  fail(reason = "is not valid JSON") {
    throw new Malformed(`${this.what} ${reason}`);
  }

  skipWhitespace() {
    const { text } = this;
    while (this.pos < text.length) {
      const c = text.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      this.pos += 1;
    }
  }

  parseDocument() {
    this.skipWhitespace();
    const value = this.parseValue(0);
    this.skipWhitespace();
    if (this.pos !== this.text.length) this.fail();
    return value;
  }

  parseValue(depth) {
    // Python refuses any value deeper than 32; refusing while parsing also bounds the recursion.
    if (depth > MAX_DEPTH) this.fail("nests too deeply");
    const c = this.text[this.pos];
    if (c === "{") return this.parseObject(depth);
    if (c === "[") return this.parseArray(depth);
    if (c === '"') return this.parseString();
    if (c === "-" || (c >= "0" && c <= "9")) return this.parseNumber();
    for (const [word, value] of [["true", true], ["false", false], ["null", null]]) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return value;
      }
    }
    if (this.text.startsWith("NaN", this.pos) || this.text.startsWith("Infinity", this.pos)) {
      this.fail("contains NaN or Infinity, which are not JSON");
    }
    return this.fail();
  }

  parseObject(depth) {
    this.pos += 1;
    const result = {};
    this.skipWhitespace();
    if (this.text[this.pos] === "}") {
      this.pos += 1;
      return result;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.pos] !== '"') this.fail();
      const key = this.parseString();
      this.skipWhitespace();
      if (this.text[this.pos] !== ":") this.fail();
      this.pos += 1;
      this.skipWhitespace();
      const value = this.parseValue(depth + 1);
      if (Object.hasOwn(result, key)) this.fail("has a duplicate key");
      // defineProperty: a key "__proto__" becomes data, never the object's prototype.
      Object.defineProperty(result, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      this.skipWhitespace();
      const next = this.text[this.pos];
      this.pos += 1;
      if (next === "}") return result;
      if (next !== ",") this.fail();
    }
  }

  parseArray(depth) {
    this.pos += 1;
    const result = [];
    this.skipWhitespace();
    if (this.text[this.pos] === "]") {
      this.pos += 1;
      return result;
    }
    for (;;) {
      this.skipWhitespace();
      result.push(this.parseValue(depth + 1));
      this.skipWhitespace();
      const next = this.text[this.pos];
      this.pos += 1;
      if (next === "]") return result;
      if (next !== ",") this.fail();
    }
  }

  parseString() {
    const { text } = this;
    this.pos += 1;
    let out = "";
    let start = this.pos;
    for (;;) {
      if (this.pos >= text.length) this.fail();
      const c = text.charCodeAt(this.pos);
      if (c === 0x22) {
        out += text.slice(start, this.pos);
        this.pos += 1;
        return out;
      }
      if (c < 0x20) this.fail("has a control character inside a string");
      if (c !== 0x5c) {
        this.pos += 1;
        continue;
      }
      out += text.slice(start, this.pos);
      const escape = text[this.pos + 1];
      const simple = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
      if (escape !== undefined && Object.hasOwn(simple, escape)) {
        out += simple[escape];
        this.pos += 2;
      } else if (escape === "u") {
        const hex = text.slice(this.pos + 2, this.pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail();
        // Pairs of \u escapes combine as in Python; a lone surrogate is refused below.
        out += String.fromCharCode(Number.parseInt(hex, 16));
        this.pos += 6;
      } else {
        this.fail();
      }
      start = this.pos;
    }
  }

  parseNumber() {
    const match = /^-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/.exec(this.text.slice(this.pos, this.pos + 400));
    if (match === null) this.fail();
    if (match[1] !== undefined || match[2] !== undefined) this.fail("has a number that is not an integer");
    const digits = match[0].replace(/^-/, "");
    // Bound the digits first, as the Python parser does; beyond 16 digits nothing is safe.
    if (digits.length > 16) this.fail("has an integer outside the range JSON numbers keep exactly");
    const value = Number(match[0]);
    if (!Number.isSafeInteger(value)) {
      this.fail("has an integer outside the range JSON numbers keep exactly");
    }
    this.pos += match[0].length;
    return Object.is(value, -0) ? 0 : value;
  }
}

/**
 * Parse strict JSON: UTF-8, no BOM, no duplicate keys, no floats, NaN or Infinity, integers within
 * 2^53-1, no lone surrogates, object keys ASCII, nesting at most 32, bounded size.
 * `data` is a Uint8Array (size in bytes) or a string (size in code points, as Python counts).
 */
export function parseJson(data, { maxBytes, what }) {
  let text;
  if (typeof data === "string") {
    if (data.length > maxBytes && codePointLength(data) > maxBytes) {
      throw new TooLarge(`${what} is larger than ${maxBytes} bytes`);
    }
    text = data;
  } else if (isBytes(data)) {
    if (data.length > maxBytes) throw new TooLarge(`${what} is larger than ${maxBytes} bytes`);
    text = utf8Decode(data, what);
  } else {
    throw new Malformed(`${what} must be text or bytes`);
  }
  const value = new Parser(text, what).parseDocument();
  checkEncodable(value, 0);
  return value;
}

/** Parse a JSON object and insist the bytes are its canonical encoding (one form per value). */
export function parseCanonicalJson(bytes, { maxBytes, what }) {
  const value = parseJson(bytes, { maxBytes, what });
  if (!isPlainObject(value)) throw new Malformed(`${what} must be a JSON object`);
  if (!bytesEqual(canonicalJson(value), bytes)) throw new Malformed(`${what} is not canonical JSON`);
  return value;
}

/** Plain (not constant-time) equality, for public bytes such as canonical encodings. */
export function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

/** Lexicographic order of raw bytes (the order of recipients in a header). */
export function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

export { isPlainObject };
