/**
 * Size hiding, as in gateway/crypto/padding.py: envelope plaintexts padded to a fixed bucket table,
 * attachment sizes rounded with Padmé.
 */
import { Malformed, TooLarge } from "./errors.js";

export const KIB = 1024;
export const MIB = 1024 * KIB;
export const LENGTH_PREFIX_BYTES = 4;

// Powers of two from 1 KiB to 1 MiB, then whole MiB up to 4 MiB.
export const ENVELOPE_BUCKETS = Object.freeze([
  ...Array.from({ length: 11 }, (_, shift) => KIB * 2 ** shift),
  2 * MIB,
  3 * MIB,
  4 * MIB,
]);
export const MAX_ENVELOPE_PLAINTEXT = ENVELOPE_BUCKETS[ENVELOPE_BUCKETS.length - 1] - LENGTH_PREFIX_BYTES;

/** The smallest bucket that holds `length` bytes of plaintext plus the length prefix. */
export function envelopeBucket(length) {
  const needed = length + LENGTH_PREFIX_BYTES;
  const bucket = ENVELOPE_BUCKETS.find((size) => needed <= size);
  if (bucket === undefined) throw new TooLarge(`a message may have at most ${MAX_ENVELOPE_PLAINTEXT} bytes`);
  return bucket;
}

/** u32be(len) || plaintext || zero bytes, up to the bucket size. */
export function pad(plaintext) {
  const padded = new Uint8Array(envelopeBucket(plaintext.length));
  new DataView(padded.buffer).setUint32(0, plaintext.length);
  padded.set(plaintext, LENGTH_PREFIX_BYTES);
  return padded;
}

/** Undo `pad`, refusing anything `pad` would not have produced. */
export function unpad(padded) {
  if (!ENVELOPE_BUCKETS.includes(padded.length)) throw new Malformed("padded message is not one of the bucket sizes");
  const length = new DataView(padded.buffer, padded.byteOffset, padded.byteLength).getUint32(0);
  const end = LENGTH_PREFIX_BYTES + length;
  if (end > padded.length) throw new Malformed("padded message declares more bytes than it holds");
  if (envelopeBucket(length) !== padded.length) {
    throw new Malformed("padded message is in a larger bucket than its length needs");
  }
  for (let i = end; i < padded.length; i += 1) {
    if (padded[i] !== 0) throw new Malformed("padding is not all zero bytes");
  }
  return padded.slice(LENGTH_PREFIX_BYTES, end);
}

/** floor(log2 n) + 1 for n >= 1, without 32-bit bit operators (sizes go beyond 2^32). */
function bitLength(n) {
  let bits = 0;
  while (2 ** bits <= n) bits += 1;
  return bits;
}

/**
 * Padmé (Nikitin et al., PETS 2019): with E = floor(log2 n) and S = floor(log2 E) + 1, round n up
 * to a multiple of 2^(E - S); at most about 12 % overhead, O(log log n) bits of size leak.
 */
export function padme(length) {
  if (!(Number.isSafeInteger(length) && length >= 0)) throw new RangeError("a length is a whole number, not negative");
  if (length < 2) return length;
  const exponent = bitLength(length) - 1;
  const step = 2 ** (exponent - bitLength(exponent));
  return Math.ceil(length / step) * step;
}
