/**
 * Key pairs, key ids and human-checkable fingerprints, as in gateway/crypto/keys.py.
 *
 * A key id names a public key in headers (BLAKE2b-128 of the key); a fingerprint is what people
 * compare by eye (BLAKE2b-160 over a labelled key, ten groups of four hex digits).
 */
import { toHex, utf8Encode } from "./encoding.js";
import { BadSignature, Malformed } from "./errors.js";
import { blake2b, blake2b128, equal, lengthPrefixed } from "./hashing.js";
import { sodium, systemRandom } from "./sodium.js";

export const PUBLIC_KEY_BYTES = 32;
export const SECRET_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const KEY_ID_BYTES = 16;
export const FINGERPRINT_BYTES = 20;

const FINGERPRINT_LABEL = utf8Encode("tipline/v1/fingerprint");
// Python's `\s` (str.isspace), ':' and '-': the separators parse_fingerprint drops.
const FINGERPRINT_SEPARATORS = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000:-]/gu;

export function requireLength(value, length, what) {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw new Malformed(`${what} must be ${length} bytes`);
  }
}

/** The 16-byte id of a public key: BLAKE2b-128(public key). */
export function keyId(publicKey) {
  requireLength(publicKey, PUBLIC_KEY_BYTES, "public key");
  return blake2b128(publicKey);
}

function groupHex(hex) {
  return hex.match(/.{4}/g).join("-");
}

/** Ten dash-separated groups of four lower-case hex digits. */
export function fingerprint(publicKey) {
  requireLength(publicKey, PUBLIC_KEY_BYTES, "public key");
  return groupHex(toHex(blake2b(lengthPrefixed(FINGERPRINT_LABEL, publicKey), FINGERPRINT_BYTES)));
}

/** Normalise a typed or pasted fingerprint (case, spaces, dashes, colons) to canonical form. */
export function parseFingerprint(text) {
  const compact = String(text).replace(FINGERPRINT_SEPARATORS, "").toLowerCase();
  if (!/^[0-9a-f]{40}$/.test(compact)) throw new Malformed("a fingerprint is 40 hexadecimal digits");
  return groupHex(compact);
}

/** True when `text` (in any accepted spelling) is the fingerprint of `publicKey`. */
export function fingerprintMatches(publicKey, text) {
  return equal(utf8Encode(fingerprint(publicKey)), utf8Encode(parseFingerprint(text)));
}

/** An encryption key pair; the secret is used as is (X25519 clamps it itself). */
export class X25519KeyPair {
  constructor(secret, publicKey) {
    this.secret = secret;
    this.public = publicKey;
    Object.freeze(this);
  }

  static fromSecret(secret) {
    requireLength(secret, SECRET_KEY_BYTES, "X25519 secret key");
    return new X25519KeyPair(secret, sodium.crypto_scalarmult_base(secret));
  }

  static generate(randomBytes = systemRandom) {
    return X25519KeyPair.fromSecret(randomBytes(SECRET_KEY_BYTES));
  }

  get kid() {
    return keyId(this.public);
  }

  toString() {
    return "X25519KeyPair(<secret hidden>)";
  }
}

/** A signing key pair kept as its 32-byte seed (crypto_sign_seed_keypair). */
export class Ed25519KeyPair {
  #secretKey;

  constructor(seed, publicKey, secretKey) {
    this.seed = seed;
    this.public = publicKey;
    this.#secretKey = secretKey;
    Object.freeze(this);
  }

  static fromSeed(seed) {
    requireLength(seed, SECRET_KEY_BYTES, "Ed25519 seed");
    const pair = sodium.crypto_sign_seed_keypair(seed);
    return new Ed25519KeyPair(seed, pair.publicKey, pair.privateKey);
  }

  static generate(randomBytes = systemRandom) {
    return Ed25519KeyPair.fromSeed(randomBytes(SECRET_KEY_BYTES));
  }

  get kid() {
    return keyId(this.public);
  }

  /** A detached 64-byte Ed25519 signature (deterministic, RFC 8032). */
  sign(message) {
    return sodium.crypto_sign_detached(message, this.#secretKey);
  }

  toString() {
    return "Ed25519KeyPair(<secret hidden>)";
  }
}

/** Throw BadSignature unless `signature` is a valid Ed25519 signature of `message`. */
export function verifySignature(publicKey, message, signature) {
  if (
    !(publicKey instanceof Uint8Array) ||
    !(signature instanceof Uint8Array) ||
    publicKey.length !== PUBLIC_KEY_BYTES ||
    signature.length !== SIGNATURE_BYTES
  ) {
    throw new BadSignature("signature or public key has the wrong length");
  }
  let valid = false;
  try {
    valid = sodium.crypto_sign_verify_detached(signature, message, publicKey);
  } catch {
    valid = false;
  }
  if (!valid) throw new BadSignature("signature does not verify");
}

/** An investigator's two key pairs: X25519 to receive messages, Ed25519 to sign them. */
export class InvestigatorKeys {
  constructor(enc, sig) {
    this.enc = enc;
    this.sig = sig;
    Object.freeze(this);
  }

  static generate(randomBytes = systemRandom) {
    return new InvestigatorKeys(X25519KeyPair.generate(randomBytes), Ed25519KeyPair.generate(randomBytes));
  }
}
