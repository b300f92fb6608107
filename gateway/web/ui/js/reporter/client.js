/**
 * The reporter's client in the browser, doing what gateway/client/reporter.py does: verify the
 * directory against the organisation key the page was served with, make the pickup code, derive
 * the locator and key pair (Argon2id in a worker), encrypt the tip, replies and attachments for
 * exactly the recipients the protocol names, solve the proofs of work, read the case back and
 * withhold any investigator's message whose signature does not verify against the directory.
 *
 * Nothing is written to any storage: the code and keys live in this page's memory only.
 */
import { RECOVERY, TRIAGE, parseDirectory } from "../protocol/directory.js";
import { b64decode, b64encode } from "../protocol/encoding.js";
import { openAs, parseEnvelope, seal, verifyEnvelopeSignature } from "../protocol/envelope.js";
import { CryptoError } from "../protocol/errors.js";
import { PUBLIC_KEY_BYTES } from "../protocol/keys.js";
import { AttachmentRef, INVESTIGATOR_KINDS, MAX_ATTACHMENT_NAME_CHARS, MessageContent } from "../protocol/message.js";
import { PickupCode } from "../protocol/pickup.js";
import { ciphertextLength, encryptBlob } from "../protocol/stream.js";
import { deriveReporterKeysInWorker } from "../protocol/tasks.js";
import { PROOF_HEADER, Refusal, getText, proofHeader, proofOfWork, request, upload } from "../ui/http.js";

const VERSION = 1;

const now = () => Math.floor(Date.now() / 1000);

/** A file name the protocol accepts: no path separators or control characters, 1-255 characters. */
export function attachmentName(name) {
  const cleaned = Array.from(String(name).replace(/[\u0000-\u001f\u007f-\u009f/\\]/g, "_")).slice(0, MAX_ATTACHMENT_NAME_CHARS).join("");
  return cleaned === "" || cleaned === "." || cleaned === ".." ? "attachment" : cleaned;
}

export class ReporterClient {
  /** `orgKey`: the organisation's public key (base64url) from the page the gateway served. */
  constructor(orgKey, { maxAttachmentBytes }) {
    this.orgPublicKey = b64decode(orgKey, { what: "organisation key", length: PUBLIC_KEY_BYTES });
    this.maxAttachmentBytes = maxAttachmentBytes;
  }

  /** The directory, verified against the pinned organisation key; Refusal("directory") if not. */
  async directory() {
    const served = await getText("/api/v1/directory");
    try {
      return parseDirectory(served, { orgPublicKey: this.orgPublicKey });
    } catch (error) {
      if (error instanceof CryptoError) throw new Refusal("directory", error.message);
      throw error;
    }
  }

  vetted(directory) {
    return directory.vetted(now());
  }

  /** True when the attachment's ciphertext would exceed the gateway's limit. */
  tooLarge(file) {
    return ciphertextLength(file.size) > this.maxAttachmentBytes;
  }

  /**
   * Send a tip: {body, fields, files, urgent}. `onStage(name)` names each step; `onUpload(index,
   * phase, done, total)` reports each attachment's encryption and upload. Resolves to the code.
   */
  async submit(tip, { onStage = () => {}, onUpload = () => {} } = {}) {
    onStage("directory");
    const directory = await this.directory();
    const vetted = this.vetted(directory);
    if (vetted.withRole(TRIAGE).length === 0) throw new Refusal("no_recipients");
    onStage("code");
    const code = PickupCode.generate();
    const keys = await deriveReporterKeysInWorker(code, this.orgPublicKey);
    const references = [];
    for (const [index, file] of tip.files.entries()) {
      onStage("attachments");
      references.push(await this.#upload(file, index, null, onUpload));
    }
    onStage("encrypt");
    const envelope = seal(this.#content("tip", tip.body, tip.fields, references), {
      recipients: [...vetted.newTipRecipients(), keys.enc.public],
      case: null,
    });
    onStage("proof");
    const headers = await this.#paidHeaders("submit");
    onStage("send");
    await request("POST", "/api/v1/cases", {
      json: {
        v: VERSION,
        locator: keys.locator.encoded(),
        reporter_pk: b64encode(keys.enc.public),
        urgent: Boolean(tip.urgent),
        envelope: envelope.toJson(),
        attachments: references.map((ref) => ref.id),
      },
      headers,
      expect: [201],
    });
    return code;
  }

  /** The locator and key pair a code derives (Argon2id in a worker), and the verified directory. */
  async unlock(code, { onStage = () => {} } = {}) {
    const pickup = code instanceof PickupCode ? code : PickupCode.parse(code);
    onStage("directory");
    const directory = await this.directory();
    onStage("code");
    const keys = await deriveReporterKeysInWorker(pickup, this.orgPublicKey);
    return { keys, directory };
  }

  /** The case a code opens: decrypted here, investigators' messages verified. */
  async openCase(code, { onStage = () => {} } = {}) {
    const { keys, directory } = await this.unlock(code, { onStage });
    return this.read(keys, directory, { onStage });
  }

  /** Read the case again with keys already derived (after a reply), without Argon2id. */
  async read(keys, directory = null, { onStage = () => {} } = {}) {
    const verified = directory ?? (await this.directory());
    onStage("proof");
    const answer = await request("GET", "/api/v1/reporter/case", { headers: await this.#paidHeaders("lookup", keys.locator) });
    const caseId = String(answer.case);
    const vetted = this.vetted(verified);
    const messages = [];
    const withheld = [];
    for (const item of answer.messages) {
      try {
        messages.push(readMessage(item.envelope, Number(item.seq), caseId, keys, vetted));
      } catch (error) {
        if (!(error instanceof Withheld)) throw error;
        withheld.push({ seq: Number(item.seq), reason: error.reason });
      }
    }
    return {
      caseId,
      status: String(answer.status),
      messages,
      withheld,
      investigators: answer.investigators.map(String),
      attachments: answer.attachments.map((item) => ({ id: String(item.id), size: Number(item.size) })),
      keys,
    };
  }

  /** Answer on the case, for its vetted investigators, the recovery key and yourself. */
  async reply(thread, body, files = [], { onStage = () => {}, onUpload = () => {} } = {}) {
    onStage("directory");
    const vetted = this.vetted(await this.directory());
    const readers = vetted.members
      .filter((member) => thread.investigators.includes(member.investigatorId) || member.roles.has(RECOVERY))
      .map((member) => member.encPk);
    if (readers.length === 0) throw new Refusal("no_readers");
    const references = [];
    for (const [index, file] of files.entries()) {
      onStage("attachments");
      references.push(await this.#upload(file, index, thread.keys.locator, onUpload));
    }
    onStage("encrypt");
    const envelope = seal(this.#content("reply", body, {}, references), {
      recipients: [...readers, thread.keys.enc.public],
      case: thread.caseId,
    });
    onStage("proof");
    const headers = await this.#paidHeaders("reply", thread.keys.locator);
    onStage("send");
    const answer = await request("POST", "/api/v1/reporter/messages", {
      json: { v: VERSION, envelope: envelope.toJson(), attachments: references.map((ref) => ref.id) },
      headers,
      expect: [201],
    });
    return Number(answer.seq);
  }

  /** Withdraw the case: the gateway deletes it and everything in it at once. */
  async withdraw(thread) {
    await request("DELETE", "/api/v1/reporter/case", {
      headers: await this.#paidHeaders("lookup", thread.keys.locator),
      expect: [204],
    });
  }

  #content(kind, body, fields, attachments) {
    return new MessageContent({ kind, body, created: now(), fields, attachments });
  }

  async #upload(file, index, locator, onUpload) {
    const name = attachmentName(file.name);
    const encrypted = await encryptBlob(file, { onProgress: (done, total) => onUpload(index, "encrypt", done, total) });
    const headers = await this.#paidHeaders(locator === null ? "submit" : "reply", locator);
    const answer = await upload("/api/v1/reporter/attachments", encrypted.ciphertext, {
      headers,
      onProgress: (done, total) => onUpload(index, "upload", done, total),
    });
    onUpload(index, "done", 1, 1);
    return new AttachmentRef({ id: String(answer.id), key: encrypted.key, name, size: encrypted.size, sha256: encrypted.sha256 });
  }

  /** A fresh proof of work for `purpose` as the X-Tipline-Proof header, with the case's locator when given. */
  async #paidHeaders(purpose, locator = null) {
    const headers = { [PROOF_HEADER]: proofHeader(await proofOfWork(purpose)) };
    if (locator !== null) headers.Authorization = locator.authorization();
    return headers;
  }
}

class Withheld extends Error {
  constructor(reason) {
    super(reason);
    this.reason = reason;
  }
}

/** Decrypt one message, verifying an investigator's signature against the vetted set first. */
function readMessage(wire, seq, caseId, keys, vetted) {
  let envelope;
  try {
    envelope = parseEnvelope(wire);
  } catch {
    throw new Withheld("malformed");
  }
  if (envelope.kind !== "tip" && envelope.header.case !== caseId) throw new Withheld("other_case");
  let author = null;
  let authorId = null;
  if (INVESTIGATOR_KINDS.has(envelope.kind)) {
    const signerKid = envelope.header.signerKid;
    const member = signerKid === null ? null : vetted.bySigKid(signerKid);
    if (member === null) throw new Withheld("not_vetted");
    try {
      verifyEnvelopeSignature(envelope, member.sigPk);
    } catch {
      throw new Withheld("bad_signature");
    }
    author = member.name;
    authorId = member.investigatorId;
  }
  let content;
  try {
    content = openAs(envelope, keys.enc);
  } catch {
    throw new Withheld("cannot_decrypt");
  }
  return { seq, kind: envelope.kind, created: envelope.header.created, content, author, authorId };
}
