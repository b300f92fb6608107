"""Passphrase keys: auth_key for the server, wrap_key for the bundle, and no downgrade."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.crypto.encoding import b64encode
from gateway.crypto.errors import (
    DecryptionFailed,
    Malformed,
    UnsupportedVersion,
    WeakKdfParameters,
)
from gateway.crypto.kdf import V1_PARAMS, KdfParams
from gateway.crypto.keybundle import (
    KeyBundle,
    LoginKeys,
    auth_key_hash,
    auth_key_matches,
    derive_login_keys,
    fake_prelogin_salt,
    new_salt,
    open_investigator_keys,
    open_organisation_key,
    parse_key_bundle,
    seal_investigator_keys,
    seal_organisation_key,
)
from gateway.crypto.keys import Ed25519KeyPair, InvestigatorKeys

# Cheap Argon2id for tests about something other than the parameters (vectors use the real ones).
CHEAP = KdfParams(opslimit=1, memlimit=8192)
SALT = bytes(range(16))
PEPPER = b"p" * 32


PASSPHRASE = "lange zin met spaties"


def login(passphrase: str = PASSPHRASE, salt: bytes = SALT) -> LoginKeys:
    return derive_login_keys(passphrase, salt, CHEAP, floor=CHEAP)


def bundle_of(keys: InvestigatorKeys, keys_login: LoginKeys) -> KeyBundle:
    return seal_investigator_keys(keys, keys_login, salt=SALT, kdf=CHEAP)


def test_the_passphrase_gives_two_independent_halves() -> None:
    keys = login()
    assert len(keys.auth_key) == len(keys.wrap_key) == 32
    assert keys.auth_key != keys.wrap_key
    assert keys == login()


def test_salt_and_passphrase_each_change_both_halves() -> None:
    base = login()
    for other in (login(salt=bytes(16)), login(PASSPHRASE + "!")):
        assert other.auth_key != base.auth_key
        assert other.wrap_key != base.wrap_key


def test_the_same_passphrase_typed_on_another_system_gives_the_same_keys() -> None:
    composed = "Zoë café"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert login(composed) == login(decomposed)


def test_parameters_below_the_v1_floor_are_refused_before_any_work() -> None:
    with pytest.raises(WeakKdfParameters) as refusal:
        derive_login_keys("x", SALT, KdfParams(opslimit=3, memlimit=32 * 1024 * 1024))
    assert refusal.value.code == "weak_kdf_parameters"
    with pytest.raises(WeakKdfParameters):
        derive_login_keys("x", SALT, KdfParams(opslimit=2, memlimit=64 * 1024 * 1024))


def test_the_v1_parameters_are_three_passes_over_64_mib() -> None:
    assert KdfParams(opslimit=3, memlimit=64 * 1024 * 1024) == V1_PARAMS
    assert V1_PARAMS.to_json() == {"alg": "argon2id13", "opslimit": 3, "memlimit": 67108864}


@pytest.mark.parametrize(
    "value",
    [
        {"alg": "argon2i13", "opslimit": 3, "memlimit": 67108864},
        {"alg": "argon2id13", "opslimit": 0, "memlimit": 67108864},
        {"alg": "argon2id13", "opslimit": 3, "memlimit": 2**40},
        {"alg": "argon2id13", "opslimit": 3, "memlimit": 67108865},
        {"alg": "argon2id13", "opslimit": 3},
    ],
    ids=["argon2i", "zero passes", "memory bomb", "not whole KiB", "missing memlimit"],
)
def test_kdf_parameters_from_a_peer_are_checked(value: dict[str, Any]) -> None:
    with pytest.raises(Malformed):
        KdfParams.from_json(value)  # type: ignore[arg-type]


def test_an_empty_passphrase_is_refused() -> None:
    with pytest.raises(Malformed):
        login("")


@settings(max_examples=10, deadline=None)
@given(st.text(min_size=1, max_size=40), st.binary(min_size=16, max_size=16))
def test_a_key_bundle_opens_to_the_same_keys_with_the_same_passphrase(
    passphrase: str, salt: bytes
) -> None:
    keys = InvestigatorKeys.generate()
    wrapping = login(passphrase, salt)
    bundle = seal_investigator_keys(keys, wrapping, salt=salt, kdf=CHEAP)
    parsed = parse_key_bundle(bundle.encode(), floor=CHEAP)
    assert parsed == bundle
    assert open_investigator_keys(parsed, login(passphrase, parsed.salt)) == keys


def test_a_wrong_passphrase_does_not_open_the_bundle() -> None:
    bundle = bundle_of(InvestigatorKeys.generate(), login())
    with pytest.raises(DecryptionFailed):
        open_investigator_keys(bundle, login("wrong passphrase"))


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "recovery"},
        {"kdf": {"alg": "argon2id13", "opslimit": 2, "memlimit": 8192}},
        {"salt": b64encode(bytes(16))},
        {"nonce": b64encode(bytes(24))},
    ],
    ids=["kind", "kdf parameters", "salt", "nonce"],
)
def test_the_bundle_authenticates_its_kind_and_kdf_parameters(change: dict[str, Any]) -> None:
    keys_login = login()
    wire = bundle_of(InvestigatorKeys.generate(), keys_login).to_json()
    wire.update(change)
    bundle = parse_key_bundle(json.dumps(wire), floor=CHEAP)
    with pytest.raises(DecryptionFailed):
        open_investigator_keys(bundle, keys_login)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"v": 2}, UnsupportedVersion),
        ({"kind": "wallet"}, Malformed),
        ({"extra": 1}, Malformed),
        ({"ciphertext": b64encode(bytes(79))}, Malformed),
        ({"salt": b64encode(bytes(15))}, Malformed),
        ({"kdf": {"alg": "argon2id13", "opslimit": 1, "memlimit": 8192}}, WeakKdfParameters),
    ],
    ids=["version 2", "unknown kind", "unknown field", "short ciphertext", "short salt", "weak"],
)
def test_parsing_a_bundle_is_strict(change: dict[str, Any], error: type[Exception]) -> None:
    wire = seal_investigator_keys(
        InvestigatorKeys.generate(), login(), salt=SALT, kdf=V1_PARAMS
    ).to_json()
    wire.update(change)
    with pytest.raises(error):
        parse_key_bundle(wire)


def test_the_organisation_key_file_uses_the_same_format() -> None:
    org, keys_login = Ed25519KeyPair.generate(), login()
    bundle = seal_organisation_key(org, keys_login, salt=SALT, kdf=CHEAP)
    assert bundle.kind == "organisation"
    assert open_organisation_key(parse_key_bundle(bundle.encode(), floor=CHEAP), keys_login) == org
    with pytest.raises(Malformed, match="does not hold investigator keys"):
        open_investigator_keys(bundle, keys_login)
    with pytest.raises(Malformed, match="does not hold an organisation key"):
        open_organisation_key(bundle_of(InvestigatorKeys.generate(), keys_login), keys_login)


def test_the_server_stores_a_peppered_hash_and_compares_it_in_constant_time() -> None:
    auth_key = login().auth_key
    stored = auth_key_hash(auth_key, PEPPER)
    assert auth_key not in stored
    assert auth_key_matches(auth_key, stored, PEPPER)
    assert not auth_key_matches(login("other").auth_key, stored, PEPPER)
    assert not auth_key_matches(auth_key, stored, b"q" * 32)
    assert not auth_key_matches(auth_key[:31], stored, PEPPER)
    with pytest.raises(ValueError, match="pepper"):
        auth_key_hash(auth_key, b"short")


def test_an_unknown_user_gets_a_stable_salt_that_looks_like_any_other() -> None:
    salt = fake_prelogin_salt("nobody", PEPPER)
    assert len(salt) == 16 == len(new_salt())
    assert fake_prelogin_salt("nobody", PEPPER) == salt
    assert fake_prelogin_salt("somebody", PEPPER) != salt
    assert fake_prelogin_salt("nobody", b"q" * 32) != salt


def test_login_keys_never_appear_in_repr() -> None:
    keys = login()
    assert repr(keys.auth_key) not in repr(keys)
    assert repr(keys.wrap_key) not in repr(keys)
