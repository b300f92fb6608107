"""Investigator login: prelogin gives the salt to derive the auth key from, login checks the
auth key and a TOTP code and opens a session.

Nothing in the answer or its timing separates an unknown username, a wrong auth key, a wrong
code, a pending or a revoked account: every attempt does the same work and every failure is
one `LoginFailed`. Attempts are throttled per username and for the whole gateway.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Final, cast

from gateway.crypto import totp
from gateway.crypto.encoding import JsonValue, b64encode
from gateway.crypto.hashing import blake2b
from gateway.crypto.kdf import ALGORITHM, KdfParams
from gateway.crypto.keybundle import (
    LOGIN_KDF_FLOOR,
    LoginKeys,
    auth_key_hash,
    auth_key_matches,
    fake_prelogin_salt,
    new_salt,
    seal_investigator_keys,
)
from gateway.crypto.keys import InvestigatorKeys
from gateway.domain.accounts import normalise_username, vetted_member
from gateway.domain.errors import RateLimited, Unauthenticated
from gateway.domain.hotline import Hotline
from gateway.domain.keys import derive_subkey
from gateway.domain.second_factor import SecondFactor
from gateway.domain.sessions import IssuedSession, SessionBook
from gateway.store import Transaction
from gateway.store.records import Investigator, InvestigatorStatus

logger = logging.getLogger("gateway.domain.login")

# Stands in for a stored auth hash when there is no account, so the comparison still runs.
_NO_ACCOUNT_HASH: Final = bytes(32)
# A revoked account row that is fetched in the same query when a username does not exist, so
# the database returns a row either way. No typed username can name it: "~" is never allowed.
STAND_IN_USERNAME: Final = "~login-stand-in"


async def add_login_stand_in(tx: Transaction, hotline: Hotline) -> bool:
    """Create the stand-in account in `tx` unless it exists; True if this unit creates it.

    It has the shape of a real row (a sealed key bundle of real size, a sealed TOTP secret)
    and is revoked, so it can never log in and is listed nowhere. Enrollment adds it in the
    unit of work of the first account, so it exists whenever any account does.
    """
    if await tx.investigators.find_by_username(STAND_IN_USERNAME) is not None:
        return False
    stand_in_id = uuid.uuid4()
    keys = InvestigatorKeys.generate()
    salt = new_salt()
    login = LoginKeys(auth_key=secrets.token_bytes(32), wrap_key=secrets.token_bytes(32))
    factor = SecondFactor(hotline.broker, pepper=hotline.pepper, clock=hotline.clock)
    await tx.investigators.create(
        investigator_id=stand_in_id,
        username=STAND_IN_USERNAME,
        display_name="login stand-in (never logs in)",
        roles=(),
        enc_public_key=keys.enc.public,
        sig_public_key=keys.sig.public,
        auth_salt=salt,
        kdf_params={
            "alg": ALGORITHM,
            "opslimit": LOGIN_KDF_FLOOR.opslimit,
            "memlimit": LOGIN_KDF_FLOOR.memlimit,
        },
        auth_key_hash=auth_key_hash(login.auth_key, hotline.pepper),
        key_bundle=seal_investigator_keys(keys, login, salt=salt, kdf=LOGIN_KDF_FLOOR).encode(),
        totp_secret_sealed=factor.seal(stand_in_id, totp.new_secret()),
        at=hotline.clock.now(),
        status=InvestigatorStatus.REVOKED,
    )
    return True


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

    async def _find(self, username: str) -> tuple[Investigator | None, Investigator | None]:
        """(the row fetched, the account if it is the one named): the account is looked up
        together with the stand-in, so that both cases cost the same."""
        async with self._hotline.database.transaction(read_only=True) as tx:
            row = await tx.investigators.find_by_username_or(username, STAND_IN_USERNAME)
        return row, row if row is not None and row.username == username else None

    async def prelogin(self, typed_username: str) -> Prelogin:
        """The account's salt and KDF parameters, or a stable fake salt of the same shape."""
        username = normalise_username(typed_username)
        _, account = await self._find(username)
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
        row, account = await self._find(username)
        # The same steps run whether or not the account exists (see the module docstring):
        # without one, against the stand-in row the same query returned.
        key_ok = auth_key_matches(
            auth_key, row.auth_key_hash if row is not None else _NO_ACCOUNT_HASH, hotline.pepper
        )
        step = self._factor.matching_step(
            row.id if row is not None else None,
            row.totp_secret_sealed if row is not None else None,
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
