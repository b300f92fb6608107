/**
 * BLAKE2b as the protocol uses it (libsodium's crypto_generichash) and the injective
 * length-prefixed encoding fed to it, as in gateway/crypto/hashing.py.
 */
import { concatBytes } from "./encoding.js";
import { sodium } from "./sodium.js";

/** BLAKE2b with a `size`-byte output (16..64) and an optional key (16..64 bytes). */
export function blake2b(data, size, key = null) {
  if (!(size >= 16 && size <= 64)) throw new RangeError("BLAKE2b output must be 16 to 64 bytes in this protocol");
  if (key !== null && key.length > 0 && !(key.length >= 16 && key.length <= 64)) {
    throw new RangeError("a BLAKE2b key must be 16 to 64 bytes");
  }
  return sodium.crypto_generichash(size, data, key !== null && key.length > 0 ? key : null);
}

export function blake2b128(data) {
  return blake2b(data, 16);
}

export function blake2b256(data, key = null) {
  return blake2b(data, 32, key);
}

function u64be(value) {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  // Lengths stay far below 2^53; split into two 32-bit halves without bit operators on the whole.
  view.setUint32(0, Math.floor(value / 2 ** 32));
  view.setUint32(4, value % 2 ** 32);
  return out;
}

/**
 * Each part preceded by its length as 8 bytes big-endian. Unlike plain concatenation this is
 * injective, so a hash over it commits to every boundary.
 */
export function lengthPrefixed(...parts) {
  return concatBytes(...parts.flatMap((part) => [u64be(part.length), part]));
}

export { u64be };

/** Compare secrets or MACs in time independent of where they differ. */
export function equal(a, b) {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) return false;
  return sodium.memcmp(a, b);
}
