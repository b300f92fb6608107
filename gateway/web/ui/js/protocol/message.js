/**
 * The plaintext inside an envelope, as in gateway/crypto/message.py: canonical JSON
 * {v, kind, body, fields, attachments, created}, padded and encrypted by envelope.js.
 */
import { b64encode, canonicalJson, codePointLength, isPlainObject, parseCanonicalJson } from "./encoding.js";
import { Malformed } from "./errors.js";
import { MAX_ENVELOPE_PLAINTEXT } from "./padding.js";
import { hasControlCharacters, readBytes, readInt, readList, readObject, readStr, readVersion } from "./shape.js";

export const VERSION = 1;
export const REPORTER_KINDS = new Set(["tip", "reply", "consent_answer"]);
export const INVESTIGATOR_KINDS = new Set(["followup", "note", "consent_request"]);
export const KINDS = new Set([...REPORTER_KINDS, ...INVESTIGATOR_KINDS]);

export const MAX_FIELDS = 64;
export const MAX_FIELD_VALUE_CHARS = 65_536;
export const MAX_ATTACHMENTS = 64;
export const MAX_ATTACHMENT_NAME_CHARS = 255;
export const MAX_ATTACHMENT_BYTES = 2 ** 34;
export const ATTACHMENT_KEY_BYTES = 32;
export const SHA256_BYTES = 32;

const FIELD_NAME = /^[a-z][a-z0-9_]{0,63}$/;
const ATTACHMENT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** How to find, decrypt and check one attachment; travels only inside the envelope. */
export class AttachmentRef {
  constructor({ id, key, name, size, sha256 }) {
    if (typeof id !== "string" || !ATTACHMENT_ID.test(id)) {
      throw new Malformed("attachment id must be 1 to 64 base64url characters");
    }
    if (!(key instanceof Uint8Array) || key.length !== ATTACHMENT_KEY_BYTES) {
      throw new Malformed(`attachment key must be ${ATTACHMENT_KEY_BYTES} bytes`);
    }
    // The name becomes a file name on an investigator's machine: no paths, no controls.
    const nameLength = typeof name === "string" ? codePointLength(name) : 0;
    if (
      !(nameLength >= 1 && nameLength <= MAX_ATTACHMENT_NAME_CHARS) ||
      hasControlCharacters(name) ||
      name.includes("/") ||
      name.includes("\\") ||
      name === "." ||
      name === ".."
    ) {
      throw new Malformed("attachment name must be a plain file name of 1 to 255 characters");
    }
    if (!(Number.isSafeInteger(size) && size >= 0 && size <= MAX_ATTACHMENT_BYTES)) {
      throw new Malformed("attachment size is out of range");
    }
    if (!(sha256 instanceof Uint8Array) || sha256.length !== SHA256_BYTES) {
      throw new Malformed(`attachment sha256 must be ${SHA256_BYTES} bytes`);
    }
    Object.assign(this, { id, key, name, size, sha256 });
    Object.freeze(this);
  }

  toJson() {
    return { id: this.id, key: b64encode(this.key), name: this.name, size: this.size, sha256: b64encode(this.sha256) };
  }

  static fromJson(value) {
    const what = "attachment";
    const obj = readObject(value, { what, required: ["id", "key", "name", "size", "sha256"] });
    return new AttachmentRef({
      id: readStr(obj, "id", { what, minLength: 1, maxLength: 64 }),
      key: readBytes(obj, "key", { what, length: ATTACHMENT_KEY_BYTES }),
      name: readStr(obj, "name", { what, minLength: 1, maxLength: 255 }),
      size: readInt(obj, "size", { what, maximum: MAX_ATTACHMENT_BYTES }),
      sha256: readBytes(obj, "sha256", { what, length: SHA256_BYTES }),
    });
  }
}

/** What a message says. `fields` holds structured form answers (name -> text). */
export class MessageContent {
  constructor({ kind, body, created, fields = {}, attachments = [] }) {
    if (!KINDS.has(kind)) throw new Malformed(`unknown message kind; expected one of ${[...KINDS].sort().join(", ")}`);
    if (typeof body !== "string") throw new Malformed("message body must be text");
    if (!(Number.isSafeInteger(created) && created >= 0)) throw new Malformed("created must be Unix seconds");
    if (!isPlainObject(fields)) throw new Malformed("message fields must be an object");
    const names = Object.keys(fields);
    if (names.length > MAX_FIELDS) throw new Malformed(`a message has at most ${MAX_FIELDS} fields`);
    for (const name of names) {
      if (!FIELD_NAME.test(name)) throw new Malformed("field names are lower-case ASCII identifiers of up to 64 chars");
      const value = fields[name];
      if (typeof value !== "string" || codePointLength(value) > MAX_FIELD_VALUE_CHARS) {
        throw new Malformed(`field values are text of up to ${MAX_FIELD_VALUE_CHARS} chars`);
      }
    }
    if (!Array.isArray(attachments) || !attachments.every((ref) => ref instanceof AttachmentRef)) {
      throw new Malformed("attachments must be AttachmentRefs");
    }
    if (attachments.length > MAX_ATTACHMENTS) throw new Malformed(`a message has at most ${MAX_ATTACHMENTS} attachments`);
    if (new Set(attachments.map((ref) => ref.id)).size !== attachments.length) {
      throw new Malformed("attachment ids within a message must be unique");
    }
    this.kind = kind;
    this.body = body;
    this.created = created;
    this.fields = Object.freeze({ ...fields });
    this.attachments = Object.freeze([...attachments]);
    Object.freeze(this);
  }

  toJson() {
    return {
      v: VERSION,
      kind: this.kind,
      body: this.body,
      fields: { ...this.fields },
      attachments: this.attachments.map((ref) => ref.toJson()),
      created: this.created,
    };
  }

  /** Canonical JSON bytes (before padding). */
  encode() {
    const data = canonicalJson(this.toJson());
    if (data.length > MAX_ENVELOPE_PLAINTEXT) throw new Malformed(`a message may have at most ${MAX_ENVELOPE_PLAINTEXT} bytes`);
    return data;
  }

  /** Parse decrypted, unpadded bytes strictly (canonical JSON, exact fields, version 1). */
  static decode(data) {
    const what = "message";
    const obj = parseCanonicalJson(data, { maxBytes: MAX_ENVELOPE_PLAINTEXT, what });
    readObject(obj, { what, required: ["v", "kind", "body", "fields", "attachments", "created"] });
    readVersion(obj, { what, supported: VERSION });
    if (!isPlainObject(obj.fields)) throw new Malformed("message.fields must be an object");
    for (const value of Object.values(obj.fields)) {
      if (typeof value !== "string") throw new Malformed("message.fields values must be text");
    }
    return new MessageContent({
      kind: readStr(obj, "kind", { what, maxLength: 32, allowed: KINDS }),
      body: readStr(obj, "body", { what, maxLength: MAX_ENVELOPE_PLAINTEXT }),
      created: readInt(obj, "created", { what }),
      fields: obj.fields,
      attachments: readList(obj, "attachments", { what, maxItems: MAX_ATTACHMENTS }).map((item) => AttachmentRef.fromJson(item)),
    });
  }
}
