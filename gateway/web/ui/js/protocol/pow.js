/**
 * Proof of work, the client's side of gateway/crypto/pow.py: read a challenge the server issued and
 * find an 8-byte nonce such that BLAKE2b-256(challenge bytes || nonce) starts with `difficulty`
 * zero bits. The server alone checks the MAC; pages solve in a worker (see tasks.js).
 */
import { b64encode, parseCanonicalJson, parseJson } from "./encoding.js";
import { BadProofOfWork } from "./errors.js";
import { readBytes, readInt, readObject, readStr, readVersion } from "./shape.js";
import { sodium } from "./sodium.js";

export const VERSION = 1;
export const ID_BYTES = 16;
export const NONCE_BYTES = 8;
export const MAC_BYTES = 32;
export const MAX_DIFFICULTY = 32;
export const MAX_TOKEN_BYTES = 1024;
export const PURPOSES = new Set(["submit", "lookup", "reply"]);

/** A challenge as issued: its exact bytes, their MAC, and the fields inside the bytes. */
export class PowChallenge {
  constructor({ challengeBytes, mac, id, purpose, difficulty, expires }) {
    Object.assign(this, { challengeBytes, mac, id, purpose, difficulty, expires });
    Object.freeze(this);
  }

  toJson() {
    return { challenge: b64encode(this.challengeBytes), mac: b64encode(this.mac), difficulty: this.difficulty, expires: this.expires };
  }
}

export class PowSolution {
  constructor(challenge, nonce) {
    this.challenge = challenge;
    this.nonce = nonce;
    Object.freeze(this);
  }

  /** What a request carries: {challenge, mac, nonce}. */
  toJson() {
    return { challenge: b64encode(this.challenge.challengeBytes), mac: b64encode(this.challenge.mac), nonce: b64encode(this.nonce) };
  }
}

function decodeChallenge(challengeBytes, mac) {
  const what = "challenge";
  const obj = parseCanonicalJson(challengeBytes, { maxBytes: MAX_TOKEN_BYTES, what });
  readObject(obj, { what, required: ["v", "id", "purpose", "difficulty", "expires"] });
  readVersion(obj, { what, supported: VERSION });
  return new PowChallenge({
    challengeBytes,
    mac,
    id: readBytes(obj, "id", { what, length: ID_BYTES }),
    purpose: readStr(obj, "purpose", { what, maxLength: 16, allowed: PURPOSES }),
    difficulty: readInt(obj, "difficulty", { what, maximum: MAX_DIFFICULTY }),
    expires: readInt(obj, "expires", { what }),
  });
}

/** The client's view of GET /api/v1/pow (it cannot check the MAC, and need not). */
export function parseChallenge(data) {
  const what = "challenge";
  const value = typeof data === "string" || data instanceof Uint8Array ? parseJson(data, { maxBytes: MAX_TOKEN_BYTES, what }) : data;
  const obj = readObject(value, { what, required: ["challenge", "mac"], optional: ["difficulty", "expires"] });
  const challenge = decodeChallenge(
    readBytes(obj, "challenge", { what, maxLength: MAX_TOKEN_BYTES }),
    readBytes(obj, "mac", { what, length: MAC_BYTES }),
  );
  // The readable copies are conveniences; the bytes inside the challenge are what count.
  const difficulty = Object.hasOwn(obj, "difficulty") ? obj.difficulty : challenge.difficulty;
  const expires = Object.hasOwn(obj, "expires") ? obj.expires : challenge.expires;
  if (difficulty !== challenge.difficulty || expires !== challenge.expires) {
    throw new BadProofOfWork("challenge fields contradict each other", { reason: "malformed" });
  }
  return challenge;
}

export function leadingZeroBits(digest) {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

function meetsDifficulty(digest, difficulty) {
  const whole = Math.floor(difficulty / 8);
  for (let i = 0; i < whole; i += 1) if (digest[i] !== 0) return false;
  const rest = difficulty % 8;
  return rest === 0 || digest[whole] >> (8 - rest) === 0;
}

function writeNonce(buffer, offset, counter) {
  const view = new DataView(buffer.buffer, buffer.byteOffset + offset, NONCE_BYTES);
  view.setUint32(0, Math.floor(counter / 2 ** 32));
  view.setUint32(4, counter % 2 ** 32);
}

/** BLAKE2b-256(challenge bytes || nonce); the nonce is a fixed 8 bytes. */
export function workHash(challengeBytes, nonce) {
  const input = new Uint8Array(challengeBytes.length + NONCE_BYTES);
  input.set(challengeBytes);
  input.set(nonce, challengeBytes.length);
  return sodium.crypto_generichash(32, input, null);
}

/**
 * Try nonces start, start+1, ... (u64 big-endian) until one meets the difficulty: 2^difficulty
 * hashes expected. Blocks the thread it runs on; pages call solveInWorker (tasks.js).
 * `onProgress(tried)` is called every 2^14 attempts; returning false from it stops the search.
 */
export function solve(challenge, { start = 0, onProgress = null } = {}) {
  const input = new Uint8Array(challenge.challengeBytes.length + NONCE_BYTES);
  input.set(challenge.challengeBytes);
  const offset = challenge.challengeBytes.length;
  for (let counter = start; counter <= Number.MAX_SAFE_INTEGER; counter += 1) {
    writeNonce(input, offset, counter);
    if (meetsDifficulty(sodium.crypto_generichash(32, input, null), challenge.difficulty)) {
      return new PowSolution(challenge, input.slice(offset));
    }
    if (onProgress !== null && (counter - start + 1) % 16384 === 0 && onProgress(counter - start + 1) === false) {
      return null;
    }
  }
  return null;
}
