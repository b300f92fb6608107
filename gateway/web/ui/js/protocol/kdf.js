/**
 * Argon2id (libsodium's crypto_pwhash, ALG_ARGON2ID13) with its parameters as a value, as in
 * gateway/crypto/kdf.py: fixed for pickup codes, above a floor for investigator passphrases.
 */
import { Malformed, WeakKdfParameters } from "./errors.js";
import { readInt, readObject, readStr } from "./shape.js";
import { sodium } from "./sodium.js";

export const SALT_BYTES = 16;
export const ALGORITHM = "argon2id13";
export const MIB = 1024 * 1024;

// Bounds a peer may ask for: below the floor is a downgrade, above this is a memory bomb.
const MAX_OPSLIMIT = 20;
const MAX_MEMLIMIT = 1024 * MIB;

/** Argon2id cost parameters, in libsodium's units (passes, bytes of memory). */
export class KdfParams {
  constructor(opslimit, memlimit) {
    if (!(Number.isSafeInteger(opslimit) && opslimit >= 1 && opslimit <= MAX_OPSLIMIT)) {
      throw new Malformed(`Argon2id opslimit must be 1 to ${MAX_OPSLIMIT}`);
    }
    if (!(Number.isSafeInteger(memlimit) && memlimit >= 8192 && memlimit <= MAX_MEMLIMIT) || memlimit % 1024) {
      throw new Malformed("Argon2id memlimit must be whole KiB from 8 KiB to 1 GiB");
    }
    this.opslimit = opslimit;
    this.memlimit = memlimit;
    Object.freeze(this);
  }

  /** This, unless it is cheaper than `floor` in either dimension. */
  atLeast(floor) {
    if (this.opslimit < floor.opslimit || this.memlimit < floor.memlimit) {
      throw new WeakKdfParameters(
        `Argon2id parameters (${this.opslimit} passes, ${this.memlimit / 1024} KiB) are below ` +
          `the floor (${floor.opslimit} passes, ${floor.memlimit / 1024} KiB)`,
      );
    }
    return this;
  }

  toJson() {
    return { alg: ALGORITHM, opslimit: this.opslimit, memlimit: this.memlimit };
  }

  static fromJson(value, what = "kdf") {
    const obj = readObject(value, { what, required: ["alg", "opslimit", "memlimit"] });
    readStr(obj, "alg", { what, maxLength: 16, allowed: new Set([ALGORITHM]) });
    return new KdfParams(
      readInt(obj, "opslimit", { what, minimum: 1, maximum: MAX_OPSLIMIT }),
      readInt(obj, "memlimit", { what, minimum: 8192, maximum: MAX_MEMLIMIT }),
    );
  }
}

// v1 parameters: part of the protocol for pickup codes, the floor for passphrases.
export const V1_PARAMS = new KdfParams(3, 64 * MIB);

/** Argon2id v1.3 with a `size`-byte output. Slow on purpose; see worker.js to keep pages responsive. */
export function argon2id(password, salt, params, size) {
  if (!(salt instanceof Uint8Array) || salt.length !== SALT_BYTES) {
    throw new Malformed(`an Argon2id salt must be ${SALT_BYTES} bytes`);
  }
  return sodium.crypto_pwhash(size, password, salt, params.opslimit, params.memlimit, sodium.crypto_pwhash_ALG_ARGON2ID13);
}
