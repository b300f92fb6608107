/**
 * The signed directory, as in gateway/crypto/directory.py: a hash chain of canonical JSON entries,
 * each signed by the organisation key. Clients verify it before encrypting to anyone, and compute
 * the same VettedSet as the server.
 */
import { b64encode, canonicalJson, bytesEqual, codePointLength, parseCanonicalJson, parseJson } from "./encoding.js";
import { BadDirectory, BadSignature, CryptoError, Malformed } from "./errors.js";
import { blake2b256, equal } from "./hashing.js";
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, keyId, verifySignature } from "./keys.js";
import { hasControlCharacters, readBytes, readInt, readList, readObject, readStr, readVersion } from "./shape.js";

export const VERSION = 1;
export const HASH_BYTES = 32;
// The first entry's `prev`: signatures already bind entries to the organisation key.
export const GENESIS_PREV = new Uint8Array(HASH_BYTES);
export const FIRST_SEQ = 1;

export const ADD = "add";
export const REVOKE = "revoke";
export const INVESTIGATOR = "investigator";
export const TRIAGE = "triage";
export const LIAISON = "liaison";
export const ADMIN = "admin";
export const RECOVERY = "recovery";
export const ROLES = new Set([INVESTIGATOR, TRIAGE, LIAISON, ADMIN, RECOVERY]);

export const MAX_ENTRY_BYTES = 4096;
export const MAX_ENTRIES = 10_000;
export const MAX_DIRECTORY_BYTES = MAX_ENTRIES * 6 * 1024;
export const MAX_NAME_CHARS = 128;

const INVESTIGATOR_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const FIELDS = ["v", "seq", "prev", "kind", "investigator_id", "name", "roles", "enc_pk", "sig_pk", "not_after"];

/** One link of the chain: `add` vets (or replaces) an investigator, `revoke` ends it. */
export class DirectoryEntry {
  constructor({ seq, prev, kind, investigatorId, name, roles, encPk, sigPk, notAfter }) {
    if (kind !== ADD && kind !== REVOKE) throw new Malformed("entry kind must be add or revoke");
    if (typeof investigatorId !== "string" || !INVESTIGATOR_ID.test(investigatorId)) {
      throw new Malformed("investigator_id must be 1 to 64 letters, digits, '.', '_' or '-'");
    }
    const nameLength = typeof name === "string" ? codePointLength(name) : 0;
    if (!(nameLength >= 1 && nameLength <= MAX_NAME_CHARS) || hasControlCharacters(name)) {
      throw new Malformed(`name must be 1 to ${MAX_NAME_CHARS} printable characters`);
    }
    const sortedUnique = [...new Set(roles)].sort();
    if (sortedUnique.length !== roles.length || sortedUnique.some((role, i) => role !== roles[i]) || !roles.every((r) => ROLES.has(r))) {
      throw new Malformed("roles must be known roles, sorted, each listed once");
    }
    if (kind === ADD && roles.length === 0) throw new Malformed("an add entry gives at least one role");
    if (kind === REVOKE && roles.length > 0) throw new Malformed("a revoke entry gives no roles");
    // The recovery key never logs in or writes; it must not also hold a working role.
    if (roles.includes(RECOVERY) && roles.length > 1) throw new Malformed("the recovery role cannot be combined with other roles");
    for (const key of [prev, encPk, sigPk]) {
      if (!(key instanceof Uint8Array) || key.length !== 32) throw new Malformed("prev, enc_pk and sig_pk are 32 bytes");
    }
    if (!(Number.isSafeInteger(seq) && seq >= FIRST_SEQ) || !(Number.isSafeInteger(notAfter) && notAfter >= 0)) {
      throw new Malformed("seq starts at 1 and not_after is Unix seconds");
    }
    Object.assign(this, { seq, prev, kind, investigatorId, name, roles: Object.freeze([...roles]), encPk, sigPk, notAfter });
    Object.freeze(this);
  }

  toJson() {
    return {
      v: VERSION,
      seq: this.seq,
      prev: b64encode(this.prev),
      kind: this.kind,
      investigator_id: this.investigatorId,
      name: this.name,
      roles: [...this.roles],
      enc_pk: b64encode(this.encPk),
      sig_pk: b64encode(this.sigPk),
      not_after: this.notAfter,
    };
  }

  encode() {
    return canonicalJson(this.toJson());
  }

  static decode(data) {
    const what = "entry";
    const obj = parseCanonicalJson(data, { maxBytes: MAX_ENTRY_BYTES, what });
    readObject(obj, { what, required: FIELDS });
    readVersion(obj, { what, supported: VERSION });
    const roles = readList(obj, "roles", { what, maxItems: ROLES.size });
    if (!roles.every((role) => typeof role === "string")) throw new Malformed("entry.roles must be strings");
    return new DirectoryEntry({
      seq: readInt(obj, "seq", { what, minimum: FIRST_SEQ }),
      prev: readBytes(obj, "prev", { what, length: HASH_BYTES }),
      kind: readStr(obj, "kind", { what, maxLength: 8, allowed: new Set([ADD, REVOKE]) }),
      investigatorId: readStr(obj, "investigator_id", { what, maxLength: 64 }),
      name: readStr(obj, "name", { what, maxLength: MAX_NAME_CHARS }),
      roles,
      encPk: readBytes(obj, "enc_pk", { what, length: PUBLIC_KEY_BYTES }),
      sigPk: readBytes(obj, "sig_pk", { what, length: PUBLIC_KEY_BYTES }),
      notAfter: readInt(obj, "not_after", { what }),
    });
  }
}

/** An entry's exact bytes and the organisation's signature over them (not yet verified). */
export class SignedEntry {
  constructor(entryBytes, entry, signature) {
    Object.assign(this, { entryBytes, entry, signature });
    Object.freeze(this);
  }

  toJson() {
    return { entry: b64encode(this.entryBytes), signature: b64encode(this.signature) };
  }

  static fromJson(value) {
    const what = "signed entry";
    const obj = readObject(value, { what, required: ["entry", "signature"] });
    const entryBytes = readBytes(obj, "entry", { what, maxLength: MAX_ENTRY_BYTES });
    return new SignedEntry(entryBytes, DirectoryEntry.decode(entryBytes), readBytes(obj, "signature", { what, length: SIGNATURE_BYTES }));
  }
}

/** BLAKE2b-256 of an entry's bytes: the next entry's `prev`, and the head. */
export function entryHash(entryBytes) {
  return blake2b256(entryBytes);
}

/** A vetted investigator (or the recovery key) as of one moment. */
export class Member {
  constructor(entry) {
    this.investigatorId = entry.investigatorId;
    this.name = entry.name;
    this.roles = new Set(entry.roles);
    this.encPk = entry.encPk;
    this.sigPk = entry.sigPk;
    this.notAfter = entry.notAfter;
    this.seq = entry.seq;
    Object.freeze(this);
  }

  get encKid() {
    return keyId(this.encPk);
  }

  get sigKid() {
    return keyId(this.sigPk);
  }
}

/** Who may receive and sign at time `at`: added, not revoked or replaced, before not_after. */
export class VettedSet {
  constructor(at, members) {
    this.at = at;
    this.members = Object.freeze([...members]);
    Object.freeze(this);
  }

  byId(investigatorId) {
    return this.members.find((m) => m.investigatorId === investigatorId) ?? null;
  }

  byEncKid(kid) {
    return this.members.find((m) => equal(m.encKid, kid)) ?? null;
  }

  bySigKid(kid) {
    return this.members.find((m) => equal(m.sigKid, kid)) ?? null;
  }

  withRole(role) {
    if (!ROLES.has(role)) throw new RangeError(`unknown role ${role}`);
    return this.members.filter((m) => m.roles.has(role));
  }

  get encKids() {
    return this.members.map((m) => m.encKid);
  }

  /** Encryption keys a new tip goes to, besides the reporter's own: triage and recovery. */
  newTipRecipients() {
    return this.members.filter((m) => m.roles.has(TRIAGE) || m.roles.has(RECOVERY)).map((m) => m.encPk);
  }
}

const keyName = (key) => b64encode(key);

/** A verified chain and the state it leads to. Build it with verifyDirectory or parseDirectory. */
export class Directory {
  constructor(orgPublicKey, entries, head, current, keyOwners, revokedKeys) {
    Object.assign(this, { orgPublicKey, entries: Object.freeze([...entries]), head, current, keyOwners, revokedKeys });
    Object.freeze(this);
  }

  static empty(orgPublicKey) {
    if (!(orgPublicKey instanceof Uint8Array) || orgPublicKey.length !== PUBLIC_KEY_BYTES) {
      throw new Malformed(`the organisation key is ${PUBLIC_KEY_BYTES} bytes`);
    }
    return new Directory(orgPublicKey, [], GENESIS_PREV, new Map(), new Map(), new Set());
  }

  get nextSeq() {
    return FIRST_SEQ + this.entries.length;
  }

  /** This directory with one more entry, or BadDirectory naming that entry's seq. */
  extend(signed) {
    const seq = this.nextSeq;
    try {
      return this.#extend(signed, seq);
    } catch (error) {
      if (error instanceof BadDirectory || !(error instanceof CryptoError)) throw error;
      throw new BadDirectory(error.message, { seq });
    }
  }

  #extend(signed, seq) {
    const { entry } = signed;
    if (!bytesEqual(signed.entryBytes, entry.encode())) throw new Malformed("entry bytes are not the canonical encoding of the entry");
    if (entry.seq !== seq) throw new Malformed(`has seq ${entry.seq}, expected ${seq}`);
    if (!equal(entry.prev, this.head)) throw new Malformed("prev is not the hash of the previous entry");
    try {
      verifySignature(this.orgPublicKey, signed.entryBytes, signed.signature);
    } catch (error) {
      if (error instanceof BadSignature) throw new BadSignature("not signed by the organisation key");
      throw error;
    }
    const current = new Map(this.current);
    const owners = new Map(this.keyOwners);
    const revoked = new Set(this.revokedKeys);
    const keys = [entry.encPk, entry.sigPk].map(keyName);
    if (entry.kind === ADD) {
      if (keys[0] === keys[1]) throw new Malformed("encryption and signing keys must differ");
      for (const key of keys) {
        if (revoked.has(key)) throw new Malformed("re-adds a revoked key; a revoked key stays revoked");
        if ((owners.get(key) ?? entry.investigatorId) !== entry.investigatorId) {
          throw new Malformed("adds a key that belongs to another investigator");
        }
        owners.set(key, entry.investigatorId);
      }
      current.set(entry.investigatorId, entry);
    } else {
      const active = current.get(entry.investigatorId);
      if (active === undefined) throw new Malformed("revokes an investigator who is not in the directory");
      if (active.name !== entry.name || !bytesEqual(active.encPk, entry.encPk) || !bytesEqual(active.sigPk, entry.sigPk)) {
        throw new Malformed("revoke entry does not repeat the investigator's name and keys");
      }
      for (const key of keys) revoked.add(key);
      current.delete(entry.investigatorId);
    }
    return new Directory(this.orgPublicKey, [...this.entries, signed], entryHash(signed.entryBytes), current, owners, revoked);
  }

  /** Members at Unix time `now`: current add entries with now < not_after, sorted by id. */
  vetted(now) {
    const members = [...this.current.values()]
      .sort((a, b) => (a.investigatorId < b.investigatorId ? -1 : a.investigatorId > b.investigatorId ? 1 : 0))
      .filter((entry) => now < entry.notAfter)
      .map((entry) => new Member(entry));
    return new VettedSet(now, members);
  }

  /**
   * True when entry `seq` of this chain hashes to `head` (seq 0: the genesis value). A client that
   * remembers the last (seq, head) it verified refuses a directory for which this is false.
   */
  extends(seq, head) {
    if (seq === 0) return equal(head, GENESIS_PREV);
    if (!(seq >= FIRST_SEQ && seq <= this.entries.length)) return false;
    return equal(entryHash(this.entries[seq - 1].entryBytes), head);
  }

  isRevoked(publicKey) {
    return this.revokedKeys.has(keyName(publicKey));
  }

  /** The latest add entry that listed this signing key, even if since revoked or replaced. */
  addedEntryForSigKid(kid) {
    for (let i = this.entries.length - 1; i >= 0; i -= 1) {
      const { entry } = this.entries[i];
      if (entry.kind === ADD && equal(keyId(entry.sigPk), kid)) return entry;
    }
    return null;
  }

  toJson() {
    return { v: VERSION, org_pk: b64encode(this.orgPublicKey), entries: this.entries.map((s) => s.toJson()), head: b64encode(this.head) };
  }
}

/** Verify the whole chain from genesis; BadDirectory.seq names the first bad entry. */
export function verifyDirectory(orgPublicKey, entries) {
  let directory = Directory.empty(orgPublicKey);
  for (const signed of entries) directory = directory.extend(signed);
  return directory;
}

/**
 * Parse and verify the served directory (GET /api/v1/directory). With a pinned `orgPublicKey` a
 * directory under any other key is refused; with null the caller must show the received key's
 * fingerprint and say plainly that it is unverified.
 */
export function parseDirectory(data, { orgPublicKey }) {
  const what = "directory";
  const value = typeof data === "string" || data instanceof Uint8Array ? parseJson(data, { maxBytes: MAX_DIRECTORY_BYTES, what }) : data;
  const obj = readObject(value, { what, required: ["v", "org_pk", "entries", "head"] });
  readVersion(obj, { what, supported: VERSION });
  const servedKey = readBytes(obj, "org_pk", { what, length: PUBLIC_KEY_BYTES });
  if (orgPublicKey !== null && !equal(servedKey, orgPublicKey)) {
    throw new BadSignature("the directory is under a different organisation key than the pinned one");
  }
  const rawEntries = readList(obj, "entries", { what, maxItems: MAX_ENTRIES });
  let directory = Directory.empty(servedKey);
  for (const raw of rawEntries) {
    let signed;
    try {
      signed = SignedEntry.fromJson(raw);
    } catch (error) {
      if (error instanceof BadDirectory || !(error instanceof CryptoError)) throw error;
      throw new BadDirectory(error.message, { seq: directory.nextSeq });
    }
    directory = directory.extend(signed);
  }
  const head = readBytes(obj, "head", { what, length: HASH_BYTES });
  if (!equal(head, directory.head)) {
    throw new BadDirectory("the served head is not the hash of the last entry", { seq: directory.nextSeq - 1 });
  }
  return directory;
}
