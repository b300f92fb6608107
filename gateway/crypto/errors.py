"""The one error hierarchy for everything gateway.crypto refuses.

Every refusal is a `CryptoError` with a stable, machine-readable `code` that the web layer maps to
an HTTP answer; messages never contain secrets (no codes, keys, passphrases or plaintext).
"""

from __future__ import annotations


class CryptoError(Exception):
    """Input that does not parse, verify or decrypt under protocol v1."""

    code: str = "crypto_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Malformed(CryptoError):
    """Bytes or JSON that do not have the exact shape the protocol prescribes."""

    code = "malformed"


class TooLarge(Malformed):
    """Input larger than the protocol allows; refused before any expensive work."""

    code = "too_large"


class UnsupportedVersion(CryptoError):
    """A structure whose `v` this implementation does not speak."""

    code = "unsupported_version"


class BadSignature(CryptoError):
    """An Ed25519 signature that does not verify, or a signer that does not match."""

    code = "bad_signature"


class DecryptionFailed(CryptoError):
    """Ciphertext that does not authenticate under the key at hand (wrong key or tampering)."""

    code = "decryption_failed"


class NotARecipient(DecryptionFailed):
    """An envelope that carries no wrapped message key for the given key pair."""

    code = "not_a_recipient"


class BadStream(DecryptionFailed):
    """An attachment stream that is tampered, truncated, reordered or extended."""

    code = "bad_stream"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class BadPickupCode(CryptoError):
    """A pickup code that cannot be right; `reason` says why, for a precise message to the user.

    Reasons: "empty", "not_a_digit", "too_short", "too_long", "typo".
    """

    code = "bad_pickup_code"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class BadProofOfWork(CryptoError):
    """A proof-of-work token that is forged, expired, for another purpose or insufficient.

    Reasons: "malformed", "forged", "expired", "wrong_purpose", "too_easy", "insufficient_work".
    """

    code = "bad_proof_of_work"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class BadDirectory(CryptoError):
    """A directory chain that does not verify; `seq` names the first entry that is wrong."""

    code = "bad_directory"

    def __init__(self, message: str, *, seq: int) -> None:
        super().__init__(f"directory entry {seq}: {message}")
        self.seq = seq


class WeakKdfParameters(CryptoError):
    """Argon2id parameters below the protocol's floor (a server could offer them to downgrade)."""

    code = "weak_kdf_parameters"
