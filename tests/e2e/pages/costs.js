/**
 * Measurement page (served only by tests/e2e/measure_costs.py): times the protocol's operations
 * with the browser modules. window.measureCosts(input) resolves to {name: milliseconds or rate}.
 */
import * as protocol from "/static/js/protocol/index.js";

const { envelope, keys, message, pickup, pow, stream, tasks, directory, encoding } = protocol;
const unb64 = (text) => encoding.b64decode(text, { what: "input" });

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timeIt(runs, fn) {
  const times = [];
  for (let i = 0; i < runs; i += 1) {
    const started = performance.now();
    await fn();
    times.push(performance.now() - started);
  }
  return median(times);
}

async function measureCosts(input) {
  const out = {};
  const orgPk = unb64(input.orgPk);
  const code = pickup.PickupCode.generate();
  out.argon2id_page_ms = await timeIt(5, () => pickup.deriveReporterKeys(code, orgPk));
  out.argon2id_worker_ms = await timeIt(3, () => tasks.deriveReporterKeysInWorker(code, orgPk, { allowPage: false }));

  for (const challenges of input.powChallenges) {
    const times = [];
    let hashes = 0;
    for (const wire of challenges) {
      const challenge = pow.parseChallenge(wire);
      const started = performance.now();
      const solution = await tasks.solveInWorker(challenge, { allowPage: false });
      times.push(performance.now() - started);
      const view = new DataView(solution.nonce.buffer, solution.nonce.byteOffset, 8);
      hashes += view.getUint32(0) * 2 ** 32 + view.getUint32(4) + 1;
    }
    const difficulty = pow.parseChallenge(challenges[0]).difficulty;
    out[`pow_${difficulty}_mean_ms`] = times.reduce((a, b) => a + b, 0) / times.length;
    out[`pow_hashes_per_ms_at_${difficulty}`] = hashes / times.reduce((a, b) => a + b, 0);
  }

  const recipients = Array.from({ length: 20 }, () => keys.X25519KeyPair.generate());
  const content = new message.MessageContent({ kind: "tip", body: "x".repeat(600), created: 1767225600 });
  for (const n of [1, 3, 20]) {
    out[`seal_tip_${n}_recipients_ms`] = await timeIt(50, () => envelope.seal(content, { recipients: recipients.slice(0, n).map((k) => k.public) }));
  }
  const sealed = envelope.seal(content, { recipients: recipients.map((k) => k.public) });
  const wire = sealed.encode();
  out.parse_envelope_20_recipients_ms = await timeIt(50, () => envelope.parseEnvelope(wire));
  const parsed = envelope.parseEnvelope(wire);
  const last = recipients.find((k) => encoding.compareBytes(k.kid, parsed.header.recipients[19].kid) === 0);
  out.open_as_last_of_20_ms = await timeIt(50, () => envelope.openAs(parsed, last));
  const author = keys.InvestigatorKeys.generate();
  const followup = envelope.seal(new message.MessageContent({ kind: "followup", body: "?", created: 1767225600 }), {
    recipients: [author.enc.public],
    case: "c-1",
    signer: author.sig,
  });
  out.verify_followup_signature_ms = await timeIt(50, () => envelope.verifyEnvelopeSignature(followup, author.sig.public));
  out.verify_directory_100_entries_ms = await timeIt(5, () => directory.parseDirectory(input.directory, { orgPublicKey: orgPk }));

  const size = 16 * 1024 * 1024;
  const data = new Uint8Array(size);
  const key = stream.newAttachmentKey();
  let ciphertext = null;
  const encryptMs = await timeIt(3, async () => {
    const encrypted = await stream.encryptBlob(new Blob([data]), { key });
    ciphertext = new Uint8Array(await encrypted.ciphertext.arrayBuffer());
  });
  out.stream_encrypt_mb_per_s = size / 1e6 / (encryptMs / 1000);
  const pieces = [];
  for (let i = 0; i < ciphertext.length; i += 1 << 20) pieces.push(ciphertext.subarray(i, i + (1 << 20)));
  const decryptMs = await timeIt(3, () => stream.collect(stream.decryptStream(key, pieces)));
  out.stream_decrypt_mb_per_s = size / 1e6 / (decryptMs / 1000);
  return out;
}

window.measureCosts = measureCosts;
window.costsReady = true;
document.getElementById("status").textContent = "ready";
