"""Key ids, fingerprints people compare, and Ed25519 signatures."""

from __future__ import annotations

import pytest

from gateway.crypto.errors import BadSignature, Malformed
from gateway.crypto.hashing import blake2b_128
from gateway.crypto.keys import (
    Ed25519KeyPair,
    InvestigatorKeys,
    X25519KeyPair,
    fingerprint,
    fingerprint_matches,
    key_id,
    parse_fingerprint,
    verify_signature,
)


def test_a_key_id_is_blake2b_128_of_the_public_key() -> None:
    pair = X25519KeyPair.generate()
    assert key_id(pair.public) == blake2b_128(pair.public) == pair.kid
    assert len(pair.kid) == 16


def test_a_fingerprint_is_forty_hex_digits_in_groups_of_four() -> None:
    text = fingerprint(Ed25519KeyPair.generate().public)
    groups = text.split("-")
    assert [len(group) for group in groups] == [4] * 10
    assert all(set(group) <= set("0123456789abcdef") for group in groups)


def test_a_fingerprint_differs_from_the_key_id_and_between_keys() -> None:
    a, b = Ed25519KeyPair.generate().public, Ed25519KeyPair.generate().public
    assert fingerprint(a) != fingerprint(b)
    assert key_id(a).hex() not in fingerprint(a).replace("-", "")


def test_a_typed_fingerprint_matches_whatever_its_case_and_separators() -> None:
    public = Ed25519KeyPair.generate().public
    text = fingerprint(public)
    for spelling in (text, text.upper(), text.replace("-", " "), text.replace("-", ":"),
                     text.replace("-", "")):  # fmt: skip
        assert parse_fingerprint(spelling) == text
        assert fingerprint_matches(public, spelling)
    assert not fingerprint_matches(Ed25519KeyPair.generate().public, text)


@pytest.mark.parametrize("text", ["", "abcd", "g" * 40, "0" * 39, "0" * 41])
def test_a_fingerprint_of_the_wrong_shape_is_refused(text: str) -> None:
    with pytest.raises(Malformed):
        parse_fingerprint(text)


def test_an_x25519_secret_is_used_as_is_and_gives_the_standard_public_key() -> None:
    # RFC 7748 section 6.1, Alice's key pair.
    secret = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    public = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    assert X25519KeyPair.from_secret(secret).public == public


def test_ed25519_signing_matches_rfc_8032() -> None:
    # RFC 8032 section 7.1, test 1 (empty message).
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    pair = Ed25519KeyPair.from_seed(seed)
    assert pair.public.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert pair.sign(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )


def test_a_signature_verifies_only_for_its_key_and_message() -> None:
    pair, other = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    signature = pair.sign(b"message")
    verify_signature(pair.public, b"message", signature)
    with pytest.raises(BadSignature):
        verify_signature(other.public, b"message", signature)
    with pytest.raises(BadSignature):
        verify_signature(pair.public, b"messagE", signature)
    with pytest.raises(BadSignature):
        verify_signature(pair.public, b"message", signature[:-1] + bytes([signature[-1] ^ 1]))
    with pytest.raises(BadSignature):
        verify_signature(pair.public, b"message", signature[:63])


def test_key_pairs_refuse_secrets_of_the_wrong_length() -> None:
    with pytest.raises(Malformed):
        X25519KeyPair.from_secret(bytes(31))
    with pytest.raises(Malformed):
        Ed25519KeyPair.from_seed(bytes(33))
    with pytest.raises(Malformed):
        key_id(bytes(16))


def test_secret_keys_never_appear_in_repr() -> None:
    keys = InvestigatorKeys.generate()
    text = repr(keys)
    assert keys.enc.secret.hex() not in text
    assert repr(keys.enc.secret) not in text
    assert repr(keys.sig.seed) not in text


def test_generation_draws_from_the_injected_source() -> None:
    keys = InvestigatorKeys.generate(lambda size: bytes(range(size)))
    assert keys.enc.secret == bytes(range(32))
    assert keys.sig.seed == bytes(range(32))
