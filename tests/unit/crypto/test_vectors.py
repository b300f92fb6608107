"""Every vector in tests/vectors/protocol-v1.json holds for gateway.crypto.

The browser implementation checks the same file, so both agree byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

import nacl.bindings
import pytest

from gateway.crypto import directory, envelope, keybundle, padding, pickup, pow, stream
from gateway.crypto.encoding import b64decode, b64encode, canonical_json, parse_json
from gateway.crypto.errors import (
    BadDirectory,
    BadPickupCode,
    BadProofOfWork,
    BadStream,
    CryptoError,
    Malformed,
)
from gateway.crypto.hashing import length_prefixed
from gateway.crypto.kdf import KdfParams
from gateway.crypto.keys import Ed25519KeyPair, X25519KeyPair, fingerprint, key_id
from gateway.crypto.message import MessageContent
from tests.vectors import make_vectors

V: dict[str, Any] = json.loads(make_vectors.VECTOR_FILE.read_text(encoding="utf-8"))


def raw(text: str) -> bytes:
    return b64decode(text, what="vector")


@cache
def regenerated() -> dict[str, Any]:
    return make_vectors.build_vectors()


# ---------------------------------------------------------------- the file itself


def test_regenerating_the_vectors_reproduces_every_deterministic_value() -> None:
    assert make_vectors.mask_random(regenerated()) == make_vectors.mask_random(V)


def test_the_vector_file_is_exactly_what_the_script_renders() -> None:
    # Guards against hand edits: the committed file must be the script's own output.
    assert make_vectors.render(V) == make_vectors.VECTOR_FILE.read_text(encoding="utf-8")


# ---------------------------------------------------------------- encoding and hashing


def test_base64url_vectors_round_trip() -> None:
    for case in V["encoding"]["base64url"]:
        assert b64encode(bytes.fromhex(case["hex"])) == case["text"]
        assert raw(case["text"]) == bytes.fromhex(case["hex"])


@pytest.mark.parametrize("text", V["encoding"]["base64url_refused"])
def test_base64url_vectors_are_refused(text: str) -> None:
    with pytest.raises(Malformed):
        b64decode(text, what="vector")


def test_canonical_json_vectors_match_byte_for_byte() -> None:
    for case in V["encoding"]["canonical_json"]:
        assert canonical_json(case["value"]) == case["canonical"].encode("utf-8")


@pytest.mark.parametrize("text", V["encoding"]["json_refused"])
def test_strict_json_vectors_are_refused(text: str) -> None:
    with pytest.raises(Malformed):
        parse_json(text.encode(), max_bytes=1024, what="vector")


def test_key_id_fingerprint_and_length_prefix_vectors() -> None:
    for case in V["hashing"]["key_id"]:
        assert b64encode(key_id(raw(case["public_key"]))) == case["kid"]
    for case in V["hashing"]["fingerprint"]:
        assert fingerprint(raw(case["public_key"])) == case["fingerprint"]
    for case in V["hashing"]["length_prefixed"]:
        parts = [raw(part) for part in case["parts"]]
        assert b64encode(length_prefixed(*parts)) == case["encoded"]


# ---------------------------------------------------------------- pickup codes


def test_pickup_code_generation_vectors() -> None:
    for case in V["pickup"]["generation"]:
        data = raw(case["random_bytes"])
        batches = [data[i : i + 32] for i in range(0, len(data), 32)]
        code = pickup.PickupCode.generate(lambda size, batches=batches: batches.pop(0)[:size])
        assert code.display() == case["code"]


def test_damm_check_digit_vectors() -> None:
    for case in V["pickup"]["damm"]:
        assert pickup.damm_check_digit(case["digits"]) == case["check"]


def test_pickup_code_normalisation_vectors() -> None:
    for case in V["pickup"]["normalisation"]:
        assert pickup.PickupCode.parse(case["input"]).normalised == case["normalised"]


def test_pickup_code_refusal_vectors() -> None:
    for case in V["pickup"]["refused"]:
        with pytest.raises(BadPickupCode) as refusal:
            pickup.PickupCode.parse(case["input"])
        assert refusal.value.reason == case["reason"]


def test_pickup_derivation_vectors_on_the_real_v1_parameters() -> None:
    assert V["pickup"]["kdf"] == {"opslimit": 3, "memlimit": 64 * 1024 * 1024}
    for case in V["pickup"]["derivation"]:
        code = pickup.PickupCode.parse(case["code"])
        org_pk = raw(case["org_pk"])
        assert code.normalised == case["password"]
        assert pickup.pickup_salt(org_pk) == raw(case["salt"])
        keys = pickup.derive_reporter_keys(code, org_pk)
        seed = raw(case["seed"])
        assert keys.locator.value == seed[:32] == raw(case["locator"])
        assert keys.enc.secret == seed[32:] == raw(case["reporter_sk"])
        assert keys.enc.public == raw(case["reporter_pk"])
        assert keys.enc.kid == raw(case["reporter_kid"])


def test_locator_lookup_key_vectors() -> None:
    for case in V["pickup"]["locator_lookup"]:
        locator = pickup.Locator.decode(case["locator"])
        assert pickup.locator_lookup_key(locator, raw(case["pepper"])) == raw(case["lookup_key"])


# ---------------------------------------------------------------- padding and primitives


def test_padding_vectors() -> None:
    vectors = V["padding"]
    assert tuple(vectors["envelope_buckets"]) == padding.ENVELOPE_BUCKETS
    for case in vectors["envelope_bucket_of_plaintext_length"]:
        assert padding.envelope_bucket(case["length"]) == case["bucket"]
    example = vectors["padded_example"]
    assert padding.pad(raw(example["plaintext"])) == raw(example["padded"])
    assert padding.unpad(raw(example["padded"])) == raw(example["plaintext"])
    for case in vectors["padme"]:
        assert padding.padme(case["length"]) == case["padded"]


def test_xchacha20poly1305_known_answer() -> None:
    for case in V["aead"]["xchacha20poly1305_ietf"]:
        ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
            raw(case["plaintext"]), raw(case["ad"]), raw(case["nonce"]), raw(case["key"])
        )
        assert ciphertext == raw(case["ciphertext"])


def test_envelope_signature_and_key_commitment_vectors() -> None:
    for case in V["signatures"]["envelope_signature"]:
        digest = envelope.signature_digest(
            raw(case["header"]), raw(case["nonce"]), raw(case["ciphertext"])
        )
        assert digest == raw(case["digest"])
        signer = Ed25519KeyPair.from_seed(raw(case["signer_seed"]))
        assert signer.public == raw(case["signer_pk"])
        assert signer.sign(digest) == raw(case["signature"])
    for case in V["signatures"]["key_commitment"]:
        assert envelope.key_commitment(raw(case["message_key"])) == raw(case["commitment"])


# ---------------------------------------------------------------- envelopes


@pytest.mark.parametrize("case", V["envelopes"]["cases"], ids=lambda c: c["description"])
def test_envelope_vectors_open_for_every_listed_recipient(case: dict[str, Any]) -> None:
    parsed = envelope.parse_envelope(case["envelope"].encode())
    assert parsed.header_bytes.decode() == case["header"]
    assert parsed.kind == case["kind"]
    assert sorted(b64encode(kid) for kid in parsed.recipient_kids) == case["recipient_kids"]
    assert len(parsed.ciphertext) == case["ciphertext_length"]
    if case["signer_pk"] is not None:
        envelope.verify_envelope_signature(parsed, raw(case["signer_pk"]))
    for secret in case["open_with"].values():
        content = envelope.open_as(parsed, X25519KeyPair.from_secret(raw(secret)))
        assert content.encode().decode() == case["plaintext"]
        assert content == MessageContent.decode(case["plaintext"].encode())


def _parse_open_or_verify(case: dict[str, Any]) -> None:
    parsed = envelope.parse_envelope(case["envelope"])
    if case["stage"] == "open":
        envelope.open_as(parsed, X25519KeyPair.from_secret(raw(case["open_with"])))
    elif case["stage"] == "verify":
        envelope.verify_envelope_signature(parsed, raw(case["verify_with"]))


@pytest.mark.parametrize("case", V["envelopes"]["refused"], ids=lambda c: c["description"])
def test_envelope_refusal_vectors_fail_with_their_error_code(case: dict[str, Any]) -> None:
    with pytest.raises(CryptoError) as refusal:
        _parse_open_or_verify(case)
    assert refusal.value.code == case["error"]


# ---------------------------------------------------------------- directory


def test_directory_vector_verifies_and_gives_the_listed_vetted_sets() -> None:
    vectors = V["directory"]
    assert raw(vectors["genesis_prev"]) == directory.GENESIS_PREV
    org = Ed25519KeyPair.from_seed(raw(vectors["org_seed"]))
    assert org.public == raw(vectors["org_pk"])
    assert fingerprint(org.public) == vectors["org_fingerprint"]
    d = directory.parse_directory(json.dumps(vectors["directory"]), org_public_key=org.public)
    assert [s.entry_bytes.decode() for s in d.entries] == vectors["entries"]
    assert [b64encode(directory.entry_hash(s.entry_bytes)) for s in d.entries] == vectors[
        "entry_hashes"
    ]
    assert d.head == raw(vectors["head"])
    for expected in vectors["vetted"]:
        vetted = d.vetted(expected["now"])
        assert [
            {"investigator_id": m.investigator_id, "roles": sorted(m.roles)} for m in vetted.members
        ] == expected["members"]
        assert (
            sorted(b64encode(key_id(pk)) for pk in vetted.new_tip_recipients())
            == expected["new_tip_recipient_kids"]
        )


@pytest.mark.parametrize("case", V["directory"]["refused"], ids=lambda c: c["description"])
def test_directory_refusal_vectors_name_the_first_bad_entry(case: dict[str, Any]) -> None:
    org_pk = raw(V["directory"]["org_pk"])
    with pytest.raises(BadDirectory) as refusal:
        directory.parse_directory(json.dumps(case["directory"]), org_public_key=org_pk)
    assert refusal.value.code == case["error"]
    assert refusal.value.seq == case["seq"]


# ---------------------------------------------------------------- key bundles


def test_login_key_vectors_on_the_real_v1_parameters() -> None:
    for case in V["keybundle"]["login"]:
        params = KdfParams.from_json(case["kdf"])
        assert params == KdfParams(opslimit=3, memlimit=64 * 1024 * 1024)
        assert keybundle.normalise_passphrase(case["passphrase_nfd"]) == raw(case["password_bytes"])
        login = keybundle.derive_login_keys(case["passphrase"], raw(case["salt"]), params)
        assert login.auth_key == raw(case["auth_key"])
        assert login.wrap_key == raw(case["wrap_key"])


def test_key_bundle_vectors_open_to_the_listed_keys() -> None:
    investigator_case, org_case = V["keybundle"]["bundles"]
    login = keybundle.LoginKeys(auth_key=b"", wrap_key=raw(investigator_case["wrap_key"]))
    bundle = keybundle.parse_key_bundle(json.dumps(investigator_case["bundle"]))
    keys = keybundle.open_investigator_keys(bundle, login)
    assert keys.enc.secret == raw(investigator_case["enc_sk"])
    assert keys.enc.public == raw(investigator_case["enc_pk"])
    assert keys.sig.seed == raw(investigator_case["sig_seed"])
    assert keys.sig.public == raw(investigator_case["sig_pk"])
    org_bundle = keybundle.parse_key_bundle(org_case["bundle"])
    assert keybundle.open_organisation_key(org_bundle, login).public == raw(org_case["sig_pk"])


def test_server_side_hash_vectors() -> None:
    server = V["keybundle"]["server"]
    pepper = raw(server["pepper"])
    auth_key = raw(V["keybundle"]["login"][0]["auth_key"])
    assert keybundle.auth_key_hash(auth_key, pepper) == raw(server["auth_key_hash"])
    assert keybundle.fake_prelogin_salt(server["fake_salt_for"], pepper) == raw(server["fake_salt"])


# ---------------------------------------------------------------- attachment streams


def test_stream_length_vectors() -> None:
    for case in V["stream"]["lengths"]:
        assert stream.padded_length(case["content_length"]) == case["padded_length"]
        assert stream.ciphertext_length(case["content_length"]) == case["ciphertext_length"]


@pytest.mark.parametrize("case", V["stream"]["cases"], ids=lambda c: str(c["content_length"]))
def test_stream_vectors_decrypt_to_the_pattern(case: dict[str, Any]) -> None:
    ciphertext = raw(case["ciphertext"])
    assert len(ciphertext) == stream.ciphertext_length(case["content_length"])
    content = b"".join(stream.decrypt_stream(raw(V["stream"]["key"]), [ciphertext]))
    assert content == make_vectors.stream_pattern(case["content_length"])
    assert hashlib.sha256(content).digest() == raw(case["content_sha256"])


def _transform(ciphertext: bytes, transform: str) -> bytes:
    header, records = ciphertext[: stream.HEADER_BYTES], ciphertext[stream.HEADER_BYTES :]
    split = [
        records[i : i + stream.RECORD_BYTES] for i in range(0, len(records), stream.RECORD_BYTES)
    ]
    transforms = {
        "drop_last_record": lambda: header + b"".join(split[:-1]),
        "drop_last_byte": lambda: ciphertext[:-1],
        "swap_records": lambda: header + b"".join([split[1], split[0], *split[2:]]),
        "append_byte": lambda: ciphertext + b"\x00",
        "flip_last_byte": lambda: ciphertext[:-1] + bytes([ciphertext[-1] ^ 1]),
        "header_only": lambda: header,
    }
    return transforms[transform]()


@pytest.mark.parametrize("case", V["stream"]["refused"], ids=lambda c: c["transform"])
def test_stream_refusal_vectors(case: dict[str, Any]) -> None:
    source = raw(V["stream"]["cases"][case["case"]]["ciphertext"])
    with pytest.raises(BadStream) as refusal:
        b"".join(
            stream.decrypt_stream(raw(V["stream"]["key"]), [_transform(source, case["transform"])])
        )
    assert refusal.value.reason == case["reason"]


# ---------------------------------------------------------------- proof of work


def test_proof_of_work_vector_verifies() -> None:
    vectors = V["pow"]
    challenge = pow.parse_challenge(vectors["challenge"])
    assert challenge.challenge_bytes.decode() == vectors["challenge_json"]
    solution = vectors["solution"]
    assert pow.work_hash(challenge.challenge_bytes, raw(solution["nonce"])) == raw(
        vectors["work_hash"]
    )
    verified = pow.verify_solution(
        solution, key=raw(vectors["key"]), purpose="submit", now=vectors["now"]
    )
    assert verified.id == challenge.id
    # The first solution counting up from nonce 0 is the one in the file.
    assert pow.solve(challenge).nonce == raw(solution["nonce"])


@pytest.mark.parametrize("case", V["pow"]["refused"], ids=lambda c: c["reason"])
def test_proof_of_work_refusal_vectors(case: dict[str, Any]) -> None:
    with pytest.raises(BadProofOfWork) as refusal:
        pow.verify_solution(
            V["pow"]["solution"],
            key=raw(V["pow"]["key"]),
            purpose=case["purpose"],
            now=case["now"],
            min_difficulty=case.get("min_difficulty", 0),
        )
    assert refusal.value.reason == case["reason"]
