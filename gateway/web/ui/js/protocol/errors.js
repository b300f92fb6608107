/**
 * The one error hierarchy for everything the protocol modules refuse, as in gateway/crypto/errors.py.
 *
 * Every refusal is a CryptoError with a stable `code` (the same strings as the Python
 * implementation, so pages and tests can compare them); messages never contain secrets.
 */

export class CryptoError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }

  get code() {
    return "crypto_error";
  }
}

/** Bytes or JSON that do not have the exact shape the protocol prescribes. */
export class Malformed extends CryptoError {
  get code() {
    return "malformed";
  }
}

/** Input larger than the protocol allows; refused before any expensive work. */
export class TooLarge extends Malformed {
  get code() {
    return "too_large";
  }
}

export class UnsupportedVersion extends CryptoError {
  get code() {
    return "unsupported_version";
  }
}

export class BadSignature extends CryptoError {
  get code() {
    return "bad_signature";
  }
}

/** Ciphertext that does not authenticate under the key at hand (wrong key or tampering). */
export class DecryptionFailed extends CryptoError {
  get code() {
    return "decryption_failed";
  }
}

export class NotARecipient extends DecryptionFailed {
  get code() {
    return "not_a_recipient";
  }
}

/** An attachment stream that is tampered, truncated, reordered or extended; see `reason`. */
export class BadStream extends DecryptionFailed {
  constructor(message, { reason }) {
    super(message);
    this.reason = reason;
  }

  get code() {
    return "bad_stream";
  }
}

/** A pickup code that cannot be right: reason "empty", "not_a_digit", "too_short", "too_long", "typo". */
export class BadPickupCode extends CryptoError {
  constructor(message, { reason }) {
    super(message);
    this.reason = reason;
  }

  get code() {
    return "bad_pickup_code";
  }
}

export class BadProofOfWork extends CryptoError {
  constructor(message, { reason }) {
    super(message);
    this.reason = reason;
  }

  get code() {
    return "bad_proof_of_work";
  }
}

/** A directory chain that does not verify; `seq` names the first entry that is wrong. */
export class BadDirectory extends CryptoError {
  constructor(message, { seq }) {
    super(`directory entry ${seq}: ${message}`);
    this.seq = seq;
    this.detail = message;
  }

  get code() {
    return "bad_directory";
  }
}

/** Argon2id parameters below the floor (a server could offer cheap ones to downgrade). */
export class WeakKdfParameters extends CryptoError {
  get code() {
    return "weak_kdf_parameters";
  }
}
