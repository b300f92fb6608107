"""The TOTP second factor on the server: secrets sealed at rest, codes checked with constant
work, and each (account, time step) accepted once.
"""

from __future__ import annotations

import uuid
from typing import Final
from uuid import UUID

from gateway.broker import Broker
from gateway.crypto import totp
from gateway.crypto.errors import DecryptionFailed
from gateway.crypto.sealing import open_at_rest, seal_at_rest
from gateway.domain.clock import Clock
from gateway.domain.keys import derive_subkey

_PURPOSE: Final = b"totp-secret"
_SPENT_PREFIX: Final = "totp:spent:"
# A code is valid for its step and one either side: remember it until it cannot match again.
_SPENT_TTL_SECONDS: Final = (2 * totp.DRIFT_STEPS + 2) * totp.STEP_SECONDS


class SecondFactor:
    def __init__(self, broker: Broker, *, pepper: bytes, clock: Clock) -> None:
        self._broker = broker
        self._clock = clock
        # A subkey of its own: the TOTP sealing key reveals nothing about the pepper's other uses.
        self._key = derive_subkey(pepper, "totp-secret-sealing")
        # For unknown usernames the same work is done against a throwaway secret.
        self._stand_in_owner = uuid.uuid4()
        self._stand_in = self.seal(self._stand_in_owner, totp.new_secret())

    def seal(self, investigator_id: UUID, secret: bytes) -> bytes:
        """The secret as stored: sealed under the server's subkey, bound to this account."""
        return seal_at_rest(self._key, secret, purpose=_PURPOSE, owner=investigator_id.bytes)

    def matching_step(
        self, investigator_id: UUID | None, sealed: bytes | None, code: str
    ) -> int | None:
        """The step `code` is valid for, or None; the same work with or without an account."""
        if investigator_id is None or sealed is None:
            investigator_id, sealed, real = self._stand_in_owner, self._stand_in, False
        else:
            real = True
        try:
            secret = open_at_rest(self._key, sealed, purpose=_PURPOSE, owner=investigator_id.bytes)
        except DecryptionFailed:
            return None
        step = totp.matching_step(secret, code, self._clock.now().timestamp())
        return step if real else None

    def confirms(self, secret: bytes, code: str) -> int | None:
        """The step a code confirms for a secret not yet stored (enrollment)."""
        return totp.matching_step(secret, code, self._clock.now().timestamp())

    async def spend(self, investigator_id: UUID, step: int) -> bool:
        """True the first time a step is used for this account; a replayed code gets False."""
        return await self._broker.remember_once(
            f"{_SPENT_PREFIX}{investigator_id}:{step}", ttl=_SPENT_TTL_SECONDS
        )
