"""Investigator login: prelogin gives the salt to derive the auth key from, login checks the
auth key and a TOTP code and opens a session.

Nothing in the answer or its timing separates an unknown username, a wrong auth key, a wrong
code, a pending or a revoked account: every attempt does the same work and every failure is
one `LoginFailed`. Attempts are throttled per username and for the whole gateway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final, cast

from gateway.crypto.encoding import JsonValue, b64encode
from gateway.crypto.hashing import blake2b
from gateway.crypto.kdf import KdfParams
from gateway.crypto.keybundle import LOGIN_KDF_FLOOR, auth_key_matches, fake_prelogin_salt
from gateway.domain.accounts import normalise_username, vetted_member
from gateway.domain.errors import RateLimited, Unauthenticated
from gateway.domain.hotline import Hotline
from gateway.domain.keys import derive_subkey
from gateway.domain.second_factor import SecondFactor
from gateway.domain.sessions import IssuedSession, SessionBook

logger = logging.getLogger("gateway.domain.login")

# Stands in for a stored auth hash when there is no account, so the comparison still runs.
_NO_ACCOUNT_HASH: Final = bytes(32)


class LoginFailed(Unauthenticated):
    code = "login_failed"
    default_message = "The username, passphrase or code is not right, or the account cannot log in."


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How many attempts are allowed: per username (guessing one account) and overall
    (guessing across many). Successful logins clear the username's count."""

    per_username: int = 10
    per_username_window: float = 15 * 60
    overall: int = 600
    overall_window: float = 60


@dataclass(frozen=True, slots=True)
class Prelogin:
    salt: bytes
    kdf: KdfParams


class LoginDesk:
    def __init__(
        self, hotline: Hotline, sessions: SessionBook, *, policy: LoginPolicy = LoginPolicy()
    ) -> None:
        self._hotline = hotline
        self._sessions = sessions
        self._policy = policy
        self._factor = SecondFactor(hotline.broker, pepper=hotline.pepper, clock=hotline.clock)

    async def prelogin(self, typed_username: str) -> Prelogin:
        """The account's salt and KDF parameters, or a stable fake salt of the same shape."""
        username = normalise_username(typed_username)
        async with self._hotline.database.transaction(read_only=True) as tx:
            account = await tx.investigators.find_by_username(username)
        fake = fake_prelogin_salt(username, self._hotline.pepper)
        if account is None:
            return Prelogin(salt=fake, kdf=LOGIN_KDF_FLOOR)
        return Prelogin(
            salt=account.auth_salt,
            kdf=KdfParams.from_json(cast(JsonValue, dict(account.kdf_params))),
        )

    async def login(self, typed_username: str, auth_key: bytes, code: str) -> IssuedSession:
        username = normalise_username(typed_username)
        await self._throttle(username)
        hotline = self._hotline
        async with hotline.database.transaction(read_only=True) as tx:
            account = await tx.investigators.find_by_username(username)
        # The same steps run whether or not the account exists (see the module docstring).
        key_ok = auth_key_matches(
            auth_key,
            account.auth_key_hash if account is not None else _NO_ACCOUNT_HASH,
            hotline.pepper,
        )
        step = self._factor.matching_step(
            account.id if account is not None else None,
            account.totp_secret_sealed if account is not None else None,
            code,
        )
        member = vetted_member(account, await hotline.directory.vetted())
        if account is None or not key_ok or step is None or member is None:
            raise LoginFailed
        # Only a fully correct attempt spends its code, so a wrong passphrase burns nothing.
        if not await self._factor.spend(account.id, step):
            raise LoginFailed
        await hotline.broker.reset_throttle(self._username_key(username))
        async with hotline.database.transaction() as tx:
            await tx.investigators.record_login(account.id, at=hotline.clock.now())
        session = await self._sessions.open(account.id)
        logger.info("investigator_logged_in", extra={"investigator_id": str(account.id)})
        return session

    async def _throttle(self, username: str) -> None:
        policy = self._policy
        broker = self._hotline.broker
        for key, limit, window in (
            (self._username_key(username), policy.per_username, policy.per_username_window),
            ("login:all", policy.overall, policy.overall_window),
        ):
            decision = await broker.throttle(key, limit=limit, window=window)
            if not decision.allowed:
                raise RateLimited(
                    "Too many login attempts; try again later.",
                    retry_after=decision.retry_after_header,
                )

    def _username_key(self, username: str) -> str:
        # Keyed, so the broker holds no list of the usernames people tried.
        digest = blake2b(
            username.encode("utf-8"),
            size=16,
            key=derive_subkey(self._hotline.pepper, "login-throttle"),
        )
        return f"login:user:{b64encode(digest)}"
