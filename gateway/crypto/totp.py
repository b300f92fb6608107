"""Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps).

The second factor of an investigator's login: the enrolling client makes the secret and shows
it to the authenticator app, the server verifies codes. A code is accepted for the current
step and one step either side (clock drift); which step matched is returned so the caller can
refuse a second use of it (single use through the broker).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from typing import Final

from gateway.crypto.errors import Malformed
from gateway.crypto.randomness import RandomBytes, system_random

STEP_SECONDS: Final = 30
DIGITS: Final = 6
DRIFT_STEPS: Final = 1
# RFC 4226 asks for at least 128 bits and recommends 160: the HMAC-SHA1 block carries 160.
SECRET_BYTES: Final = 20
MIN_SECRET_BYTES: Final = 16
MAX_SECRET_BYTES: Final = 64

_CODE = re.compile(r"[0-9]{6}")


def new_secret(random_bytes: RandomBytes = system_random) -> bytes:
    return random_bytes(SECRET_BYTES)


def step_at(unix_time: float) -> int:
    return int(unix_time // STEP_SECONDS)


def code_for_step(secret: bytes, step: int, *, digits: int = DIGITS) -> str:
    """HOTP (RFC 4226) of the step counter: dynamic truncation of HMAC-SHA1, `digits` long."""
    mac = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def code_at(secret: bytes, unix_time: float) -> str:
    return code_for_step(secret, step_at(unix_time))


def normalise_code(typed: str) -> str | None:
    """The six digits someone typed (spaces allowed, as apps show "123 456"), or None."""
    compact = typed.replace(" ", "")
    return compact if _CODE.fullmatch(compact) else None


def matching_step(secret: bytes, typed: str, unix_time: float) -> int | None:
    """The step (current ±1) whose code equals `typed`, or None.

    Every candidate is computed and compared in constant time, with no early exit, so the
    answer's timing does not say which step (if any) matched.
    """
    code = normalise_code(typed) or "------"
    now = step_at(unix_time)
    found: int | None = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(code_for_step(secret, step).encode(), code.encode()):
            found = step
    return found


def secret_text(secret: bytes) -> str:
    """The secret as authenticator apps take it: base32 without padding."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def parse_secret_text(text: str) -> bytes:
    """Read a base32 secret as typed or pasted (any case, spaces and dashes ignored)."""
    compact = text.replace(" ", "").replace("-", "").upper()
    try:
        secret = base64.b32decode(compact + "=" * (-len(compact) % 8))
    except ValueError:
        raise Malformed("a TOTP secret is base32 text") from None
    if not MIN_SECRET_BYTES <= len(secret) <= MAX_SECRET_BYTES:
        raise Malformed(f"a TOTP secret has {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
    return secret
