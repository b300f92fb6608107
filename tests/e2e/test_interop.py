"""The browser and the Python implementation interoperate beyond the vectors: what one seals,
signs, streams, bundles or solves, the other opens, verifies or accepts, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import time
import unicodedata
from typing import Any

import pytest

from gateway.crypto import envelope, keybundle, pickup, stream
from gateway.crypto.directory import Directory
from gateway.crypto.encoding import b64decode, b64encode
from gateway.crypto.errors import BadProofOfWork, BadSignature
from gateway.crypto.kdf import V1_PARAMS
from gateway.crypto.keys import InvestigatorKeys, X25519KeyPair, key_id
from gateway.crypto.message import AttachmentRef, MessageContent
from gateway.domain.admission import admit_paying
from gateway.web.keys import HOTLINE
from tests.e2e.browser import LiveGateway, WatchedPage
from tests.fixtures.organisation import Organisation

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOW = int(time.time())
# Text that must survive both implementations exactly: accents, emoji, a line separator, markup.
AWKWARD = 'Zoë ☕ 𝄞 \u2028 "quoted" \\ <script>alert(1)</script> \x01'


def raw(text: str) -> bytes:
    return b64decode(text, what="browser output")


def assert_clean(page: WatchedPage) -> None:
    assert page.errors == []
    assert page.csp_violations == []


async def test_a_tip_sealed_in_python_opens_in_the_browser(harness: WatchedPage) -> None:
    reporter, triage = X25519KeyPair.generate(), InvestigatorKeys.generate()
    content = MessageContent(
        kind="tip", body=AWKWARD, created=NOW, fields={"location": "Utrecht", "when": "gisteren"}
    )
    sealed = envelope.seal(content, recipients=[triage.enc.public, reporter.public], case=None)
    opened = await harness.evaluate(
        """([wire, secrets]) => secrets.map((secret) => {
            const { envelope, keys, encoding } = window.protocol;
            const parsed = envelope.parseEnvelope(wire);
            try {
                const pair = keys.X25519KeyPair.fromSecret(window.unb64(secret));
                return encoding.utf8Decode(envelope.openAs(parsed, pair).encode());
            } catch (error) { return error.code; }
        })""",
        [
            sealed.encode().decode(),
            [b64encode(triage.enc.secret), b64encode(reporter.secret), b64encode(bytes(32))],
        ],
    )
    assert opened == [content.encode().decode()] * 2 + ["not_a_recipient"]
    assert_clean(harness)


async def test_a_followup_signed_in_the_browser_verifies_and_opens_in_python(
    harness: WatchedPage,
) -> None:
    author, colleague, reporter = (
        InvestigatorKeys.generate(),
        InvestigatorKeys.generate(),
        X25519KeyPair.generate(),
    )
    wire = await harness.evaluate(
        """([seed, recipients, body, created]) => {
            const { envelope, keys, message, encoding } = window.protocol;
            const signer = keys.Ed25519KeyPair.fromSeed(window.unb64(seed));
            const content = new message.MessageContent({ kind: "followup", body, created });
            const sealed = envelope.seal(content, {
                recipients: recipients.map(window.unb64), case: "c-2026-0042", signer,
            });
            return encoding.utf8Decode(sealed.encode());
        }""",
        [
            b64encode(author.sig.seed),
            [b64encode(k) for k in (author.enc.public, colleague.enc.public, reporter.public)],
            AWKWARD,
            NOW,
        ],
    )
    parsed = envelope.parse_envelope(wire.encode())
    assert parsed.header.case == "c-2026-0042"
    envelope.verify_envelope_signature(parsed, author.sig.public)
    with pytest.raises(BadSignature):
        envelope.verify_envelope_signature(parsed, colleague.sig.public)
    for keys in (reporter, colleague.enc, author.enc):
        assert envelope.open_as(parsed, keys).body == AWKWARD
    assert_clean(harness)


async def test_python_signatures_verify_in_the_browser_and_forgeries_do_not(
    harness: WatchedPage,
) -> None:
    author = InvestigatorKeys.generate()
    sealed = envelope.seal(
        MessageContent(kind="note", body="intern", created=NOW),
        recipients=[author.enc.public],
        case="c-1",
        signer=author.sig,
    )
    forged = sealed.to_json()
    forged["signature"] = b64encode(bytes(64))
    outcomes = await harness.evaluate(
        """([wires, signer]) => wires.map((wire) => {
            const { envelope } = window.protocol;
            try {
                const parsed = envelope.parseEnvelope(wire);
                envelope.verifyEnvelopeSignature(parsed, window.unb64(signer));
                return "verified";
            } catch (error) { return error.code; }
        })""",
        [[sealed.encode().decode(), json.dumps(forged)], b64encode(author.sig.public)],
    )
    assert outcomes == ["verified", "bad_signature"]
    assert_clean(harness)


def pattern(length: int) -> bytes:
    return bytes((i * 7 + i // 251) % 256 for i in range(length))


async def test_attachment_streams_cross_between_python_and_the_browser(
    harness: WatchedPage,
) -> None:
    # Python encrypts, the browser decrypts and checks the envelope's promise.
    content = pattern(150_000)
    key = stream.new_attachment_key()
    ciphertext = b"".join(stream.encrypt_stream(key, [content], len(content)))
    ref = {"id": "att_1", "key": b64encode(key), "name": "foto.jpg", "size": len(content)}
    ref["sha256"] = b64encode(hashlib.sha256(content).digest())
    opened = await harness.evaluate(
        """async ([ref, ciphertext]) => {
            const { stream, message } = window.protocol;
            const attachment = message.AttachmentRef.fromJson(ref);
            const bytes = window.unb64(ciphertext);
            const pieces = [];  // odd-sized pieces, as a network delivers them
            for (let i = 0; i < bytes.length; i += 7001) pieces.push(bytes.slice(i, i + 7001));
            return window.b64(await stream.collect(stream.openAttachment(attachment, pieces)));
        }""",
        [ref, b64encode(ciphertext)],
    )
    assert raw(opened) == content

    # The browser encrypts a Blob (as from a file input) with progress; Python decrypts.
    sealed: dict[str, Any] = await harness.evaluate(
        """async (length) => {
            const { stream } = window.protocol;
            const data = new Uint8Array(length);
            for (let i = 0; i < length; i += 1) data[i] = (i * 7 + Math.floor(i / 251)) % 256;
            const progress = [];
            const out = await stream.encryptBlob(new Blob([data]), {
                onProgress: (done, total) => progress.push([done, total]),
            });
            const ciphertext = new Uint8Array(await out.ciphertext.arrayBuffer());
            return {
                key: window.b64(out.key), size: out.size, sha256: window.b64(out.sha256),
                ciphertext: window.b64(ciphertext), progress,
                expected: stream.ciphertextLength(length),
            };
        }""",
        200_000,
    )
    browser_ref = AttachmentRef(
        id="att_2",
        key=raw(sealed["key"]),
        name="video.mp4",
        size=sealed["size"],
        sha256=raw(sealed["sha256"]),
    )
    browser_ciphertext = raw(sealed["ciphertext"])
    assert len(browser_ciphertext) == sealed["expected"] == stream.ciphertext_length(200_000)
    assert b"".join(stream.open_attachment(browser_ref, [browser_ciphertext])) == pattern(200_000)
    assert sealed["progress"][-1] == [200_000, 200_000]
    assert_clean(harness)


async def test_key_bundles_cross_between_python_and_the_browser(harness: WatchedPage) -> None:
    passphrase = "paard batterij nietje \u2013 Zoë"
    salt = keybundle.new_salt()
    login = keybundle.derive_login_keys(passphrase, salt, V1_PARAMS)
    keys = InvestigatorKeys.generate()
    bundle = keybundle.seal_investigator_keys(keys, login, salt=salt, kdf=V1_PARAMS)
    # The browser gets the passphrase decomposed (NFD), as macOS may type it: same keys.
    result: dict[str, Any] = await harness.evaluate(
        """async ([passphrase, bundleJson]) => {
            const { keybundle, tasks, keys } = window.protocol;
            const bundle = keybundle.parseKeyBundle(bundleJson);
            const login = await tasks.deriveLoginKeysInWorker(
                passphrase, bundle.salt, bundle.kdf, { allowPage: false });
            const opened = keybundle.openInvestigatorKeys(bundle, login);
            const fresh = keys.InvestigatorKeys.generate();
            const resealed = keybundle.sealInvestigatorKeys(fresh, login,
                { salt: bundle.salt, kdf: bundle.kdf });
            return {
                authKey: window.b64(login.authKey), where: tasks.lastRun.where,
                encPk: window.b64(opened.enc.public), sigPk: window.b64(opened.sig.public),
                freshEncPk: window.b64(fresh.enc.public), freshSigPk: window.b64(fresh.sig.public),
                resealed: JSON.stringify(resealed.toJson()),
            };
        }""",
        [unicodedata.normalize("NFD", passphrase), bundle.encode().decode()],
    )
    assert result["where"] == "worker"
    assert raw(result["authKey"]) == login.auth_key
    assert (raw(result["encPk"]), raw(result["sigPk"])) == (keys.enc.public, keys.sig.public)
    reopened = keybundle.open_investigator_keys(
        keybundle.parse_key_bundle(result["resealed"]), login
    )
    assert (reopened.enc.public, reopened.sig.public) == (
        raw(result["freshEncPk"]),
        raw(result["freshSigPk"]),
    )
    assert_clean(harness)


async def test_the_served_directory_verifies_in_the_browser_with_the_same_vetted_set(
    harness: WatchedPage, gateway: LiveGateway, organisation: Organisation
) -> None:
    book = gateway.app[HOTLINE].directory
    await organisation.vet(book, "investigator", "triage", name="Anna <b>de Vries</b>")
    liaison = await organisation.vet(book, "investigator", "liaison", name="Bram")
    await organisation.vet(book, "recovery", name="Recovery key")
    await organisation.revoke(book, liaison)
    directory: Directory = await book.current()
    expected = directory.vetted(NOW)

    seen: dict[str, Any] = await harness.evaluate(
        """async ([pinned, other, now, revokedSigPk]) => {
            const { directory, keys } = window.protocol;
            const served = await (await fetch("/api/v1/directory")).text();
            const orgPublicKey = window.unb64(pinned);
            const verified = directory.parseDirectory(served, { orgPublicKey });
            const vetted = verified.vetted(now);
            let underOtherPin;
            try {
                directory.parseDirectory(served, { orgPublicKey: window.unb64(other) });
            } catch (error) { underOtherPin = error.code; }
            const revokedSigKid = keys.keyId(window.unb64(revokedSigPk));
            const triage = vetted.withRole("triage")[0];
            return {
                signerFound: vetted.bySigKid(triage.sigKid) === triage,
                recipientFound: vetted.byEncKid(triage.encKid) === triage,
                revokedSignerVetted: vetted.bySigKid(revokedSigKid) !== null,
                revokedSignerOnRecord: verified.addedEntryForSigKid(revokedSigKid)?.name,
                revokedKey: verified.isRevoked(window.unb64(revokedSigPk)),
                rolledBack: verified.extends(4, new Uint8Array(32)),
                members: vetted.members.map((m) => [m.investigatorId, m.name, [...m.roles].sort()]),
                tipKids: vetted.newTipRecipients().map((pk) => window.b64(keys.keyId(pk))).sort(),
                head: window.b64(verified.head), seq: verified.entries.length, underOtherPin,
            };
        }""",
        [
            organisation.public_key_text,
            b64encode(bytes(range(32))),
            NOW,
            b64encode(liaison.keys.sig.public),
        ],
    )
    # What pages need to check a signer and show an old message's author.
    assert seen["signerFound"]
    assert seen["recipientFound"]
    assert not seen["revokedSignerVetted"]
    assert seen["revokedSignerOnRecord"] == "Bram"
    assert seen["revokedKey"]
    assert not seen["rolledBack"]
    assert seen["members"] == [
        [m.investigator_id, m.name, sorted(m.roles)] for m in expected.members
    ]
    assert seen["tipKids"] == sorted(b64encode(key_id(pk)) for pk in expected.new_tip_recipients())
    assert (raw(seen["head"]), seen["seq"]) == (directory.head, len(directory.entries))
    assert len(directory.entries) == 4
    assert seen["underOtherPin"] == "bad_signature"
    assert_clean(harness)


async def test_proof_of_work_solved_in_a_worker_is_accepted_by_the_gateway_once(
    harness: WatchedPage, gateway: LiveGateway
) -> None:
    solved: dict[str, Any] = await harness.evaluate(
        """async () => {
            const { pow, tasks } = window.protocol;
            const served = await (await fetch("/api/v1/pow?purpose=submit")).text();
            const challenge = pow.parseChallenge(served);
            const solution = await tasks.solveInWorker(challenge, { allowPage: false });
            const { difficulty } = challenge;
            return { token: solution.toJson(), where: tasks.lastRun.where, difficulty };
        }"""
    )
    assert solved["where"] == "worker"
    assert solved["difficulty"] == 12
    hotline = gateway.app[HOTLINE]
    await admit_paying(hotline, "127.0.0.1", proof=solved["token"], purpose="submit")
    with pytest.raises(BadProofOfWork):
        await admit_paying(hotline, "127.0.0.1", proof=solved["token"], purpose="submit")
    assert_clean(harness)


async def test_a_pickup_code_derives_the_python_keys_in_a_worker_while_the_page_stays_responsive(
    harness: WatchedPage, organisation: Organisation
) -> None:
    derived: dict[str, Any] = await harness.evaluate(
        """async (orgPk) => {
            const { pickup, tasks } = window.protocol;
            const code = pickup.PickupCode.generate();
            let ticks = 0;
            const timer = setInterval(() => { ticks += 1; }, 10);
            const started = performance.now();
            const keys = await tasks.deriveReporterKeysInWorker(
                code, window.unb64(orgPk), { allowPage: false });
            const ms = performance.now() - started;
            clearInterval(timer);
            return {
                code: code.display(), locator: keys.locator.encoded(),
                publicKey: window.b64(keys.enc.public), ms, ticks, where: tasks.lastRun.where,
                shown: String(code),
            };
        }""",
        organisation.public_key_text,
    )
    python = pickup.derive_reporter_keys(
        pickup.PickupCode.parse(derived["code"]), organisation.public_key
    )
    assert derived["locator"] == python.locator.encoded()
    assert raw(derived["publicKey"]) == python.enc.public
    assert derived["where"] == "worker"
    assert derived["shown"] == "PickupCode(<hidden>)"
    # A 10 ms timer kept firing during the Argon2id run: the page's thread was free.
    assert derived["ticks"] >= derived["ms"] / 10 / 4
    assert_clean(harness)
