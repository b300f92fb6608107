/**
 * Test page (served only by the e2e fixture, never by the gateway itself): checks every vector in
 * tests/vectors/protocol-v1.json with the browser modules and publishes one result per vector as
 * window.vectorResults = [{id, ok, detail}], then window.vectorsDone = true.
 *
 * Values that only the server computes (keyed hashes with a BLAKE2b personalisation: the auth-key
 * hash, fake prelogin salts, the proof-of-work MAC) are checked here with libsodium's own
 * crypto_generichash_blake2b_salt_personal through the raw module: pages never need them.
 */
import * as protocol from "/static/js/protocol/index.js";

const { encoding, errors, hashing, keys, pickup, padding, envelope, directory, keybundle, stream, pow, kdf, message } = protocol;
const { sodium } = protocol;
const raw = (text) => encoding.b64decode(text, { what: "vector" });
const b64 = encoding.b64encode;
const utf8 = encoding.utf8Encode;
const text = (bytes) => encoding.utf8Decode(bytes);

const results = [];

class Mismatch extends Error {}

/** JSON with sorted keys, so that key order never decides equality. */
function stable(value) {
  if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stable(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function expectEqual(actual, expected, what) {
  const a = stable(actual);
  const e = stable(expected);
  if (a !== e) throw new Mismatch(`${what}: got ${a.slice(0, 200)}, expected ${e.slice(0, 200)}`);
}

function expectBytes(actual, expected, what) {
  expectEqual(b64(actual), b64(expected), what);
}

function expectRefusal(fn, check, what) {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof errors.CryptoError)) throw new Mismatch(`${what}: threw ${error.name}: ${error.message}`);
    check(error);
    return;
  }
  throw new Mismatch(`${what}: was accepted`);
}

async function expectRefusalAsync(fn, check, what) {
  try {
    await fn();
  } catch (error) {
    if (!(error instanceof errors.CryptoError)) throw new Mismatch(`${what}: threw ${error.name}: ${error.message}`);
    check(error);
    return;
  }
  throw new Mismatch(`${what}: was accepted`);
}

async function check(ids, fn) {
  const list = Array.isArray(ids) ? ids : [ids];
  const started = performance.now();
  let ok = true;
  let detail = "";
  try {
    await fn();
  } catch (error) {
    ok = false;
    detail = `${error.name}: ${error.message}`;
  }
  const ms = performance.now() - started;
  for (const id of list) results.push({ id, ok, detail, ms });
  const item = document.createElement("li");
  item.textContent = `${ok ? "ok" : "FAIL"} ${list.join(", ")}${detail ? ` — ${detail}` : ""}`;
  document.getElementById("results").append(item);
}

async function items(section, key, list, fn) {
  for (const [index, vector] of list.entries()) await check(`${section}.${key}[${index}]`, () => fn(vector, index));
}

// ------------------------------------------------------------------ server-only keyed hashes

/** BLAKE2b with key and personalisation (server side only) via libsodium's raw export. */
function blake2bPersonal(data, size, key, person) {
  const lib = sodium.libsodium;
  const personal = new Uint8Array(16);
  personal.set(person);
  const sizes = [size, data.length, key.length, 16];
  const total = sizes.reduce((a, b) => a + b, 0);
  const base = lib._malloc(total);
  try {
    const out = base;
    const input = out + size;
    const keyAt = input + data.length;
    const personalAt = keyAt + key.length;
    lib.HEAPU8.set(data, input);
    lib.HEAPU8.set(key, keyAt);
    lib.HEAPU8.set(personal, personalAt);
    // (out, outlen, in, inlen as two 32-bit halves, key, keylen, salt = NULL, personal)
    const rc = lib._crypto_generichash_blake2b_salt_personal(out, size, input, data.length, 0, keyAt, key.length, 0, personalAt);
    if (rc !== 0) throw new Error("crypto_generichash_blake2b_salt_personal failed");
    return lib.HEAPU8.slice(out, out + size);
  } finally {
    lib._free(base);
  }
}

/** gateway.crypto.pow.verify_solution, for the refusal vectors (the server's job, not a page's). */
function verifySolution(token, { key, purpose, now, minDifficulty = 0 }) {
  const challengeBytes = raw(token.challenge);
  const mac = raw(token.mac);
  const nonce = raw(token.nonce);
  if (!hashing.equal(blake2bPersonal(challengeBytes, 32, key, utf8("tipline/v1/pow")), mac)) {
    throw new errors.BadProofOfWork("this challenge was not issued by this server", { reason: "forged" });
  }
  const challenge = pow.parseChallenge({ challenge: token.challenge, mac: token.mac });
  if (challenge.purpose !== purpose) throw new errors.BadProofOfWork("other purpose", { reason: "wrong_purpose" });
  if (now >= challenge.expires) throw new errors.BadProofOfWork("expired", { reason: "expired" });
  if (challenge.difficulty < minDifficulty) throw new errors.BadProofOfWork("too easy", { reason: "too_easy" });
  if (pow.leadingZeroBits(pow.workHash(challengeBytes, nonce)) < challenge.difficulty) {
    throw new errors.BadProofOfWork("insufficient", { reason: "insufficient_work" });
  }
  return challenge;
}

// ------------------------------------------------------------------ the sections

async function checkEncoding(V) {
  await items("encoding", "base64url", V.base64url, (c) => {
    expectEqual(b64(sodium.from_hex(c.hex)), c.text, "encode");
    expectEqual(encoding.toHex(raw(c.text)), c.hex, "decode");
  });
  await items("encoding", "base64url_refused", V.base64url_refused, (t) =>
    expectRefusal(() => encoding.b64decode(t, { what: "vector" }), (e) => expectEqual(e.code, "malformed", "code"), t),
  );
  await items("encoding", "canonical_json", V.canonical_json, (c) => {
    expectEqual(text(encoding.canonicalJson(c.value)), c.canonical, "canonical");
    // And the strict parser reads the canonical bytes back to the same canonical bytes.
    const parsed = encoding.parseCanonicalJson(utf8(c.canonical), { maxBytes: 4096, what: "vector" });
    expectEqual(text(encoding.canonicalJson(parsed)), c.canonical, "round trip");
  });
  await items("encoding", "json_refused", V.json_refused, (t) =>
    expectRefusal(() => encoding.parseJson(utf8(t), { maxBytes: 1024, what: "vector" }), (e) => expectEqual(e.code, "malformed", "code"), t),
  );
}

async function checkHashing(V) {
  await items("hashing", "key_id", V.key_id, (c) => expectEqual(b64(keys.keyId(raw(c.public_key))), c.kid, "kid"));
  await items("hashing", "fingerprint", V.fingerprint, (c) => {
    expectEqual(keys.fingerprint(raw(c.public_key)), c.fingerprint, "fingerprint");
    const typed = c.fingerprint.toUpperCase().replaceAll("-", " ");
    if (!keys.fingerprintMatches(raw(c.public_key), typed)) throw new Mismatch("typed fingerprint does not match");
  });
  await items("hashing", "length_prefixed", V.length_prefixed, (c) =>
    expectEqual(b64(hashing.lengthPrefixed(...c.parts.map(raw))), c.encoded, "lp"),
  );
}

async function checkPickup(V) {
  await check(["pickup.secret_digits", "pickup.code_digits", "pickup.group_size", "pickup.kdf"], () => {
    expectEqual([pickup.SECRET_DIGITS, pickup.CODE_DIGITS, pickup.GROUP_SIZE], [V.secret_digits, V.code_digits, V.group_size], "sizes");
    expectEqual({ opslimit: pickup.PICKUP_KDF.opslimit, memlimit: pickup.PICKUP_KDF.memlimit }, V.kdf, "kdf");
  });
  await items("pickup", "generation", V.generation, (c) => {
    const data = raw(c.random_bytes);
    const batches = [];
    for (let i = 0; i < data.length; i += 32) batches.push(data.slice(i, i + 32));
    const code = pickup.PickupCode.generate((size) => batches.shift().slice(0, size));
    expectEqual(code.display(), c.code, "code");
  });
  await items("pickup", "damm", V.damm, (c) => expectEqual(pickup.dammCheckDigit(c.digits), c.check, "check digit"));
  const hex4 = (n) => `U+${n.toString(16).toUpperCase().padStart(4, "0")}`;
  await check("pickup.digit_zeros", () => expectEqual(pickup.DIGIT_ZEROS.map(hex4), V.digit_zeros, "digit zeros"));
  await check("pickup.separators", () =>
    expectEqual([...pickup.SEPARATORS].map((ch) => ch.codePointAt(0)).sort((a, b) => a - b).map(hex4), V.separators, "separators"),
  );
  await items("pickup", "normalisation", V.normalisation, (c) => expectEqual(pickup.PickupCode.parse(c.input).normalised, c.normalised, "normalised"));
  await items("pickup", "refused", V.refused, (c) =>
    expectRefusal(() => pickup.PickupCode.parse(c.input), (e) => expectEqual([e.code, e.reason], ["bad_pickup_code", c.reason], "reason"), "refusal"),
  );
  await items("pickup", "derivation", V.derivation, (c) => {
    const code = pickup.PickupCode.parse(c.code);
    const org = raw(c.org_pk);
    expectEqual(code.normalised, c.password, "password");
    expectBytes(pickup.pickupSalt(org), raw(c.salt), "salt");
    const started = performance.now();
    const seed = pickup.deriveSeed(code, org);
    results.argon2idMs = (results.argon2idMs ?? []).concat([performance.now() - started]);
    expectBytes(seed, raw(c.seed), "seed");
    const derived = pickup.reporterKeysFromSeed(seed);
    expectEqual(derived.locator.encoded(), c.locator, "locator");
    expectBytes(derived.enc.secret, raw(c.reporter_sk), "reporter_sk");
    expectBytes(derived.enc.public, raw(c.reporter_pk), "reporter_pk");
    expectBytes(derived.enc.kid, raw(c.reporter_kid), "reporter_kid");
  });
  await items("pickup", "locator_lookup", V.locator_lookup, (c) => {
    const locator = pickup.Locator.decode(c.locator);
    expectEqual(b64(hashing.blake2b(locator.value, 32, raw(c.pepper))), c.lookup_key, "lookup key");
  });
}

async function checkPadding(V) {
  await check(["padding.length_prefix_bytes", "padding.envelope_buckets"], () => {
    expectEqual(padding.LENGTH_PREFIX_BYTES, V.length_prefix_bytes, "prefix");
    expectEqual([...padding.ENVELOPE_BUCKETS], V.envelope_buckets, "buckets");
  });
  await items("padding", "envelope_bucket_of_plaintext_length", V.envelope_bucket_of_plaintext_length, (c) =>
    expectEqual(padding.envelopeBucket(c.length), c.bucket, "bucket"),
  );
  await check("padding.padded_example", () => {
    const example = V.padded_example;
    expectBytes(padding.pad(raw(example.plaintext)), raw(example.padded), "pad");
    expectBytes(padding.unpad(raw(example.padded)), raw(example.plaintext), "unpad");
  });
  await items("padding", "padme", V.padme, (c) => expectEqual(padding.padme(c.length), c.padded, "padme"));
}

async function checkAead(V) {
  await items("aead", "xchacha20poly1305_ietf", V.xchacha20poly1305_ietf, (c) => {
    const ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(raw(c.plaintext), raw(c.ad), null, raw(c.nonce), raw(c.key));
    expectEqual(b64(ciphertext), c.ciphertext, "ciphertext");
  });
}

async function checkSignatures(V) {
  await check("signatures.label", () => expectEqual(text(envelope.SIGNATURE_LABEL), V.label, "label"));
  await items("signatures", "envelope_signature", V.envelope_signature, (c) => {
    const digest = envelope.signatureDigest(raw(c.header), raw(c.nonce), raw(c.ciphertext));
    expectEqual(b64(digest), c.digest, "digest");
    const signer = keys.Ed25519KeyPair.fromSeed(raw(c.signer_seed));
    expectEqual(b64(signer.public), c.signer_pk, "signer pk");
    expectEqual(b64(signer.sign(digest)), c.signature, "signature");
    keys.verifySignature(signer.public, digest, raw(c.signature));
  });
  await items("signatures", "key_commitment", V.key_commitment, (c) => {
    expectEqual(text(envelope.COMMITMENT_LABEL), c.label, "label");
    expectEqual(b64(envelope.keyCommitment(raw(c.message_key))), c.commitment, "commitment");
  });
}

async function checkEnvelopes(V) {
  await check("envelopes.message_keys_and_nonces_from", () => {
    if (typeof V.message_keys_and_nonces_from !== "string") throw new Mismatch("note missing");
  });
  await items("envelopes", "cases", V.cases, (c) => {
    const parsed = envelope.parseEnvelope(utf8(c.envelope));
    expectEqual(text(parsed.headerBytes), c.header, "header");
    expectEqual(parsed.kind, c.kind, "kind");
    expectEqual(parsed.recipientKids.map(b64).sort(), c.recipient_kids, "recipients");
    expectEqual(parsed.ciphertext.length, c.ciphertext_length, "ciphertext length");
    // Re-encoding the parsed envelope gives the wire bytes back: one spelling per envelope.
    expectEqual(text(parsed.encode()), c.envelope, "re-encoded");
    if (c.signer_pk !== null) envelope.verifyEnvelopeSignature(parsed, raw(c.signer_pk));
    for (const secret of Object.values(c.open_with)) {
      const content = envelope.openAs(parsed, keys.X25519KeyPair.fromSecret(raw(secret)));
      expectEqual(text(content.encode()), c.plaintext, "plaintext");
    }
  });
  await items("envelopes", "refused", V.refused, (c) =>
    expectRefusal(
      () => {
        const parsed = envelope.parseEnvelope(c.envelope);
        if (c.stage === "open") envelope.openAs(parsed, keys.X25519KeyPair.fromSecret(raw(c.open_with)));
        else if (c.stage === "verify") envelope.verifyEnvelopeSignature(parsed, raw(c.verify_with));
      },
      (e) => expectEqual(e.code, c.error, "code"),
      c.description,
    ),
  );
}

async function checkDirectory(V) {
  const ids = ["genesis_prev", "org_seed", "org_pk", "org_fingerprint", "directory", "entries", "entry_hashes", "head"];
  let parsed = null;
  await check(ids.map((key) => `directory.${key}`), () => {
    expectBytes(directory.GENESIS_PREV, raw(V.genesis_prev), "genesis");
    const org = keys.Ed25519KeyPair.fromSeed(raw(V.org_seed));
    expectEqual(b64(org.public), V.org_pk, "org pk");
    expectEqual(keys.fingerprint(org.public), V.org_fingerprint, "fingerprint");
    parsed = directory.parseDirectory(JSON.stringify(V.directory), { orgPublicKey: org.public });
    expectEqual(parsed.entries.map((s) => text(s.entryBytes)), V.entries, "entries");
    expectEqual(parsed.entries.map((s) => b64(directory.entryHash(s.entryBytes))), V.entry_hashes, "hashes");
    expectEqual(b64(parsed.head), V.head, "head");
    expectEqual(text(encoding.canonicalJson(parsed.toJson())), text(encoding.canonicalJson(V.directory)), "served form");
    V.entry_hashes.forEach((hash, index) => {
      if (!parsed.extends(index + 1, raw(hash))) throw new Mismatch(`extends(${index + 1}) is false`);
    });
  });
  await items("directory", "vetted", V.vetted, (expected) => {
    const vetted = parsed.vetted(expected.now);
    expectEqual(vetted.members.map((m) => ({ investigator_id: m.investigatorId, roles: [...m.roles].sort() })), expected.members, "members");
    expectEqual(vetted.newTipRecipients().map((pk) => b64(keys.keyId(pk))).sort(), expected.new_tip_recipient_kids, "tip recipients");
  });
  await items("directory", "refused", V.refused, (c) =>
    expectRefusal(
      () => directory.parseDirectory(JSON.stringify(c.directory), { orgPublicKey: raw(V.org_pk) }),
      (e) => expectEqual([e.code, e.seq], [c.error, c.seq], "code and seq"),
      c.description,
    ),
  );
}

async function checkKeybundle(V) {
  await items("keybundle", "login", V.login, (c) => {
    const params = kdf.KdfParams.fromJson(c.kdf);
    expectEqual([params.opslimit, params.memlimit], [3, 64 * 1024 * 1024], "params");
    expectBytes(keybundle.normalisePassphrase(c.passphrase_nfd), raw(c.password_bytes), "NFC");
    const started = performance.now();
    const login = keybundle.deriveLoginKeys(c.passphrase, raw(c.salt), params);
    results.argon2idMs = (results.argon2idMs ?? []).concat([performance.now() - started]);
    expectEqual(b64(login.authKey), c.auth_key, "auth key");
    expectEqual(b64(login.wrapKey), c.wrap_key, "wrap key");
    // The floor: a server offering cheaper parameters is refused before any work.
    expectRefusal(
      () => keybundle.deriveLoginKeys(c.passphrase, raw(c.salt), new kdf.KdfParams(2, 64 * 1024 * 1024)),
      (e) => expectEqual(e.code, "weak_kdf_parameters", "code"),
      "weak parameters",
    );
  });
  await items("keybundle", "bundles", V.bundles, (c, index) => {
    const login = new keybundle.LoginKeys(new Uint8Array(0), raw(c.wrap_key));
    const bundle = keybundle.parseKeyBundle(index === 0 ? JSON.stringify(c.bundle) : c.bundle);
    expectEqual(text(bundle.encode()), text(encoding.canonicalJson(c.bundle)), "re-encoded");
    if (c.associated_data !== undefined) {
      expectEqual(text(encoding.canonicalJson({ v: 1, kind: bundle.kind, kdf: bundle.kdf.toJson(), salt: b64(bundle.salt) })), c.associated_data, "ad");
    }
    if (bundle.kind === "organisation") {
      expectEqual(b64(keybundle.openOrganisationKey(bundle, login).public), c.sig_pk, "org key");
      return;
    }
    const opened = keybundle.openInvestigatorKeys(bundle, login);
    expectEqual(
      [b64(opened.enc.secret), b64(opened.enc.public), b64(opened.sig.seed), b64(opened.sig.public)],
      [c.enc_sk, c.enc_pk, c.sig_seed, c.sig_pk],
      "keys",
    );
    const wrong = new keybundle.LoginKeys(new Uint8Array(0), new Uint8Array(32));
    expectRefusal(() => keybundle.openInvestigatorKeys(bundle, wrong), (e) => expectEqual(e.code, "decryption_failed", "code"), "wrong key");
  });
  await check("keybundle.server", () => {
    const server = V.server;
    const pepper = raw(server.pepper);
    const authKey = raw(V.login[0].auth_key);
    expectEqual(b64(blake2bPersonal(authKey, 32, pepper, utf8("tipline/v1/auth"))), server.auth_key_hash, "auth key hash");
    expectEqual(b64(blake2bPersonal(utf8(server.fake_salt_for), 16, pepper, utf8("tipline/v1/salt"))), server.fake_salt, "fake salt");
  });
}

function streamPattern(length) {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 1) out[i] = i % 251;
  return out;
}

function transform(ciphertext, name) {
  const header = ciphertext.slice(0, stream.HEADER_BYTES);
  const records = [];
  for (let i = stream.HEADER_BYTES; i < ciphertext.length; i += stream.RECORD_BYTES) records.push(ciphertext.slice(i, i + stream.RECORD_BYTES));
  const join = (...parts) => encoding.concatBytes(...parts);
  const flipped = ciphertext.slice();
  flipped[flipped.length - 1] ^= 1;
  return {
    drop_last_record: () => join(header, ...records.slice(0, -1)),
    drop_last_byte: () => ciphertext.slice(0, -1),
    swap_records: () => join(header, records[1], records[0], ...records.slice(2)),
    append_byte: () => join(ciphertext, new Uint8Array(1)),
    flip_last_byte: () => flipped,
    header_only: () => header,
  }[name]();
}

async function checkStream(V) {
  await check(["stream.chunk_bytes", "stream.header_bytes", "stream.record_overhead_bytes", "stream.content_pattern", "stream.key"], () => {
    expectEqual([stream.CHUNK_BYTES, stream.HEADER_BYTES, stream.OVERHEAD_BYTES], [V.chunk_bytes, V.header_bytes, V.record_overhead_bytes], "sizes");
    expectEqual(V.content_pattern, "byte i is i mod 251", "pattern");
    expectEqual(raw(V.key).length, 32, "key");
  });
  await items("stream", "lengths", V.lengths, (c) => {
    expectEqual(stream.paddedLength(c.content_length), c.padded_length, "padded");
    expectEqual(stream.ciphertextLength(c.content_length), c.ciphertext_length, "ciphertext");
  });
  for (const [index, c] of V.cases.entries()) {
    await check(`stream.cases[${index}]`, async () => {
      const ciphertext = raw(c.ciphertext);
      expectEqual(ciphertext.length, stream.ciphertextLength(c.content_length), "length");
      // Fed in odd-sized pieces: framing must not depend on how the bytes arrive.
      const pieces = [];
      for (let i = 0; i < ciphertext.length; i += 1000) pieces.push(ciphertext.slice(i, i + 1000));
      const content = await stream.collect(stream.decryptStream(raw(V.key), pieces));
      expectBytes(content, streamPattern(c.content_length), "content");
      expectEqual(b64(sodium.crypto_hash_sha256(content)), c.content_sha256, "sha256");
      const ref = new message.AttachmentRef({ id: "a", key: raw(V.key), name: "x", size: c.content_length, sha256: raw(c.content_sha256) });
      await stream.collect(stream.openAttachment(ref, [ciphertext]));
    });
  }
  for (const [index, c] of V.refused.entries()) {
    await check(`stream.refused[${index}]`, () =>
      expectRefusalAsync(
        () => stream.collect(stream.decryptStream(raw(V.key), [transform(raw(V.cases[c.case].ciphertext), c.transform)])),
        (e) => expectEqual([e.code, e.reason], ["bad_stream", c.reason], "reason"),
        c.transform,
      ),
    );
  }
}

async function checkPow(V) {
  await check(["pow.key", "pow.now", "pow.challenge", "pow.challenge_json", "pow.solution", "pow.work_hash"], () => {
    const challenge = pow.parseChallenge(V.challenge);
    expectEqual(text(challenge.challengeBytes), V.challenge_json, "challenge bytes");
    const solution = V.solution;
    expectEqual(b64(pow.workHash(challenge.challengeBytes, raw(solution.nonce))), V.work_hash, "work hash");
    const verified = verifySolution(solution, { key: raw(V.key), purpose: "submit", now: V.now });
    expectBytes(verified.id, challenge.id, "id");
    // The first solution counting up from nonce 0 is the one in the file.
    const solved = pow.solve(challenge);
    expectEqual(b64(solved.nonce), solution.nonce, "nonce");
    expectEqual(solved.toJson(), solution, "solution wire form");
  });
  await items("pow", "refused", V.refused, (c) =>
    expectRefusal(
      () => verifySolution(V.solution, { key: raw(V.key), purpose: c.purpose, now: c.now, minDifficulty: c.min_difficulty ?? 0 }),
      (e) => expectEqual(e.reason, c.reason, "reason"),
      c.reason,
    ),
  );
}

async function main() {
  const V = await (await fetch("/e2e/protocol-v1.json")).json();
  await check("protocol", () => expectEqual(V.protocol, "tipline/v1", "protocol"));
  await checkEncoding(V.encoding);
  await checkHashing(V.hashing);
  await checkPickup(V.pickup);
  await checkPadding(V.padding);
  await checkAead(V.aead);
  await checkSignatures(V.signatures);
  await checkEnvelopes(V.envelopes);
  await checkDirectory(V.directory);
  await checkKeybundle(V.keybundle);
  await checkStream(V.stream);
  await checkPow(V.pow);
}

main()
  .catch((error) => results.push({ id: "(page)", ok: false, detail: `${error.name}: ${error.message}`, ms: 0 }))
  .finally(() => {
    window.vectorResults = results.map(({ id, ok, detail, ms }) => ({ id, ok, detail, ms }));
    window.argon2idMs = results.argon2idMs ?? [];
    window.vectorsDone = true;
    document.getElementById("status").textContent = results.every((r) => r.ok) ? "all passed" : "failures";
  });
