/**
 * Envelopes, as in gateway/crypto/envelope.py: one padded message encrypted once under a random
 * message key (XChaCha20-Poly1305, the exact header bytes as associated data), the key sealed for
 * every recipient inside the header, investigators' messages signed over the whole.
 */
import { b64decode, b64encode, canonicalJson, compareBytes, parseCanonicalJson, parseJson, utf8Encode } from "./encoding.js";
import { BadSignature, DecryptionFailed, Malformed, NotARecipient } from "./errors.js";
import { blake2b256, equal, lengthPrefixed } from "./hashing.js";
import { KEY_ID_BYTES, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, keyId, verifySignature } from "./keys.js";
import { INVESTIGATOR_KINDS, KINDS, MessageContent, REPORTER_KINDS } from "./message.js";
import { ENVELOPE_BUCKETS, pad, unpad } from "./padding.js";
import { readBytes, readInt, readList, readObject, readStr, readVersion } from "./shape.js";
import { sodium, systemRandom } from "./sodium.js";

export const VERSION = 1;
export const MESSAGE_KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
export const WRAPPED_KEY_BYTES = 32 + 48;
export const COMMITMENT_BYTES = 32;
export const MAX_RECIPIENTS = 128;
export const MAX_HEADER_BYTES = 64 * 1024;
export const MAX_CIPHERTEXT_BYTES = ENVELOPE_BUCKETS[ENVELOPE_BUCKETS.length - 1] + TAG_BYTES;
export const MAX_ENVELOPE_BYTES = Math.floor(((MAX_CIPHERTEXT_BYTES + MAX_HEADER_BYTES) * 4) / 3) + 1024;

export const REPORTER = "reporter";
export const COMMITMENT_LABEL = utf8Encode("tipline/v1/message-key-commitment");
export const SIGNATURE_LABEL = utf8Encode("tipline/v1/envelope-signature");

const CASE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const CIPHERTEXT_SIZES = new Set(ENVELOPE_BUCKETS.map((bucket) => bucket + TAG_BYTES));

/** The message key sealed for one recipient, named by the recipient's key id. */
export class WrappedKey {
  constructor(kid, wrapped) {
    this.kid = kid;
    this.wrapped = wrapped;
    Object.freeze(this);
  }

  toJson() {
    return { kid: b64encode(this.kid), wrapped: b64encode(this.wrapped) };
  }
}

/** The authenticated, server-visible part of an envelope; `case` is null only on a new tip. */
export class EnvelopeHeader {
  constructor({ kind, case: caseId, sender, recipients, created, keyCommitment }) {
    Object.assign(this, { kind, case: caseId, sender, recipients: Object.freeze([...recipients]), created, keyCommitment });
    Object.freeze(this);
  }

  get recipientKids() {
    return this.recipients.map((recipient) => recipient.kid);
  }

  /** Key id of the key that must have signed, or null for reporter messages. */
  get signerKid() {
    if (this.sender === REPORTER) return null;
    return b64decode(this.sender, { what: "header.sender", length: KEY_ID_BYTES });
  }

  toJson() {
    const obj = {
      v: VERSION,
      kind: this.kind,
      sender: this.sender,
      recipients: this.recipients.map((recipient) => recipient.toJson()),
      created: this.created,
      key_commitment: b64encode(this.keyCommitment),
    };
    if (this.case !== null) obj.case = this.case;
    return obj;
  }

  encode() {
    return canonicalJson(this.toJson());
  }

  static decode(data) {
    const what = "header";
    const obj = parseCanonicalJson(data, { maxBytes: MAX_HEADER_BYTES, what });
    readObject(obj, { what, required: ["v", "kind", "sender", "recipients", "created", "key_commitment"], optional: ["case"] });
    readVersion(obj, { what, supported: VERSION });
    const kind = readStr(obj, "kind", { what, maxLength: 32, allowed: KINDS });
    const caseId = Object.hasOwn(obj, "case") ? readStr(obj, "case", { what, maxLength: 64 }) : null;
    const recipients = readList(obj, "recipients", { what, maxItems: MAX_RECIPIENTS }).map(readWrappedKey);
    const header = new EnvelopeHeader({
      kind,
      case: caseId,
      sender: readStr(obj, "sender", { what, maxLength: 32 }),
      recipients,
      created: readInt(obj, "created", { what }),
      keyCommitment: readBytes(obj, "key_commitment", { what, length: COMMITMENT_BYTES }),
    });
    checkHeaderRules(header);
    return header;
  }
}

function readWrappedKey(value) {
  const what = "header.recipients[]";
  const obj = readObject(value, { what, required: ["kid", "wrapped"] });
  return new WrappedKey(
    readBytes(obj, "kid", { what, length: KEY_ID_BYTES }),
    readBytes(obj, "wrapped", { what, length: WRAPPED_KEY_BYTES }),
  );
}

function checkHeaderRules(header) {
  if (header.recipients.length === 0) throw new Malformed("an envelope needs at least one recipient");
  // Sorted by raw key id bytes: one order for everyone, and duplicates are impossible.
  for (let i = 1; i < header.recipients.length; i += 1) {
    if (compareBytes(header.recipients[i - 1].kid, header.recipients[i].kid) >= 0) {
      throw new Malformed("recipients must be sorted by key id, each listed once");
    }
  }
  if (header.kind === "tip") {
    if (header.case !== null) throw new Malformed("a new tip has no case id yet");
  } else if (header.case === null || !CASE_ID.test(header.case)) {
    throw new Malformed("every message but a new tip names its case");
  }
  if (REPORTER_KINDS.has(header.kind)) {
    if (header.sender !== REPORTER) throw new Malformed(`a ${header.kind} is sent by the reporter`);
  } else {
    // An investigator's message names its signing key; signature stripping is refused later.
    b64decode(header.sender, { what: "header.sender", length: KEY_ID_BYTES });
  }
  if (header.created < 0) throw new Malformed("created must be Unix seconds");
}

/** A parsed or freshly sealed envelope, with the exact header bytes everyone authenticates. */
export class Envelope {
  constructor({ headerBytes, header, nonce, ciphertext, signature }) {
    Object.assign(this, { headerBytes, header, nonce, ciphertext, signature });
    Object.freeze(this);
  }

  get kind() {
    return this.header.kind;
  }

  get recipientKids() {
    return this.header.recipientKids;
  }

  toJson() {
    const obj = {
      v: VERSION,
      header: b64encode(this.headerBytes),
      nonce: b64encode(this.nonce),
      ciphertext: b64encode(this.ciphertext),
    };
    if (this.signature !== null) obj.signature = b64encode(this.signature);
    return obj;
  }

  encode() {
    return canonicalJson(this.toJson());
  }
}

/**
 * Parse an envelope strictly: size, exact fields, versions, bucketed length, signing rules.
 * Accepts the wire bytes or text, or the already-parsed JSON value.
 */
export function parseEnvelope(data) {
  const what = "envelope";
  const value = typeof data === "string" || data instanceof Uint8Array ? parseJson(data, { maxBytes: MAX_ENVELOPE_BYTES, what }) : data;
  const obj = readObject(value, { what, required: ["v", "header", "nonce", "ciphertext"], optional: ["signature"] });
  readVersion(obj, { what, supported: VERSION });
  const headerBytes = readBytes(obj, "header", { what, maxLength: MAX_HEADER_BYTES });
  const header = EnvelopeHeader.decode(headerBytes);
  const ciphertext = readBytes(obj, "ciphertext", { what, maxLength: MAX_CIPHERTEXT_BYTES });
  if (!CIPHERTEXT_SIZES.has(ciphertext.length)) throw new Malformed("ciphertext length is not a padding bucket plus the tag");
  const signature = Object.hasOwn(obj, "signature") ? readBytes(obj, "signature", { what, length: SIGNATURE_BYTES }) : null;
  if (INVESTIGATOR_KINDS.has(header.kind) && signature === null) {
    throw new Malformed(`a ${header.kind} must carry its author's signature`);
  }
  if (REPORTER_KINDS.has(header.kind) && signature !== null) {
    throw new Malformed(`a ${header.kind} comes from the reporter and carries no signature`);
  }
  return new Envelope({
    headerBytes,
    header,
    nonce: readBytes(obj, "nonce", { what, length: NONCE_BYTES }),
    ciphertext,
    signature,
  });
}

/**
 * BLAKE2b-256 over the labelled message key, carried in the header: Poly1305 does not commit to
 * its key, so without it a sender could show different recipients different plaintexts.
 */
export function keyCommitment(messageKey) {
  return blake2b256(lengthPrefixed(COMMITMENT_LABEL, messageKey));
}

/** BLAKE2b-256 of the length-prefixed (label, header, nonce, ciphertext): what is signed. */
export function signatureDigest(headerBytes, nonce, ciphertext) {
  return blake2b256(lengthPrefixed(SIGNATURE_LABEL, headerBytes, nonce, ciphertext));
}

function wrap(messageKey, publicKey) {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new Malformed(`recipient keys are ${PUBLIC_KEY_BYTES}-byte X25519 public keys`);
  }
  let wrapped;
  try {
    wrapped = sodium.crypto_box_seal(messageKey, publicKey);
  } catch {
    // libsodium refuses low-order points, which no honest key pair produces.
    throw new Malformed("a recipient key is not a usable X25519 public key");
  }
  return new WrappedKey(keyId(publicKey), wrapped);
}

/**
 * Encrypt `content` for every X25519 public key in `recipients`. Investigator kinds pass `signer`
 * (an Ed25519KeyPair); reporter kinds must not. Choosing the recipients is the caller's job.
 */
export function seal(content, { recipients, case: caseId = null, signer = null, randomBytes = systemRandom }) {
  if (!(content instanceof MessageContent)) throw new Malformed("seal takes a MessageContent");
  if (INVESTIGATOR_KINDS.has(content.kind) && signer === null) throw new Malformed(`a ${content.kind} must be signed by its author`);
  if (REPORTER_KINDS.has(content.kind) && signer !== null) throw new Malformed(`a ${content.kind} comes from the reporter and is not signed`);
  if (!(recipients.length >= 1 && recipients.length <= MAX_RECIPIENTS)) {
    throw new Malformed(`an envelope has 1 to ${MAX_RECIPIENTS} recipients`);
  }
  const messageKey = randomBytes(MESSAGE_KEY_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const wrapped = recipients.map((publicKey) => wrap(messageKey, publicKey)).sort((a, b) => compareBytes(a.kid, b.kid));
  const header = new EnvelopeHeader({
    kind: content.kind,
    case: caseId,
    sender: signer === null ? REPORTER : b64encode(signer.kid),
    recipients: wrapped,
    created: content.created,
    keyCommitment: keyCommitment(messageKey),
  });
  checkHeaderRules(header);
  const headerBytes = header.encode();
  const ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(pad(content.encode()), headerBytes, null, nonce, messageKey);
  const signature = signer === null ? null : signer.sign(signatureDigest(headerBytes, nonce, ciphertext));
  return new Envelope({ headerBytes, header, nonce, ciphertext, signature });
}

/** Decrypt as the holder of `keys` (an X25519KeyPair). Verify an investigator's signature first. */
export function openAs(envelope, keys) {
  const kid = keys.kid;
  const recipient = envelope.header.recipients.find((r) => equal(r.kid, kid));
  if (recipient === undefined) throw new NotARecipient("this envelope is not addressed to this key");
  let messageKey;
  try {
    messageKey = sodium.crypto_box_seal_open(recipient.wrapped, keys.public, keys.secret);
  } catch {
    throw new DecryptionFailed("the wrapped message key does not open with this key");
  }
  if (messageKey.length !== MESSAGE_KEY_BYTES || !equal(keyCommitment(messageKey), envelope.header.keyCommitment)) {
    throw new DecryptionFailed("the wrapped message key is not the one the header commits to");
  }
  let padded;
  try {
    padded = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, envelope.ciphertext, envelope.headerBytes, envelope.nonce, messageKey);
  } catch {
    throw new DecryptionFailed("the message does not authenticate");
  }
  const content = MessageContent.decode(unpad(padded));
  if (content.kind !== envelope.header.kind || content.created !== envelope.header.created) {
    throw new Malformed("the message contradicts its header");
  }
  return content;
}

/**
 * Throw BadSignature unless `signerPublicKey` is the named sender and signed the envelope.
 * Whether that key belongs to a vetted investigator is the directory's question.
 */
export function verifyEnvelopeSignature(envelope, signerPublicKey) {
  const expected = envelope.header.signerKid;
  if (expected === null || envelope.signature === null) throw new BadSignature("this envelope is from the reporter and is not signed");
  if (!equal(keyId(signerPublicKey), expected)) throw new BadSignature("the envelope names a different signing key");
  verifySignature(signerPublicKey, signatureDigest(envelope.headerBytes, envelope.nonce, envelope.ciphertext), envelope.signature);
}
