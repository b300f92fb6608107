/**
 * Attachment encryption with crypto_secretstream_xchacha20poly1305, as in gateway/crypto/stream.py.
 *
 * Wire layout: a 24-byte header, then one record per 64 KiB chunk of the padded plaintext
 * u64be(content length) || content || zeros (Padmé), the last record tagged FINAL. Records have no
 * length fields: the first chunk reveals the content length and so every later record's size.
 * Memory stays at about one chunk whatever the attachment's size.
 */
import { concatBytes } from "./encoding.js";
import { BadStream, Malformed } from "./errors.js";
import { equal, u64be } from "./hashing.js";
import { ATTACHMENT_KEY_BYTES, MAX_ATTACHMENT_BYTES } from "./message.js";
import { padme } from "./padding.js";
import { sodium, systemRandom } from "./sodium.js";

export const CHUNK_BYTES = 64 * 1024;
export const HEADER_BYTES = 24;
export const OVERHEAD_BYTES = 17;
export const RECORD_BYTES = CHUNK_BYTES + OVERHEAD_BYTES;
export const LENGTH_PREFIX_BYTES = 8;

const TAG_MESSAGE = () => sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
const TAG_FINAL = () => sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;

export function newAttachmentKey(randomBytes = systemRandom) {
  return randomBytes(ATTACHMENT_KEY_BYTES);
}

/** Length of the padded plaintext: Padmé of (8 + content), and at least one whole chunk. */
export function paddedLength(contentLength) {
  if (!(Number.isSafeInteger(contentLength) && contentLength >= 0 && contentLength <= MAX_ATTACHMENT_BYTES)) {
    throw new Malformed("attachment size is out of range");
  }
  return Math.max(CHUNK_BYTES, padme(LENGTH_PREFIX_BYTES + contentLength));
}

/** Exact ciphertext size for a content size: for progress bars and upload limits. */
export function ciphertextLength(contentLength) {
  const padded = paddedLength(contentLength);
  return HEADER_BYTES + padded + Math.ceil(padded / CHUNK_BYTES) * OVERHEAD_BYTES;
}

/** A FIFO of byte pieces: take(n) without copying everything that is still waiting. */
class ByteQueue {
  constructor() {
    this.pieces = [];
    this.length = 0;
  }

  push(bytes) {
    if (bytes.length) {
      this.pieces.push(bytes);
      this.length += bytes.length;
    }
  }

  take(n) {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const piece = this.pieces[0];
      const used = Math.min(piece.length, n - filled);
      out.set(piece.subarray(0, used), filled);
      filled += used;
      if (used === piece.length) this.pieces.shift();
      else this.pieces[0] = piece.subarray(used);
    }
    this.length -= n;
    return out;
  }
}

/** SHA-256 (libsodium's) over pieces; `digest()` once, at the end. */
class Sha256 {
  constructor() {
    this.state = sodium.crypto_hash_sha256_init();
    this.result = null;
  }

  update(bytes) {
    if (this.result !== null) throw new Error("SHA-256 already finished");
    if (bytes.length) sodium.crypto_hash_sha256_update(this.state, bytes);
  }

  digest() {
    if (this.result === null) this.result = sodium.crypto_hash_sha256_final(this.state);
    return this.result;
  }
}

function requireKey(key) {
  if (!(key instanceof Uint8Array) || key.length !== ATTACHMENT_KEY_BYTES) {
    throw new Malformed(`an attachment key is ${ATTACHMENT_KEY_BYTES} bytes`);
  }
}

/** Push content in pieces; get the header, then records as soon as whole chunks are ready. */
export class StreamEncryptor {
  constructor(key, contentLength) {
    requireKey(key);
    this.total = paddedLength(contentLength);
    this.contentLength = contentLength;
    this.received = 0;
    this.emitted = 0;
    this.buffer = new ByteQueue();
    this.buffer.push(u64be(contentLength));
    this.hash = new Sha256();
    // libsodium draws the header's randomness itself.
    const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
    this.state = state;
    this.header = header;
  }

  update(data) {
    if (this.received + data.length > this.contentLength) throw new Malformed("the attachment is longer than its declared size");
    this.received += data.length;
    this.hash.update(data);
    this.buffer.push(data);
    const records = [];
    while (this.buffer.length >= CHUNK_BYTES) records.push(this.#pushChunk());
    return records;
  }

  /** The remaining records: the rest of the content, then zero padding, chunk by chunk. */
  *finish() {
    if (this.received !== this.contentLength) throw new Malformed("the attachment is shorter than its declared size");
    while (this.emitted < this.total) {
      const missing = Math.min(CHUNK_BYTES, this.total - this.emitted) - this.buffer.length;
      if (missing > 0) this.buffer.push(new Uint8Array(missing));
      yield this.#pushChunk();
    }
  }

  /** SHA-256 of the content, for the envelope's AttachmentRef; once all content is pushed. */
  get sha256() {
    if (this.received !== this.contentLength) throw new Error("the content is not complete yet");
    return this.hash.digest();
  }

  #pushChunk() {
    const chunk = this.buffer.take(Math.min(CHUNK_BYTES, this.buffer.length));
    this.emitted += chunk.length;
    const tag = this.emitted === this.total ? TAG_FINAL() : TAG_MESSAGE();
    return sodium.crypto_secretstream_xchacha20poly1305_push(this.state, chunk, null, tag);
  }
}

/**
 * Feed ciphertext in pieces of any size; get authenticated content pieces back. Content comes out
 * before the end is checked: it is provisional until `finish()` returns without throwing.
 */
export class StreamDecryptor {
  constructor(key) {
    requireKey(key);
    this.key = key;
    this.state = null;
    this.buffer = new ByteQueue();
    this.finalSeen = false;
    this.offset = 0;
    this.total = null;
    this.declaredLength = 0;
    this.hash = new Sha256();
  }

  /** The declared content length, once the first chunk is decrypted. */
  get contentLength() {
    return this.total === null ? null : this.declaredLength;
  }

  /** SHA-256 of the content; only after finish(). */
  get sha256() {
    return this.hash.digest();
  }

  update(data) {
    if (this.finalSeen && data.length) throw new BadStream("there is data after the final chunk", { reason: "extra_data" });
    this.buffer.push(data);
    const pieces = [];
    if (this.state === null) {
      if (this.buffer.length < HEADER_BYTES) return pieces;
      this.state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(this.buffer.take(HEADER_BYTES), this.key);
    }
    while (!this.finalSeen && this.buffer.length >= this.#nextRecordBytes()) {
      pieces.push(...this.#open(this.buffer.take(this.#nextRecordBytes())));
    }
    if (this.finalSeen && this.buffer.length) throw new BadStream("there is data after the final chunk", { reason: "extra_data" });
    return pieces;
  }

  /** Throw unless the stream ended exactly after its FINAL chunk. */
  finish() {
    if (!this.finalSeen) throw new BadStream("the stream ends before its final chunk", { reason: "truncated" });
  }

  #nextRecordBytes() {
    if (this.total === null) return RECORD_BYTES;
    return Math.min(CHUNK_BYTES, this.total - this.offset) + OVERHEAD_BYTES;
  }

  #open(record) {
    let result = false;
    try {
      result = sodium.crypto_secretstream_xchacha20poly1305_pull(this.state, record, null);
    } catch {
      result = false;
    }
    if (!result) {
      throw new BadStream("a chunk does not authenticate: it was altered, reordered or cut", { reason: "tampered" });
    }
    const { message: chunk, tag } = result;
    if (tag === TAG_FINAL()) this.finalSeen = true;
    else if (tag !== TAG_MESSAGE()) throw new BadStream("a chunk carries a tag this protocol never uses", { reason: "malformed" });
    const start = this.offset;
    this.offset += chunk.length;
    if (this.total === null) {
      if (chunk.length < LENGTH_PREFIX_BYTES) throw new BadStream("the first chunk is too short", { reason: "malformed" });
      const view = new DataView(chunk.buffer, chunk.byteOffset, LENGTH_PREFIX_BYTES);
      const high = view.getUint32(0);
      // Anything at or above 2^21 in the high half is beyond 2^53 and far beyond the maximum size.
      this.declaredLength = high >= 2 ** 21 ? Number.MAX_SAFE_INTEGER : high * 2 ** 32 + view.getUint32(4);
      try {
        this.total = paddedLength(this.declaredLength);
      } catch {
        throw new BadStream("the declared size is out of range", { reason: "malformed" });
      }
    }
    if (this.offset > this.total || this.finalSeen !== (this.offset === this.total)) {
      throw new BadStream("the stream's length contradicts its declared size", { reason: "malformed" });
    }
    const contentEnd = LENGTH_PREFIX_BYTES + this.declaredLength;
    const low = Math.max(start, LENGTH_PREFIX_BYTES);
    const high = Math.min(this.offset, contentEnd);
    const pieces = [];
    if (high > low) {
      const piece = chunk.slice(low - start, high - start);
      this.hash.update(piece);
      pieces.push(piece);
    }
    for (let i = Math.max(contentEnd, start) - start; i < chunk.length; i += 1) {
      if (chunk[i] !== 0) throw new BadStream("the padding is not all zero bytes", { reason: "malformed" });
    }
    return pieces;
  }
}

/** The pieces of a ReadableStream (e.g. `file.stream()`), a sync or an async iterable. */
async function* piecesOf(source) {
  if (source && typeof source.getReader === "function") {
    const reader = source.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  } else {
    for await (const piece of source) yield piece;
  }
}

/** Yield the ciphertext (header, then records) of content whose length is known up front. */
export async function* encryptStream(key, content, contentLength) {
  const encryptor = new StreamEncryptor(key, contentLength);
  yield encryptor.header;
  for await (const piece of piecesOf(content)) yield* encryptor.update(piece);
  yield* encryptor.finish();
}

/** Yield the content; throws BadStream at the point the stream proves bad. */
export async function* decryptStream(key, ciphertext) {
  const decryptor = new StreamDecryptor(key);
  for await (const piece of piecesOf(ciphertext)) yield* decryptor.update(piece);
  decryptor.finish();
}

/** decryptStream that also checks the size and SHA-256 the envelope's AttachmentRef promised. */
export async function* openAttachment(ref, ciphertext) {
  const decryptor = new StreamDecryptor(ref.key);
  for await (const piece of piecesOf(ciphertext)) yield* decryptor.update(piece);
  decryptor.finish();
  if (decryptor.contentLength !== ref.size || !equal(decryptor.sha256, ref.sha256)) {
    throw new BadStream("the attachment is not the one the message describes", { reason: "mismatch" });
  }
}

/**
 * Encrypt a File or Blob into a Blob of ciphertext (the browser may keep large Blobs on disk),
 * reporting progress as content bytes done / total. Returns what the AttachmentRef needs.
 */
export async function encryptBlob(blob, { key = newAttachmentKey(), onProgress = null } = {}) {
  const encryptor = new StreamEncryptor(key, blob.size);
  const parts = [encryptor.header];
  let done = 0;
  for await (const piece of piecesOf(blob.stream())) {
    parts.push(...encryptor.update(piece));
    done += piece.length;
    if (onProgress) onProgress(done, blob.size);
  }
  for (const record of encryptor.finish()) parts.push(record);
  return { key, size: blob.size, sha256: encryptor.sha256, ciphertext: new Blob(parts, { type: "application/octet-stream" }) };
}

/** Join the pieces of a small stream, e.g. in tests. */
export async function collect(pieces) {
  const out = [];
  for await (const piece of pieces) out.push(piece);
  return concatBytes(...out);
}
