/**
 * Pickup codes: generation, normalisation and validation, and what a code derives, as in
 * gateway/crypto/pickup.py: 27 uniform random digits + one Damm check digit, seven groups of four;
 * Argon2id gives the case's locator and the reporter's X25519 key pair.
 */
import { b64decode, b64encode, concatBytes, utf8Encode } from "./encoding.js";
import { BadPickupCode, Malformed } from "./errors.js";
import { blake2b128 } from "./hashing.js";
import { V1_PARAMS, argon2id } from "./kdf.js";
import { PUBLIC_KEY_BYTES, X25519KeyPair } from "./keys.js";
import { isBlank } from "./shape.js";
import { systemRandom } from "./sodium.js";

export const SECRET_DIGITS = 27;
export const CODE_DIGITS = SECRET_DIGITS + 1;
export const GROUP_SIZE = 4;
export const LOCATOR_BYTES = 32;
export const SALT_LABEL = utf8Encode("tipline/pickup/v1");
// Part of the protocol, not configuration: other parameters would derive other locators.
export const PICKUP_KDF = V1_PARAMS;

// Damm's table: one check digit detects every single-digit error and every adjacent swap.
const DAMM = [
  [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
  [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
  [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
  [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
  [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
  [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
  [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
  [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
  [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
  [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

// The zero of every decimal digit block a phone keyboard may produce, an explicit table (not
// "Unicode Nd") so that Python and every browser accept the same input: ASCII, Arabic-Indic,
// Extended Arabic-Indic, Devanagari, Bengali, Gurmukhi, Gujarati, Oriya, Tamil, Telugu, Kannada,
// Malayalam, Thai, Lao, Tibetan, Myanmar, Khmer, Mongolian, full-width.
export const DIGIT_ZEROS = [
  0x0030, 0x0660, 0x06f0, 0x0966, 0x09e6, 0x0a66, 0x0ae6, 0x0b66, 0x0be6, 0x0c66,
  0x0ce6, 0x0d66, 0x0e50, 0x0ed0, 0x0f20, 0x1040, 0x17e0, 0x1810, 0xff10,
];

// Ignored between groups: spaces (incl. no-break and ideographic), tab and newlines, hyphens and
// dashes of every width, the minus sign, dots and middle dots.
export const SEPARATORS = new Set(
  " \t\r\n\u00a0\u2007\u202f\u3000" + "-\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d" + ".\u00b7\u30fb\uff0e",
);

const DIGIT_VALUES = new Map(DIGIT_ZEROS.flatMap((zero) => Array.from({ length: 10 }, (_, v) => [zero + v, v])));

const MAX_INPUT_CHARS = 200;

/** The Damm check digit of a string of ASCII digits. */
export function dammCheckDigit(digits) {
  let interim = 0;
  for (const ch of digits) interim = DAMM[interim][ch.charCodeAt(0) - 0x30];
  return interim;
}

/**
 * The code's 28 ASCII digits, or BadPickupCode saying why the input cannot be a code.
 * Separators are dropped; digits of the scripts in DIGIT_ZEROS become ASCII digits.
 */
export function normalise(text) {
  if (typeof text !== "string" || isBlank(text)) {
    throw new BadPickupCode("please enter your pickup code", { reason: "empty" });
  }
  const chars = Array.from(text);
  if (chars.length > MAX_INPUT_CHARS) {
    throw new BadPickupCode(`that is too long for a pickup code, which has ${CODE_DIGITS} digits`, { reason: "too_long" });
  }
  const digits = [];
  chars.forEach((ch, index) => {
    if (SEPARATORS.has(ch)) return;
    const value = DIGIT_VALUES.get(ch.codePointAt(0));
    if (value === undefined) {
      // The character itself is not echoed: it is part of a secret.
      throw new BadPickupCode(`character ${index + 1} is not a digit; a pickup code has only digits`, {
        reason: "not_a_digit",
      });
    }
    digits.push(String(value));
  });
  if (digits.length === 0) throw new BadPickupCode("please enter your pickup code", { reason: "empty" });
  if (digits.length < CODE_DIGITS) {
    throw new BadPickupCode(
      `the code has ${digits.length} digits, a pickup code has ${CODE_DIGITS}: a digit is missing`,
      { reason: "too_short" },
    );
  }
  if (digits.length > CODE_DIGITS) {
    throw new BadPickupCode(
      `the code has ${digits.length} digits, a pickup code has ${CODE_DIGITS}: there is a digit too many`,
      { reason: "too_long" },
    );
  }
  const normalised = digits.join("");
  if (dammCheckDigit(normalised) !== 0) {
    throw new BadPickupCode(
      "this code has a typing error: a digit is wrong or two neighbouring digits are swapped; " +
        "please compare it group by group",
      { reason: "typo" },
    );
  }
  return normalised;
}

/**
 * A valid pickup code: 28 ASCII digits, the last the Damm check digit of the others. The digits
 * are hidden from toString/JSON so that a code never lands in a log by accident; `display()` and
 * `normalised` are the deliberate ways to get at it.
 */
export class PickupCode {
  #digits;

  constructor(normalised) {
    if (typeof normalised !== "string" || normalise(normalised) !== normalised) {
      throw new BadPickupCode("a pickup code is 28 digits without separators", { reason: "typo" });
    }
    this.#digits = normalised;
    Object.freeze(this);
  }

  get normalised() {
    return this.#digits;
  }

  /** A fresh code; digits come by rejection sampling so that each is exactly uniform. */
  static generate(randomBytes = systemRandom) {
    const digits = [];
    while (digits.length < SECRET_DIGITS) {
      for (const byte of randomBytes(32)) {
        // 250 is the largest multiple of 10 in a byte: accepting only 0..249 avoids bias.
        if (byte < 250 && digits.length < SECRET_DIGITS) digits.push(String(byte % 10));
      }
    }
    const secret = digits.join("");
    return new PickupCode(secret + String(dammCheckDigit(secret)));
  }

  /** Normalise what a person typed and validate it, saying precisely what is wrong. */
  static parse(text) {
    return new PickupCode(normalise(text));
  }

  /** Seven groups of four digits joined by dashes. */
  display() {
    return this.#digits.match(/.{4}/g).join("-");
  }

  toString() {
    return "PickupCode(<hidden>)";
  }

  toJSON() {
    return "PickupCode(<hidden>)";
  }
}

/** The 32 bytes the server finds a case by; sent as `Authorization: Locator <base64url>`. */
export class Locator {
  #value;

  constructor(value) {
    if (!(value instanceof Uint8Array) || value.length !== LOCATOR_BYTES) {
      throw new Malformed(`a locator is ${LOCATOR_BYTES} bytes`);
    }
    this.#value = value;
    Object.freeze(this);
  }

  get value() {
    return this.#value;
  }

  encoded() {
    return b64encode(this.#value);
  }

  /** The Authorization header value for reporter requests. */
  authorization() {
    return `Locator ${this.encoded()}`;
  }

  static decode(text) {
    return new Locator(b64decode(text, { what: "locator", length: LOCATOR_BYTES }));
  }

  toString() {
    return "Locator(<hidden>)";
  }

  toJSON() {
    return "Locator(<hidden>)";
  }
}

/** What a code derives: the case's locator and the reporter's X25519 key pair. */
export class ReporterKeys {
  constructor(locator, enc) {
    this.locator = locator;
    this.enc = enc;
    Object.freeze(this);
  }
}

/** BLAKE2b-128("tipline/pickup/v1" || org_pk): codes are bound to one organisation. */
export function pickupSalt(orgPublicKey) {
  if (!(orgPublicKey instanceof Uint8Array) || orgPublicKey.length !== PUBLIC_KEY_BYTES) {
    throw new Malformed(`the organisation key must be ${PUBLIC_KEY_BYTES} bytes`);
  }
  return blake2b128(concatBytes(SALT_LABEL, orgPublicKey));
}

/** The 64-byte Argon2id seed of a code (about half a second; see worker.js). */
export function deriveSeed(code, orgPublicKey, kdf = PICKUP_KDF) {
  return argon2id(utf8Encode(code.normalised), pickupSalt(orgPublicKey), kdf, 64);
}

/** Split a seed: locator = seed[0:32]; reporter X25519 secret = seed[32:64]. */
export function reporterKeysFromSeed(seed) {
  if (!(seed instanceof Uint8Array) || seed.length !== 64) throw new Malformed("a pickup seed is 64 bytes");
  return new ReporterKeys(new Locator(seed.slice(0, LOCATOR_BYTES)), X25519KeyPair.fromSecret(seed.slice(LOCATOR_BYTES)));
}

export function deriveReporterKeys(code, orgPublicKey, kdf = PICKUP_KDF) {
  return reporterKeysFromSeed(deriveSeed(code, orgPublicKey, kdf));
}
