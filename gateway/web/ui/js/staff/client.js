/**
 * The investigator's client in the browser, doing what gateway/client/investigator.py does:
 * prelogin, Argon2id of the passphrase in a worker (refusing parameters below the floor), login
 * with the auth key and a TOTP code, the key bundle opened here and its keys checked against the
 * signed directory (itself verified against the organisation key the page was served with and
 * never older than one seen before), every message decrypted here and every investigator's
 * signature checked against the directory entry that listed the signing key.
 *
 * The session is the gateway's HttpOnly cookie (this script never sees it); the secret keys live
 * in this page's memory only.
 */
import { RECOVERY, parseDirectory } from "../protocol/directory.js";
import { b64decode, b64encode } from "../protocol/encoding.js";
import { openAs, parseEnvelope, seal, verifyEnvelopeSignature } from "../protocol/envelope.js";
import { BadSignature, CryptoError, DecryptionFailed } from "../protocol/errors.js";
import { KdfParams } from "../protocol/kdf.js";
import { openInvestigatorKeys, parseKeyBundle } from "../protocol/keybundle.js";
import { PUBLIC_KEY_BYTES, keyId } from "../protocol/keys.js";
import { INVESTIGATOR_KINDS, MessageContent } from "../protocol/message.js";
import { openAttachment } from "../protocol/stream.js";
import { deriveLoginKeysInWorker } from "../protocol/tasks.js";
import { ApiError, Refusal, getText, request } from "../ui/http.js";

const now = () => Math.floor(Date.now() / 1000);
const SALT_BYTES = 16;

/** Statuses a case may move to from each status (docs/API.md); reopening needs triage or assignee. */
export const MOVES = {
  new: ["triage", "closed"],
  triage: ["investigating", "closed"],
  investigating: ["referred", "closed"],
  referred: ["closed"],
  closed: ["triage"],
  withdrawn: [],
};

export class InvestigatorClient {
  constructor(orgKey) {
    this.orgPublicKey = b64decode(orgKey, { what: "organisation key", length: PUBLIC_KEY_BYTES });
    // The last (seq, head) verified: a gateway that rolls the chain back is refused.
    this.knownDirectory = null;
    this.identity = null;
  }

  // ------------------------------------------------------------------ directory

  async directory() {
    const served = await getText("/api/v1/directory");
    let directory;
    try {
      directory = parseDirectory(served, { orgPublicKey: this.orgPublicKey });
    } catch (error) {
      if (error instanceof CryptoError) throw new Refusal("directory", error.message);
      throw error;
    }
    if (this.knownDirectory !== null && !directory.extends(this.knownDirectory.seq, this.knownDirectory.head)) {
      throw new Refusal("directory_rollback");
    }
    this.knownDirectory = { seq: directory.nextSeq - 1, head: directory.head };
    return directory;
  }

  async vetted() {
    return (await this.directory()).vetted(now());
  }

  // ------------------------------------------------------------------ login

  /** The profile of a live session, or null when there is none. */
  async me() {
    try {
      return await request("GET", "/api/v1/me");
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return null;
      throw error;
    }
  }

  /** Prelogin, then Argon2id in a worker; parameters below the v1 floor are refused first. */
  async loginKeys(username, passphrase) {
    const answer = await request("POST", "/api/v1/auth/prelogin", { json: { username } });
    const salt = b64decode(answer.salt, { what: "prelogin salt", length: SALT_BYTES });
    const params = KdfParams.fromJson(answer.kdf, "prelogin kdf");
    return deriveLoginKeysInWorker(passphrase, salt, params);
  }

  /** Log in (auth key + TOTP; the gateway sets its session cookie), then open the key bundle. */
  async login(username, passphrase, totp) {
    const login = await this.loginKeys(username, passphrase);
    await request("POST", "/api/v1/auth/login", {
      json: { username, auth_key: b64encode(login.authKey), totp },
    });
    return this.#unlockWith(login);
  }

  /** Open the key bundle of a session that is still alive (after reloading the page). */
  async unlock(username, passphrase) {
    return this.#unlockWith(await this.loginKeys(username, passphrase));
  }

  async #unlockWith(login) {
    const answer = await request("GET", "/api/v1/me/key-bundle");
    let keys;
    try {
      keys = openInvestigatorKeys(parseKeyBundle(answer.key_bundle), login);
    } catch (error) {
      if (error instanceof DecryptionFailed) throw new Refusal("wrong_passphrase");
      throw error;
    }
    const member = (await this.vetted()).byId(String(answer.investigator_id));
    // The directory, not the gateway's word, says these are this investigator's keys.
    if (member === null || !sameBytes(member.encPk, keys.enc.public) || !sameBytes(member.sigPk, keys.sig.public)) {
      throw new Refusal("keys_not_vouched");
    }
    this.identity = {
      investigatorId: String(answer.investigator_id),
      username: String(answer.username),
      displayName: member.name,
      roles: new Set(member.roles),
      keys,
    };
    return this.identity;
  }

  async logout() {
    this.identity = null;
    await request("POST", "/api/v1/auth/logout", { expect: [204] });
  }

  /** Forget the keys (the session may live on until it expires or is logged out). */
  forget() {
    this.identity = null;
  }

  #keys() {
    if (this.identity === null) throw new Refusal("locked");
    return this.identity.keys;
  }

  // ------------------------------------------------------------------ inbox and cases

  async inbox({ status = "", urgent = false, mine = false, cursor = null, limit = 50 } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (status) query.append("status", status);
    if (urgent) query.append("urgent", "true");
    if (mine) query.append("assigned", "me");
    if (cursor) query.append("cursor", cursor);
    return request("GET", `/api/v1/inbox?${query}`);
  }

  async colleagues() {
    return (await request("GET", "/api/v1/investigators")).investigators;
  }

  async #caseJson(caseId) {
    return request("GET", `/api/v1/cases/${encodeURIComponent(caseId)}`);
  }

  /** The case with every message decrypted and every signature checked, here. */
  async openCase(caseId) {
    const keys = this.#keys();
    const answer = await this.#caseJson(caseId);
    const directory = await this.directory();
    return {
      ...answer,
      messages: answer.messages.map((item) => readMessage(item, keys, directory)),
    };
  }

  /** A signed follow-up (for the reporter too) or internal note (investigators and recovery only). */
  async write(caseId, kind, text) {
    const keys = this.#keys();
    const answer = await this.#caseJson(caseId);
    const vetted = await this.vetted();
    const reporterPk = b64decode(answer.reporter_pk, { what: "reporter_pk", length: PUBLIC_KEY_BYTES });
    checkReporterKey(answer, reporterPk);
    const onCase = new Set(answer.investigators.map((person) => person.investigator_id));
    const recipients = vetted.members
      .filter((member) => onCase.has(member.investigatorId) || member.roles.has(RECOVERY))
      .map((member) => member.encPk);
    if (kind !== "note") recipients.push(reporterPk);
    const envelope = seal(new MessageContent({ kind, body: text, created: now() }), {
      recipients,
      case: caseId,
      signer: keys.sig,
    });
    return request("POST", `/api/v1/cases/${encodeURIComponent(caseId)}/messages`, {
      json: { envelope: envelope.toJson() },
      expect: [201],
    });
  }

  async setStatus(caseId, status) {
    return request("PATCH", `/api/v1/cases/${encodeURIComponent(caseId)}`, { json: { status } });
  }

  async assign(caseId, investigatorId) {
    return request("PATCH", `/api/v1/cases/${encodeURIComponent(caseId)}`, { json: { assignee_id: investigatorId } });
  }

  async acknowledge(caseId) {
    return request("POST", `/api/v1/cases/${encodeURIComponent(caseId)}/ack`);
  }

  async duty() {
    return request("GET", "/api/v1/me/duty");
  }

  async setDuty(onDuty) {
    return request("PUT", "/api/v1/me/duty", { json: { on_duty: onDuty } });
  }

  /** Download, decrypt and check one attachment; a Blob only once it verified to its end. */
  async downloadAttachment(caseId, ref) {
    let response;
    try {
      response = await fetch(`/api/v1/cases/${encodeURIComponent(caseId)}/attachments/${encodeURIComponent(ref.id)}`, {
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (error) {
      throw new ApiError(0, "network", String(error));
    }
    if (response.status !== 200) throw new ApiError(response.status, response.status === 404 ? "not_found" : "unexpected_status", "");
    const pieces = [];
    for await (const piece of openAttachment(ref, response.body)) pieces.push(piece);
    return new Blob(pieces, { type: "application/octet-stream" });
  }
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

/** The reporter key the gateway names must be one the tip itself was wrapped for. */
function checkReporterKey(answer, reporterPk) {
  const kid = keyId(reporterPk);
  const tip = answer.messages.find((item) => item.kind === "tip");
  if (tip === undefined) return;
  if (!parseEnvelope(tip.envelope).recipientKids.some((candidate) => sameBytes(candidate, kid))) {
    throw new Refusal("reporter_key_mismatch");
  }
}

/**
 * Decrypt and check one message. The author's name comes from the directory entry that listed the
 * signing key, never from the gateway; `problem` says why a message cannot be shown.
 */
function readMessage(item, keys, directory) {
  const message = {
    seq: item.seq,
    kind: item.kind,
    createdAt: item.created_at,
    visibleToReporter: item.visible_to_reporter,
    author: null,
    stillVetted: true,
    content: null,
    problem: null,
  };
  try {
    const envelope = parseEnvelope(item.envelope);
    if (INVESTIGATOR_KINDS.has(envelope.kind)) {
      const kid = envelope.header.signerKid;
      const entry = directory.addedEntryForSigKid(kid);
      if (entry === null) throw new BadSignature("signed by a key the directory never listed");
      verifyEnvelopeSignature(envelope, entry.sigPk);
      message.author = entry.name;
      message.stillVetted = directory.vetted(now()).bySigKid(kid) !== null;
    }
    const mine = keyId(keys.enc.public);
    if (!item.wrapped_for_me || !envelope.recipientKids.some((kid) => sameBytes(kid, mine))) {
      message.problem = "before_you";
      return message;
    }
    message.content = openAs(envelope, keys.enc);
  } catch (error) {
    if (!(error instanceof CryptoError)) throw error;
    message.problem = error instanceof BadSignature ? "bad_signature" : "unreadable";
  }
  return message;
}
