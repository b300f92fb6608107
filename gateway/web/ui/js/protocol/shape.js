/**
 * Strict readers that take parsed JSON apart: exact field sets, exact types, bounded sizes, as in
 * gateway/crypto/shape.py. Lengths of text are counted in code points, as Python counts them.
 */
import { b64decode, codePointLength, isPlainObject } from "./encoding.js";
import { Malformed, UnsupportedVersion } from "./errors.js";

/** The value as an object whose keys are exactly `required` plus any of `optional`. */
export function readObject(value, { what, required, optional = [] }) {
  if (!isPlainObject(value)) throw new Malformed(`${what} must be a JSON object`);
  const keys = Object.keys(value);
  const missing = [...required].filter((key) => !Object.hasOwn(value, key)).sort();
  if (missing.length) throw new Malformed(`${what} lacks ${missing.join(", ")}`);
  const known = new Set([...required, ...optional]);
  const unknown = keys.filter((key) => !known.has(key)).sort();
  if (unknown.length) throw new Malformed(`${what} has unknown fields ${unknown.join(", ")}`);
  return value;
}

function isInteger(value) {
  return typeof value === "number" && Number.isSafeInteger(value);
}

export function readVersion(obj, { what, supported = 1 }) {
  const version = obj.v;
  if (!isInteger(version)) throw new Malformed(`${what}.v must be an integer`);
  if (version !== supported) {
    throw new UnsupportedVersion(`${what} has version ${version}; this client speaks ${supported}`);
  }
  return version;
}

export function readInt(obj, key, { what, minimum = 0, maximum = Number.MAX_SAFE_INTEGER }) {
  const value = obj[key];
  if (!isInteger(value)) throw new Malformed(`${what}.${key} must be an integer`);
  if (!(minimum <= value && value <= maximum)) {
    throw new Malformed(`${what}.${key} must be between ${minimum} and ${maximum}`);
  }
  return value;
}

export function readStr(obj, key, { what, minLength = 0, maxLength, allowed = null }) {
  const value = obj[key];
  if (typeof value !== "string") throw new Malformed(`${what}.${key} must be a string`);
  const length = codePointLength(value);
  if (!(minLength <= length && length <= maxLength)) {
    throw new Malformed(`${what}.${key} must have ${minLength} to ${maxLength} characters`);
  }
  if (allowed !== null && !allowed.has(value)) {
    throw new Malformed(`${what}.${key} must be one of ${[...allowed].sort().join(", ")}`);
  }
  return value;
}

export function readBytes(obj, key, { what, length = null, maxLength = null }) {
  return b64decode(obj[key], { what: `${what}.${key}`, length, maxLength });
}

export function readList(obj, key, { what, maxItems }) {
  const value = obj[key];
  if (!Array.isArray(value)) throw new Malformed(`${what}.${key} must be a list`);
  if (value.length > maxItems) throw new Malformed(`${what}.${key} has more than ${maxItems} items`);
  return value;
}

/** True when text holds C0/C1 control characters, which no name or label needs. */
export function hasControlCharacters(text) {
  for (const ch of text) {
    const cp = ch.codePointAt(0);
    if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return true;
  }
  return false;
}

// Python's str.isspace(): what `text.strip()` removes on the Python side.
const PYTHON_SPACE = "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";

export function isPythonSpace(ch) {
  return PYTHON_SPACE.includes(ch);
}

/** True for "" and text made only of whitespace (Python: `not text.strip()`). */
export function isBlank(text) {
  for (const ch of text) if (!isPythonSpace(ch)) return false;
  return true;
}
