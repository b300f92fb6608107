"""Write tests/vectors/protocol-v1.json: protocol v1 test vectors from fixed seeds.

Run: .venv/bin/python tests/vectors/make_vectors.py

Every input comes from a labelled deterministic byte source, so regenerating reproduces the
file, except where libsodium draws randomness itself (crypto_box_seal's ephemeral key inside
every envelope, secretstream's header): those are known-answer tests of the opening side and
`mask_random` blanks them before two generations are compared. The Python tests and the browser
tests check this same file.
"""

from __future__ import annotations

import hashlib
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

import nacl.bindings

from gateway.crypto import directory as directory_mod
from gateway.crypto import envelope as envelope_mod
from gateway.crypto import keybundle, padding, pickup, pow, stream
from gateway.crypto.encoding import b64encode, canonical_json
from gateway.crypto.hashing import blake2b, length_prefixed
from gateway.crypto.kdf import V1_PARAMS
from gateway.crypto.keys import (
    Ed25519KeyPair,
    InvestigatorKeys,
    X25519KeyPair,
    fingerprint,
    key_id,
)
from gateway.crypto.message import AttachmentRef, MessageContent

VECTOR_FILE = Path(__file__).with_name("protocol-v1.json")

# 2026-01-01T00:00:00Z: every vector's "now".
NOW = 1_767_225_600
DAY = 86_400

# Values libsodium randomises internally; blanked when comparing two generations.
RANDOM_MARK = "<random: known-answer test of the opening side>"


class VectorRandom:
    """Deterministic stand-in for a CSPRNG: BLAKE2b-512(label || u64be(counter)) blocks.

    Each call starts a fresh block, so a call's output depends only on the label and call order.
    """

    def __init__(self, label: str) -> None:
        self._label = label.encode()
        self._counter = 0
        self.drawn: list[bytes] = []

    def __call__(self, size: int) -> bytes:
        out = b""
        while len(out) < size:
            out += blake2b(self._label + self._counter.to_bytes(8, "big"), size=64)
            self._counter += 1
        self.drawn.append(out[:size])
        return out[:size]


def b64(data: bytes) -> str:
    return b64encode(data)


def stream_pattern(length: int) -> bytes:
    """Attachment content for vectors: byte i is i mod 251 (so it need not be stored)."""
    return bytes(i % 251 for i in range(length))


# ---------------------------------------------------------------- fixed keys


def org_key() -> Ed25519KeyPair:
    return Ed25519KeyPair.generate(VectorRandom("org"))


def investigator(name: str) -> InvestigatorKeys:
    return InvestigatorKeys.generate(VectorRandom(f"investigator/{name}"))


# ---------------------------------------------------------------- sections


def encoding_vectors() -> dict[str, Any]:
    samples = [b"", b"\x00", b"\xff\xfe", b"tip", bytes(range(32)), b"\xfb\xff\xbf"]
    return {
        "base64url": [{"hex": data.hex(), "text": b64(data)} for data in samples],
        "base64url_refused": ["AA==", "AB", "A", "+/8", "a b", "AA=A"],
        "canonical_json": [
            {"value": value, "canonical": canonical_json(value).decode("utf-8")}
            for value in [
                {"b": 1, "a": [True, False, None], "c": {"z": "", "y": -3}},
                {
                    "text": "café ☕ 𝄞 \u2028 \x7f",
                    "quote": '"\\/',
                    "controls": "\n\t\r\b\f\x01\x1f",
                },
                {"n": 9007199254740991, "m": -9007199254740991, "empty": {}, "list": []},
            ]
        ],
        "json_refused": [
            '{"a":1,"a":2}',
            '{"a":1.5}',
            '{"a":1e3}',
            '{"a":NaN}',
            '{"a":Infinity}',
            '{"a":9007199254740993}',
            '{"a":"\\ud800"}',
            '{"é":1}',
        ],
    }


def hashing_vectors() -> dict[str, Any]:
    keys = [X25519KeyPair.generate(VectorRandom("kid")).public, org_key().public]
    return {
        "key_id": [{"public_key": b64(pk), "kid": b64(key_id(pk))} for pk in keys],
        "fingerprint": [{"public_key": b64(pk), "fingerprint": fingerprint(pk)} for pk in keys],
        "length_prefixed": [
            {"parts": [b64(b"ab"), b64(b""), b64(b"c")],
             "encoded": b64(length_prefixed(b"ab", b"", b"c"))}
        ],
    }  # fmt: skip


def pickup_vectors() -> dict[str, Any]:
    generation = []
    for label in ["code/1", "code/2"]:
        source = VectorRandom(label)
        code = pickup.PickupCode.generate(source)
        generation.append({"random_bytes": b64(b"".join(source.drawn)), "code": code.display()})
    # Bytes 250..255 are rejected, so this code's digits come from the bytes after them.
    biased = bytes([255, 250, 251, 7, 249, 0, 10, 99] * 4)
    queue = [biased, bytes(range(32))]
    code = pickup.PickupCode.generate(lambda size: queue.pop(0)[:size])
    generation.append({"random_bytes": b64(biased + bytes(range(32))), "code": code.display()})

    org = org_key()
    codes = [pickup.PickupCode.parse(case["code"]) for case in generation[:2]]
    derivation = []
    for code in codes:
        seed = pickup.derive_seed(code, org.public)
        keys = pickup.derive_reporter_keys(code, org.public)
        derivation.append(
            {
                "org_pk": b64(org.public),
                "code": code.display(),
                "password": code.normalised,
                "salt": b64(pickup.pickup_salt(org.public)),
                "seed": b64(seed),
                "locator": keys.locator.encoded(),
                "reporter_sk": b64(keys.enc.secret),
                "reporter_pk": b64(keys.enc.public),
                "reporter_kid": b64(keys.enc.kid),
            }
        )
    pepper = VectorRandom("locator-pepper")(32)
    first = pickup.Locator.decode(derivation[0]["locator"])
    typed = codes[0].display()
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in typed)
    arabic = "".join(chr(ord(c) - 0x30 + 0x0660) if c.isdigit() else " " for c in typed)
    good = codes[0].normalised
    i = next(i for i in range(len(good) - 1) if good[i] != good[i + 1])
    swapped = good[:i] + good[i + 1] + good[i] + good[i + 2 :]
    return {
        "secret_digits": pickup.SECRET_DIGITS,
        "code_digits": pickup.CODE_DIGITS,
        "group_size": pickup.GROUP_SIZE,
        "kdf": {"opslimit": pickup.PICKUP_KDF.opslimit, "memlimit": pickup.PICKUP_KDF.memlimit},
        "generation": generation,
        "damm": [
            {"digits": digits, "check": pickup.damm_check_digit(digits)}
            for digits in ["572", "0000", "123456789012345678901234567", good[:-1]]
        ],
        "digit_zeros": [f"U+{zero:04X}" for zero in pickup.DIGIT_ZEROS],
        "separators": [f"U+{ord(ch):04X}" for ch in sorted(pickup.SEPARATORS)],
        "normalisation": [
            {"input": text, "normalised": good}
            for text in [
                typed,
                typed.replace("-", " "),
                typed.replace("-", "."),
                typed.replace("-", "\u2013"),
                f"  {good}\n",
                fullwidth,
                arabic,
            ]
        ],
        "refused": [
            {"input": "", "reason": "empty"},
            {"input": "   ", "reason": "empty"},
            {"input": typed[:2] + "O" + typed[3:], "reason": "not_a_digit"},
            {"input": typed[:-1], "reason": "too_short"},
            {"input": typed + "1", "reason": "too_long"},
            {"input": good[:3] + str((int(good[3]) + 1) % 10) + good[4:], "reason": "typo"},
            {"input": swapped, "reason": "typo"},
        ],
        "derivation": derivation,
        "locator_lookup": [
            {
                "locator": first.encoded(),
                "pepper": b64(pepper),
                "lookup_key": b64(pickup.locator_lookup_key(first, pepper)),
            }
        ],
    }


def padding_vectors() -> dict[str, Any]:
    lengths = [0, 1, 1020, 1021, 2044, 65532, 65533, 1048572, 1048573, 4194300]
    small = b"a short tip"
    return {
        "length_prefix_bytes": padding.LENGTH_PREFIX_BYTES,
        "envelope_buckets": list(padding.ENVELOPE_BUCKETS),
        "envelope_bucket_of_plaintext_length": [
            {"length": n, "bucket": padding.envelope_bucket(n)} for n in lengths
        ],
        "padded_example": {"plaintext": b64(small), "padded": b64(padding.pad(small))},
        "padme": [
            {"length": n, "padded": padding.padme(n)}
            for n in [0, 1, 2, 3, 9, 17, 100, 1000, 65544, 65644, 1_000_000, 123_456_789]
        ],
    }


def aead_vectors() -> dict[str, Any]:
    source = VectorRandom("aead")
    key, nonce = source(32), source(24)
    ad, plaintext = b'{"v":1}', b"XChaCha20-Poly1305-IETF known answer"
    ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, key)
    return {
        "xchacha20poly1305_ietf": [
            {
                "key": b64(key),
                "nonce": b64(nonce),
                "ad": b64(ad),
                "plaintext": b64(plaintext),
                "ciphertext": b64(ciphertext),
            }
        ]
    }


def signature_vectors() -> dict[str, Any]:
    signer = investigator("alice").sig
    header, nonce, ciphertext = b'{"v":1}', bytes(range(24)), b"\x01" * 1040
    digest = envelope_mod.signature_digest(header, nonce, ciphertext)
    return {
        "label": envelope_mod.SIGNATURE_LABEL.decode(),
        "envelope_signature": [
            {
                "header": b64(header),
                "nonce": b64(nonce),
                "ciphertext": b64(ciphertext),
                "digest": b64(digest),
                "signer_seed": b64(signer.seed),
                "signer_pk": b64(signer.public),
                "signature": b64(signer.sign(digest)),
            }
        ],
        "key_commitment": [
            {
                "label": envelope_mod.COMMITMENT_LABEL.decode(),
                "message_key": b64(bytes(range(32))),
                "commitment": b64(envelope_mod.key_commitment(bytes(range(32)))),
            }
        ],
    }


def _reporter() -> pickup.ReporterKeys:
    code = pickup.PickupCode.generate(VectorRandom("code/1"))
    return pickup.derive_reporter_keys(code, org_key().public)


def _recovery() -> InvestigatorKeys:
    return investigator("recovery")


def envelope_vectors() -> dict[str, Any]:
    alice, bob, recovery, reporter = (
        investigator("alice"),
        investigator("bob"),
        _recovery(),
        _reporter().enc,
    )
    attachment_key = VectorRandom("stream/key")(32)
    attachment = stream_pattern(1000)
    source = VectorRandom("envelopes")
    tip = envelope_mod.seal(
        MessageContent(
            kind="tip",
            body="Er is een meisje van 15 dat elke avond wordt opgehaald. café ☕ 𝄞",
            created=NOW,
            fields={"location": "Utrecht, station", "urgent": "no"},
        ),
        recipients=[alice.enc.public, recovery.enc.public, reporter.public],
        case=None,
        random_bytes=source,
    )
    followup = envelope_mod.seal(
        MessageContent(kind="followup", body="Welke auto? Weet u het kenteken?", created=NOW + 60),
        recipients=[alice.enc.public, bob.enc.public, recovery.enc.public, reporter.public],
        case="c-2026-0001",
        signer=alice.sig,
        random_bytes=source,
    )
    reply = envelope_mod.seal(
        MessageContent(
            kind="reply",
            body="Een grijze bestelbus, foto bijgevoegd.",
            created=NOW + 120,
            attachments=(
                AttachmentRef(
                    id="att_0001",
                    key=attachment_key,
                    name="foto 1.jpg",
                    size=len(attachment),
                    sha256=hashlib.sha256(attachment).digest(),
                ),
            ),
        ),
        recipients=[alice.enc.public, bob.enc.public, recovery.enc.public, reporter.public],
        case="c-2026-0001",
        random_bytes=source,
    )
    note = envelope_mod.seal(
        MessageContent(kind="note", body="Intern: kenteken nagevraagd.", created=NOW + 180),
        recipients=[alice.enc.public, bob.enc.public, recovery.enc.public],
        case="c-2026-0001",
        signer=bob.sig,
        random_bytes=source,
    )

    def case(
        description: str,
        env: envelope_mod.Envelope,
        openers: dict[str, X25519KeyPair],
        signer: Ed25519KeyPair | None,
    ) -> dict[str, Any]:
        content = envelope_mod.open_as(env, next(iter(openers.values())))
        return {
            "description": description,
            "envelope": env.encode().decode(),
            "header": env.header_bytes.decode(),
            "kind": env.kind,
            "recipient_kids": sorted(b64(kid) for kid in env.recipient_kids),
            "signer_pk": None if signer is None else b64(signer.public),
            "open_with": {name: b64(keys.secret) for name, keys in openers.items()},
            "plaintext": content.encode().decode(),
            "ciphertext_length": len(env.ciphertext),
        }

    cases = [
        case("new tip for triage, recovery and the reporter", tip,
             {"alice": alice.enc, "reporter": reporter}, None),
        case("signed follow-up question", followup,
             {"reporter": reporter, "bob": bob.enc}, alice.sig),
        case("reporter reply with an attachment", reply, {"recovery": recovery.enc}, None),
        case("internal note, investigators only", note, {"alice": alice.enc}, bob.sig),
    ]  # fmt: skip
    return {
        "message_keys_and_nonces_from": "VectorRandom('envelopes'): 32-byte key, 24-byte nonce",
        "cases": cases,
        "refused": _envelope_refusals(tip, followup, alice, bob),
    }


def _reencode(
    env: envelope_mod.Envelope, header_changes: dict[str, Any] | None = None, **changes: Any
) -> str:
    """The envelope's wire JSON with header fields and wire fields changed (header re-encoded)."""
    wire = env.to_json()
    if header_changes:
        header = json.loads(env.header_bytes)
        header.update(header_changes)
        wire["header"] = b64(canonical_json(header))
    wire.update(changes)
    return json.dumps(wire)


def _envelope_refusals(
    tip: envelope_mod.Envelope,
    followup: envelope_mod.Envelope,
    alice: InvestigatorKeys,
    bob: InvestigatorKeys,
) -> list[dict[str, Any]]:
    def flip(data: bytes, index: int) -> str:
        changed = bytearray(data)
        changed[index] ^= 0x01
        return b64(bytes(changed))

    alice_sk, bob_sk = b64(alice.enc.secret), b64(bob.enc.secret)
    tip_header = json.loads(tip.header_bytes)
    swapped = dict(tip_header, recipients=list(reversed(tip_header["recipients"])))
    fu = followup.to_json()
    no_signature = {k: v for k, v in fu.items() if k != "signature"}
    return [
        {"description": "a ciphertext bit flipped", "stage": "open", "open_with": alice_sk,
         "envelope": _reencode(tip, ciphertext=flip(tip.ciphertext, 10)),
         "error": "decryption_failed"},
        {"description": "the nonce changed", "stage": "open", "open_with": alice_sk,
         "envelope": _reencode(tip, nonce=flip(tip.nonce, 0)), "error": "decryption_failed"},
        {"description": "the header's created time changed", "stage": "open",
         "open_with": alice_sk, "envelope": _reencode(tip, {"created": NOW + 1}),
         "error": "decryption_failed"},
        {"description": "a key not among the recipients", "stage": "open", "open_with": bob_sk,
         "envelope": tip.encode().decode(), "error": "not_a_recipient"},
        {"description": "envelope version 2", "stage": "parse",
         "envelope": _reencode(tip, v=2), "error": "unsupported_version"},
        {"description": "header version 2", "stage": "parse",
         "envelope": _reencode(tip, {"v": 2}), "error": "unsupported_version"},
        {"description": "header bytes not canonical (a space)", "stage": "parse",
         "envelope": _reencode(tip, header=b64(tip.header_bytes.replace(b":", b": ", 1))),
         "error": "malformed"},
        {"description": "recipients not sorted by key id", "stage": "parse",
         "envelope": json.dumps(dict(tip.to_json(), header=b64(canonical_json(swapped)))),
         "error": "malformed"},
        {"description": "an unknown field", "stage": "parse",
         "envelope": _reencode(tip, extra="x"), "error": "malformed"},
        {"description": "ciphertext length not a bucket", "stage": "parse",
         "envelope": _reencode(tip, ciphertext=b64(tip.ciphertext[:-1])), "error": "malformed"},
        {"description": "signature stripped from a follow-up", "stage": "parse",
         "envelope": json.dumps(no_signature), "error": "malformed"},
        {"description": "a signature on a reporter's tip", "stage": "parse",
         "envelope": _reencode(tip, signature=fu["signature"]), "error": "malformed"},
        {"description": "a signature bit flipped", "stage": "verify",
         "verify_with": b64(alice.sig.public),
         "envelope": json.dumps(dict(fu, signature=flip(followup.signature or b"", 3))),
         "error": "bad_signature"},
        {"description": "verified against another investigator's key", "stage": "verify",
         "verify_with": b64(bob.sig.public), "envelope": followup.encode().decode(),
         "error": "bad_signature"},
    ]  # fmt: skip


def _directory() -> directory_mod.Directory:
    org = org_key()
    alice, bob, carol, recovery = (
        investigator("alice"),
        investigator("bob"),
        investigator("carol"),
        _recovery(),
    )
    d = directory_mod.Directory.empty(org.public)
    plan = [
        ("alice", "Alice de Vries", ["investigator", "triage"], alice, NOW + 365 * DAY),
        ("bob", "Bob Jansen", ["investigator", "liaison"], bob, NOW + 30 * DAY),
        ("recovery", "Recovery key", ["recovery"], recovery, NOW + 3650 * DAY),
        ("carol", "Carol Bakker", ["admin"], carol, NOW + 365 * DAY),
    ]
    for investigator_id, name, roles, keys, not_after in plan:
        entry = d.add_entry(
            investigator_id=investigator_id,
            name=name,
            roles=roles,
            enc_pk=keys.enc.public,
            sig_pk=keys.sig.public,
            not_after=not_after,
        )
        d = d.extend(directory_mod.sign_entry(org, entry))
    d = d.extend(directory_mod.sign_entry(org, d.revoke_entry("carol", now=NOW + DAY)))
    entry = d.add_entry(
        investigator_id="alice",
        name="Alice de Vries",
        roles=["investigator"],
        enc_pk=alice.enc.public,
        sig_pk=alice.sig.public,
        not_after=NOW + 365 * DAY,
    )
    return d.extend(directory_mod.sign_entry(org, entry))


def directory_vectors() -> dict[str, Any]:
    org = org_key()
    d = _directory()
    wire = d.to_json()

    def vetted(now: int) -> dict[str, Any]:
        vs = d.vetted(now)
        return {
            "now": now,
            "members": [
                {"investigator_id": m.investigator_id, "roles": sorted(m.roles)} for m in vs.members
            ],
            "new_tip_recipient_kids": sorted(b64(key_id(pk)) for pk in vs.new_tip_recipients()),
        }

    def tampered(description: str, seq: int, change: Any) -> dict[str, Any]:
        copy = json.loads(json.dumps(wire))
        change(copy)
        return {"description": description, "directory": copy, "error": "bad_directory", "seq": seq}

    other = Ed25519KeyPair.generate(VectorRandom("not-the-org"))
    entries = [s.entry for s in d.entries]

    def resign(copy: dict[str, Any], index: int, key: Ed25519KeyPair, **fields: Any) -> None:
        entry = json.loads(directory_mod.DirectoryEntry.encode(entries[index]))
        entry.update(fields)
        data = canonical_json(entry)
        copy["entries"][index] = {"entry": b64(data), "signature": b64(key.sign(data))}

    def swap(copy: dict[str, Any]) -> None:
        copy["entries"][1], copy["entries"][2] = copy["entries"][2], copy["entries"][1]

    refused = [
        tampered("entry 3 signed by another key", 3, lambda c: resign(c, 2, other)),
        tampered("entry 2 with a wrong prev", 2, lambda c: resign(c, 1, org, prev=b64(bytes(32)))),
        tampered("entries 2 and 3 swapped", 2, swap),
        tampered("entry 4 re-signed with a longer not_after", 5,
                 lambda c: resign(c, 3, org, not_after=NOW + 9999 * DAY)),
        tampered("entry 1 with version 2", 1, lambda c: resign(c, 0, org, v=2)),
        tampered("the last entry dropped but the head kept", 5, lambda c: c["entries"].pop()),
    ]  # fmt: skip
    return {
        "genesis_prev": b64(directory_mod.GENESIS_PREV),
        "org_seed": b64(org.seed),
        "org_pk": b64(org.public),
        "org_fingerprint": fingerprint(org.public),
        "directory": wire,
        "entries": [s.entry_bytes.decode() for s in d.entries],
        "entry_hashes": [b64(directory_mod.entry_hash(s.entry_bytes)) for s in d.entries],
        "head": b64(d.head),
        "vetted": [vetted(NOW), vetted(NOW + 31 * DAY), vetted(NOW + 366 * DAY)],
        "refused": refused,
    }


def keybundle_vectors() -> dict[str, Any]:
    passphrase = "correct horse battery staple \u2013 Zoë"
    source = VectorRandom("keybundle")
    salt = source(16)
    login = keybundle.derive_login_keys(passphrase, salt, V1_PARAMS)
    alice = investigator("alice")
    org = org_key()
    bundle = keybundle.seal_investigator_keys(
        alice, login, salt=salt, kdf=V1_PARAMS, random_bytes=source
    )
    org_bundle = keybundle.seal_organisation_key(
        org, login, salt=salt, kdf=V1_PARAMS, random_bytes=source
    )
    pepper = VectorRandom("server-pepper")(32)
    return {
        "login": [
            {
                "passphrase": passphrase,
                "passphrase_nfd": unicodedata.normalize("NFD", passphrase),
                "password_bytes": b64(keybundle.normalise_passphrase(passphrase)),
                "salt": b64(salt),
                "kdf": V1_PARAMS.to_json(),
                "auth_key": b64(login.auth_key),
                "wrap_key": b64(login.wrap_key),
            }
        ],
        "bundles": [
            {
                "bundle": bundle.to_json(),
                "associated_data": canonical_json(
                    {"v": 1, "kind": "investigator", "kdf": V1_PARAMS.to_json(), "salt": b64(salt)}
                ).decode(),
                "wrap_key": b64(login.wrap_key),
                "enc_sk": b64(alice.enc.secret),
                "enc_pk": b64(alice.enc.public),
                "sig_seed": b64(alice.sig.seed),
                "sig_pk": b64(alice.sig.public),
            },
            {
                "bundle": org_bundle.to_json(),
                "wrap_key": b64(login.wrap_key),
                "sig_seed": b64(org.seed),
                "sig_pk": b64(org.public),
            },
        ],
        "server": {
            "pepper": b64(pepper),
            "auth_key_hash": b64(keybundle.auth_key_hash(login.auth_key, pepper)),
            "fake_salt_for": "nobody@example.org",
            "fake_salt": b64(keybundle.fake_prelogin_salt("nobody@example.org", pepper)),
        },
    }


def stream_vectors() -> dict[str, Any]:
    key = VectorRandom("stream/key")(32)
    cases = []
    for length in [1000, 65_636]:
        content = stream_pattern(length)
        ciphertext = b"".join(stream.encrypt_stream(key, [content], length))
        cases.append(
            {
                "content_length": length,
                "content_sha256": b64(hashlib.sha256(content).digest()),
                "padded_length": stream.padded_length(length),
                "ciphertext": b64(ciphertext),
            }
        )
    return {
        "chunk_bytes": stream.CHUNK_BYTES,
        "header_bytes": stream.HEADER_BYTES,
        "record_overhead_bytes": stream.OVERHEAD_BYTES,
        "content_pattern": "byte i is i mod 251",
        "key": b64(key),
        "lengths": [
            {
                "content_length": n,
                "padded_length": stream.padded_length(n),
                "ciphertext_length": stream.ciphertext_length(n),
            }
            for n in [0, 1, 65_528, 65_529, 65_536, 1_000_000, 104_857_600]
        ],
        "cases": cases,
        "refused": [
            {"case": 1, "transform": "drop_last_record", "reason": "truncated"},
            {"case": 1, "transform": "drop_last_byte", "reason": "truncated"},
            {"case": 1, "transform": "swap_records", "reason": "tampered"},
            {"case": 1, "transform": "append_byte", "reason": "extra_data"},
            {"case": 0, "transform": "flip_last_byte", "reason": "tampered"},
            {"case": 0, "transform": "header_only", "reason": "truncated"},
        ],
    }


def pow_vectors() -> dict[str, Any]:
    key = VectorRandom("pow/key")(32)
    challenge = pow.issue_challenge(
        key, purpose="submit", difficulty=12, now=NOW, random_bytes=VectorRandom("pow/id")
    )
    solution = pow.solve(challenge)
    return {
        "key": b64(key),
        "now": NOW,
        "challenge": challenge.to_json(),
        "challenge_json": challenge.challenge_bytes.decode(),
        "solution": solution.to_json(),
        "work_hash": b64(pow.work_hash(challenge.challenge_bytes, solution.nonce)),
        "refused": [
            {"now": challenge.expires, "purpose": "submit", "reason": "expired"},
            {"now": NOW, "purpose": "lookup", "reason": "wrong_purpose"},
            {"now": NOW, "purpose": "submit", "min_difficulty": 13, "reason": "too_easy"},
        ],
    }


def build_vectors() -> dict[str, Any]:
    return {
        "protocol": "tipline/v1",
        "generated_by": "tests/vectors/make_vectors.py",
        "notes": (
            "Binary values are unpadded base64url. Values libsodium randomises internally "
            "(crypto_box_seal, secretstream headers) are known answers for the opening side."
        ),
        "encoding": encoding_vectors(),
        "hashing": hashing_vectors(),
        "pickup": pickup_vectors(),
        "padding": padding_vectors(),
        "aead": aead_vectors(),
        "signatures": signature_vectors(),
        "envelopes": envelope_vectors(),
        "directory": directory_vectors(),
        "keybundle": keybundle_vectors(),
        "stream": stream_vectors(),
        "pow": pow_vectors(),
    }


def mask_random(vectors: dict[str, Any]) -> dict[str, Any]:
    """A copy with every libsodium-randomised value replaced by RANDOM_MARK."""
    masked: dict[str, Any] = json.loads(json.dumps(vectors))
    for case in masked["envelopes"]["cases"]:
        case["envelope"] = case["header"] = RANDOM_MARK
    for refusal in masked["envelopes"]["refused"]:
        refusal["envelope"] = RANDOM_MARK
    for case in masked["stream"]["cases"]:
        case["ciphertext"] = RANDOM_MARK
    return masked


def render(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    fresh = build_vectors()
    if VECTOR_FILE.exists():
        current = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))
        # Same deterministic content: keep the committed known answers instead of churning them.
        if mask_random(current) == mask_random(fresh):
            print(f"{VECTOR_FILE} is up to date")
            return 0
    VECTOR_FILE.write_text(render(fresh), encoding="utf-8")
    print(f"wrote {VECTOR_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
