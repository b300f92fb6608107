/**
 * Passphrase-protected secret keys, as in gateway/crypto/keybundle.py: Argon2id(passphrase, salt)
 * gives auth_key (sent at login) and wrap_key (never sent; it opens the key bundle, an
 * XChaCha20-Poly1305 ciphertext whose associated data is the bundle's kind, salt and KDF).
 */
import { b64encode, canonicalJson, parseJson, utf8Encode } from "./encoding.js";
import { DecryptionFailed, Malformed } from "./errors.js";
import { KdfParams, SALT_BYTES, V1_PARAMS, argon2id } from "./kdf.js";
import { Ed25519KeyPair, InvestigatorKeys, X25519KeyPair } from "./keys.js";
import { readBytes, readObject, readStr, readVersion } from "./shape.js";
import { sodium, systemRandom } from "./sodium.js";

export const VERSION = 1;
export const LOGIN_KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const MAX_BUNDLE_BYTES = 4096;
// The floor for any passphrase KDF parameters a peer offers (prelogin, bundle).
export const LOGIN_KDF_FLOOR = V1_PARAMS;

export const INVESTIGATOR = "investigator";
export const ORGANISATION = "organisation";
export const RECOVERY = "recovery";
// Secret bytes per bundle kind: X25519 secret || Ed25519 seed, or the seed alone.
const SECRET_BYTES = new Map([
  [INVESTIGATOR, 64],
  [RECOVERY, 64],
  [ORGANISATION, 32],
]);

export class LoginKeys {
  constructor(authKey, wrapKey) {
    this.authKey = authKey;
    this.wrapKey = wrapKey;
    Object.freeze(this);
  }

  toString() {
    return "LoginKeys(<hidden>)";
  }
}

/** UTF-8 of the NFC form, so the same typed passphrase gives the same bytes on every system. */
export function normalisePassphrase(passphrase) {
  if (typeof passphrase !== "string" || passphrase.length === 0) throw new Malformed("the passphrase is empty");
  return utf8Encode(passphrase.normalize("NFC"));
}

/** The Argon2id password bytes and checked parameters; what deriveLoginKeys and the worker share. */
export function loginKdfInput(passphrase, salt, params, floor = LOGIN_KDF_FLOOR) {
  // Refused before any work: a server offering cheap parameters would get a crackable auth_key.
  params.atLeast(floor);
  return { password: normalisePassphrase(passphrase), salt, params };
}

export function loginKeysFromSeed(seed) {
  return new LoginKeys(seed.slice(0, LOGIN_KEY_BYTES), seed.slice(LOGIN_KEY_BYTES));
}

/** Argon2id(passphrase, salt, 64 bytes) split into auth_key and wrap_key. */
export function deriveLoginKeys(passphrase, salt, params, { floor = LOGIN_KDF_FLOOR } = {}) {
  const input = loginKdfInput(passphrase, salt, params, floor);
  return loginKeysFromSeed(argon2id(input.password, input.salt, input.params, 2 * LOGIN_KEY_BYTES));
}

export function newSalt(randomBytes = systemRandom) {
  return randomBytes(SALT_BYTES);
}

function associatedData(kind, kdf, salt) {
  return canonicalJson({ v: VERSION, kind, kdf: kdf.toJson(), salt: b64encode(salt) });
}

/** Secret keys encrypted under a passphrase's wrap_key, with what it takes to re-derive it. */
export class KeyBundle {
  constructor({ kind, kdf, salt, nonce, ciphertext }) {
    Object.assign(this, { kind, kdf, salt, nonce, ciphertext });
    Object.freeze(this);
  }

  toJson() {
    return {
      v: VERSION,
      kind: this.kind,
      kdf: this.kdf.toJson(),
      salt: b64encode(this.salt),
      nonce: b64encode(this.nonce),
      ciphertext: b64encode(this.ciphertext),
    };
  }

  encode() {
    return canonicalJson(this.toJson());
  }

  openSecret(wrapKey) {
    let secret;
    try {
      secret = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        null,
        this.ciphertext,
        associatedData(this.kind, this.kdf, this.salt),
        this.nonce,
        wrapKey,
      );
    } catch {
      throw new DecryptionFailed("the passphrase does not open this key bundle");
    }
    if (secret.length !== SECRET_BYTES.get(this.kind)) throw new Malformed("the key bundle holds the wrong number of bytes");
    return secret;
  }
}

export function sealSecret(kind, secret, { wrapKey, salt, kdf, randomBytes = systemRandom }) {
  if (!SECRET_BYTES.has(kind) || secret.length !== SECRET_BYTES.get(kind)) {
    throw new Malformed("wrong secret length for this kind of key bundle");
  }
  const nonce = randomBytes(NONCE_BYTES);
  const ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(secret, associatedData(kind, kdf, salt), null, nonce, wrapKey);
  return new KeyBundle({ kind, kdf, salt, nonce, ciphertext });
}

/** Bundle an investigator's (or the recovery key's) two secret keys under the wrap_key. */
export function sealInvestigatorKeys(keys, login, { salt, kdf, kind = INVESTIGATOR, randomBytes = systemRandom }) {
  if (kind !== INVESTIGATOR && kind !== RECOVERY) throw new RangeError("investigator keys go in an investigator or recovery bundle");
  const secret = new Uint8Array(64);
  secret.set(keys.enc.secret, 0);
  secret.set(keys.sig.seed, 32);
  return sealSecret(kind, secret, { wrapKey: login.wrapKey, salt, kdf, randomBytes });
}

export function openInvestigatorKeys(bundle, login) {
  if (bundle.kind !== INVESTIGATOR && bundle.kind !== RECOVERY) throw new Malformed("this bundle does not hold investigator keys");
  const secret = bundle.openSecret(login.wrapKey);
  return new InvestigatorKeys(X25519KeyPair.fromSecret(secret.slice(0, 32)), Ed25519KeyPair.fromSeed(secret.slice(32)));
}

export function openOrganisationKey(bundle, login) {
  if (bundle.kind !== ORGANISATION) throw new Malformed("this bundle does not hold an organisation key");
  return Ed25519KeyPair.fromSeed(bundle.openSecret(login.wrapKey));
}

/** Parse a bundle strictly, refusing KDF parameters below `floor`. */
export function parseKeyBundle(data, { floor = LOGIN_KDF_FLOOR } = {}) {
  const what = "key bundle";
  const value = typeof data === "string" || data instanceof Uint8Array ? parseJson(data, { maxBytes: MAX_BUNDLE_BYTES, what }) : data;
  const obj = readObject(value, { what, required: ["v", "kind", "kdf", "salt", "nonce", "ciphertext"] });
  readVersion(obj, { what, supported: VERSION });
  const kind = readStr(obj, "kind", { what, maxLength: 16, allowed: new Set(SECRET_BYTES.keys()) });
  return new KeyBundle({
    kind,
    kdf: KdfParams.fromJson(obj.kdf, `${what}.kdf`).atLeast(floor),
    salt: readBytes(obj, "salt", { what, length: SALT_BYTES }),
    nonce: readBytes(obj, "nonce", { what, length: NONCE_BYTES }),
    ciphertext: readBytes(obj, "ciphertext", { what, length: SECRET_BYTES.get(kind) + 16 }),
  });
}
