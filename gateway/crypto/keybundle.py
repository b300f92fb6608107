"""Passphrase-protected secret keys: login keys, key bundles and the server's auth hash.

`Argon2id(passphrase, salt)` gives 64 bytes: `auth_key` (sent at login; the server keeps only a
keyed hash of it) and `wrap_key` (never sent; it decrypts the key bundle). The same bundle
format holds the offline organisation and recovery keys.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import nacl.bindings
import nacl.exceptions

from gateway.crypto.encoding import (
    JsonObject,
    JsonValue,
    b64encode,
    canonical_json,
    parse_json,
)
from gateway.crypto.errors import DecryptionFailed, Malformed
from gateway.crypto.hashing import blake2b, equal
from gateway.crypto.kdf import SALT_BYTES, V1_PARAMS, KdfParams, argon2id
from gateway.crypto.keys import Ed25519KeyPair, InvestigatorKeys, X25519KeyPair
from gateway.crypto.randomness import RandomBytes, system_random
from gateway.crypto.shape import read_bytes, read_object, read_str, read_version

VERSION = 1
LOGIN_KEY_BYTES = 32
NONCE_BYTES = 24
PEPPER_BYTES = 32
MAX_BUNDLE_BYTES = 4096

# The floor for any passphrase KDF parameters a peer offers (prelogin, bundle): v1's parameters.
LOGIN_KDF_FLOOR = V1_PARAMS

INVESTIGATOR = "investigator"
ORGANISATION = "organisation"
RECOVERY = "recovery"
# Secret bytes per bundle kind: X25519 secret || Ed25519 seed, or the seed alone.
_SECRET_BYTES = {INVESTIGATOR: 64, RECOVERY: 64, ORGANISATION: 32}

# BLAKE2b personalisation keeps the server's keyed hashes apart even under one pepper.
_AUTH_HASH_PERSON = b"tipline/v1/auth"
_FAKE_SALT_PERSON = b"tipline/v1/salt"


@dataclass(frozen=True, slots=True)
class LoginKeys:
    auth_key: bytes = field(repr=False)
    wrap_key: bytes = field(repr=False)


def normalise_passphrase(passphrase: str) -> bytes:
    """UTF-8 of the NFC form, so the same typed passphrase gives the same bytes on every OS."""
    if not passphrase:
        raise Malformed("the passphrase is empty")
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def derive_login_keys(
    passphrase: str,
    salt: bytes,
    params: KdfParams,
    *,
    floor: KdfParams = LOGIN_KDF_FLOOR,
) -> LoginKeys:
    """Argon2id(passphrase, salt, 64 bytes) split into auth_key and wrap_key.

    Parameters below `floor` are refused: a server offering cheap ones at prelogin would get an
    auth_key it could brute-force. Only tests about other things lower the floor.
    """
    params.at_least(floor)
    seed = argon2id(normalise_passphrase(passphrase), salt, params, size=2 * LOGIN_KEY_BYTES)
    return LoginKeys(auth_key=seed[:LOGIN_KEY_BYTES], wrap_key=seed[LOGIN_KEY_BYTES:])


def new_salt(random_bytes: RandomBytes = system_random) -> bytes:
    return random_bytes(SALT_BYTES)


def auth_key_hash(auth_key: bytes, pepper: bytes) -> bytes:
    """What the server stores for a login: keyed BLAKE2b-256 of the auth_key.

    A fast hash suffices because the auth_key already costs an Argon2id run per passphrase guess;
    the pepper makes a stolen database alone useless for checking guesses.
    """
    _check_pepper(pepper)
    if len(auth_key) != LOGIN_KEY_BYTES:
        raise Malformed(f"an auth key is {LOGIN_KEY_BYTES} bytes")
    return blake2b(auth_key, size=32, key=pepper, person=_AUTH_HASH_PERSON)


def auth_key_matches(auth_key: bytes, stored_hash: bytes, pepper: bytes) -> bool:
    """Constant-time comparison of a presented auth_key with the stored hash."""
    if len(auth_key) != LOGIN_KEY_BYTES:
        return False
    return equal(auth_key_hash(auth_key, pepper), stored_hash)


def fake_prelogin_salt(username: str, pepper: bytes) -> bytes:
    """A stable salt for an unknown username, so prelogin does not reveal who has an account."""
    _check_pepper(pepper)
    return blake2b(username.encode("utf-8"), size=SALT_BYTES, key=pepper, person=_FAKE_SALT_PERSON)


def _check_pepper(pepper: bytes) -> None:
    if len(pepper) != PEPPER_BYTES:
        raise ValueError(f"a server pepper is {PEPPER_BYTES} bytes")


@dataclass(frozen=True, slots=True)
class KeyBundle:
    """Secret keys encrypted under a passphrase's wrap_key, with what it takes to re-derive it.

    Wire form: {v, kind, kdf: {alg, opslimit, memlimit}, salt, nonce, ciphertext}. The
    ciphertext is XChaCha20-Poly1305 whose associated data is the canonical JSON of
    {v, kind, kdf, salt}, so the kind and KDF parameters cannot be swapped unnoticed.
    """

    kind: str
    kdf: KdfParams
    salt: bytes
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)

    def to_json(self) -> JsonObject:
        return {
            "v": VERSION,
            "kind": self.kind,
            "kdf": self.kdf.to_json(),
            "salt": b64encode(self.salt),
            "nonce": b64encode(self.nonce),
            "ciphertext": b64encode(self.ciphertext),
        }

    def encode(self) -> bytes:
        return canonical_json(self.to_json())

    def open_secret(self, wrap_key: bytes) -> bytes:
        try:
            secret = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                self.ciphertext,
                _associated_data(self.kind, self.kdf, self.salt),
                self.nonce,
                wrap_key,
            )
        except nacl.exceptions.CryptoError as exc:
            raise DecryptionFailed("the passphrase does not open this key bundle") from exc
        if len(secret) != _SECRET_BYTES[self.kind]:
            raise Malformed("the key bundle holds the wrong number of bytes")
        return secret


def seal_secret(
    kind: str,
    secret: bytes,
    *,
    wrap_key: bytes,
    salt: bytes,
    kdf: KdfParams,
    random_bytes: RandomBytes = system_random,
) -> KeyBundle:
    if len(secret) != _SECRET_BYTES.get(kind, -1):
        raise Malformed("wrong secret length for this kind of key bundle")
    nonce = random_bytes(NONCE_BYTES)
    ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        secret, _associated_data(kind, kdf, salt), nonce, wrap_key
    )
    return KeyBundle(kind=kind, kdf=kdf, salt=salt, nonce=nonce, ciphertext=ciphertext)


def _associated_data(kind: str, kdf: KdfParams, salt: bytes) -> bytes:
    return canonical_json(
        {"v": VERSION, "kind": kind, "kdf": kdf.to_json(), "salt": b64encode(salt)}
    )


def seal_investigator_keys(
    keys: InvestigatorKeys,
    login: LoginKeys,
    *,
    salt: bytes,
    kdf: KdfParams,
    kind: str = INVESTIGATOR,
    random_bytes: RandomBytes = system_random,
) -> KeyBundle:
    """Bundle an investigator's (or the recovery key's) two secret keys under the wrap_key."""
    if kind not in {INVESTIGATOR, RECOVERY}:
        raise ValueError("investigator keys go in an investigator or recovery bundle")
    return seal_secret(
        kind,
        keys.enc.secret + keys.sig.seed,
        wrap_key=login.wrap_key,
        salt=salt,
        kdf=kdf,
        random_bytes=random_bytes,
    )


def open_investigator_keys(bundle: KeyBundle, login: LoginKeys) -> InvestigatorKeys:
    if bundle.kind not in {INVESTIGATOR, RECOVERY}:
        raise Malformed("this bundle does not hold investigator keys")
    secret = bundle.open_secret(login.wrap_key)
    return InvestigatorKeys(
        enc=X25519KeyPair.from_secret(secret[:32]), sig=Ed25519KeyPair.from_seed(secret[32:])
    )


def seal_organisation_key(
    org_key: Ed25519KeyPair,
    login: LoginKeys,
    *,
    salt: bytes,
    kdf: KdfParams,
    random_bytes: RandomBytes = system_random,
) -> KeyBundle:
    """The offline organisation key file's content."""
    return seal_secret(
        ORGANISATION,
        org_key.seed,
        wrap_key=login.wrap_key,
        salt=salt,
        kdf=kdf,
        random_bytes=random_bytes,
    )


def open_organisation_key(bundle: KeyBundle, login: LoginKeys) -> Ed25519KeyPair:
    if bundle.kind != ORGANISATION:
        raise Malformed("this bundle does not hold an organisation key")
    return Ed25519KeyPair.from_seed(bundle.open_secret(login.wrap_key))


def parse_key_bundle(
    data: bytes | str | JsonValue, *, floor: KdfParams = LOGIN_KDF_FLOOR
) -> KeyBundle:
    """Parse a bundle strictly, refusing KDF parameters below `floor`."""
    what = "key bundle"
    value = (
        parse_json(data, max_bytes=MAX_BUNDLE_BYTES, what=what)
        if isinstance(data, bytes | str)
        else data
    )
    obj = read_object(
        value, what=what, required={"v", "kind", "kdf", "salt", "nonce", "ciphertext"}
    )
    read_version(obj, what=what, supported=VERSION)
    kind = read_str(obj, "kind", what=what, max_length=16, allowed=set(_SECRET_BYTES))
    return KeyBundle(
        kind=kind,
        kdf=KdfParams.from_json(obj["kdf"], what=f"{what}.kdf").at_least(floor),
        salt=read_bytes(obj, "salt", what=what, length=SALT_BYTES),
        nonce=read_bytes(obj, "nonce", what=what, length=NONCE_BYTES),
        ciphertext=read_bytes(obj, "ciphertext", what=what, length=_SECRET_BYTES[kind] + 16),
    )
