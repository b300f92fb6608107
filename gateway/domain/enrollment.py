"""Invites and enrollment: how a person gets a pending account for the organisation to vet.

An invite is a one-time, expiring token; the server keeps only a keyed hash of it. Enrolling
uses it up and stores the person's public keys, their passphrase-encrypted key bundle, a hash
of their auth key and their TOTP secret (sealed). Nothing of this lets them in: only an `add`
entry signed with the offline organisation key does (see vetting).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from gateway.crypto.directory import RECOVERY, ROLES
from gateway.crypto.encoding import b64encode
from gateway.crypto.hashing import blake2b
from gateway.crypto.kdf import ALGORITHM
from gateway.crypto.keybundle import INVESTIGATOR, KeyBundle, auth_key_hash
from gateway.crypto.keys import PUBLIC_KEY_BYTES
from gateway.crypto.totp import MAX_SECRET_BYTES, MIN_SECRET_BYTES
from gateway.domain.accounts import check_display_name, normalise_username
from gateway.domain.errors import Conflict, Forbidden, InvalidInput
from gateway.domain.hotline import Hotline
from gateway.domain.keys import derive_subkey
from gateway.domain.login import add_login_stand_in
from gateway.domain.second_factor import SecondFactor
from gateway.store import InviteAlreadyEnrolled, UsernameTaken
from gateway.store.records import Enrollment, Investigator, Invite, JSONValue

logger = logging.getLogger("gateway.domain.enrollment")

INVITE_TOKEN_BYTES: Final = 32
DEFAULT_INVITE_TTL: Final = timedelta(hours=72)
MAX_INVITE_TTL: Final = timedelta(days=14)
MIN_INVITE_TTL: Final = timedelta(minutes=5)
# The recovery key is an offline key that never logs in: nobody enrolls as it.
INVITABLE_ROLES: Final = ROLES - {RECOVERY}


class InviteNotUsable(Forbidden):
    code = "invite_not_usable"
    default_message = "This invite is unknown, used already or expired; ask for a new one."


class UsernameUnavailable(Conflict):
    code = "username_taken"
    default_message = "This username is taken; choose another."


class TotpNotConfirmed(InvalidInput):
    code = "totp_not_confirmed"
    status = 422
    default_message = (
        "The code does not match the new TOTP secret; check the authenticator app's clock "
        "and enter the current code."
    )


@dataclass(frozen=True, slots=True)
class IssuedInvite:
    invite: Invite
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class EnrollmentForm:
    """What an invited person submits; keys and bundle as parsed by the web layer."""

    invite_token: str = field(repr=False)
    username: str
    display_name: str
    enc_public_key: bytes
    sig_public_key: bytes
    key_bundle: KeyBundle
    auth_key: bytes = field(repr=False)
    totp_secret: bytes = field(repr=False)
    totp_code: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Enrolled:
    investigator: Investigator
    enrollment: Enrollment


def _stored_kdf(bundle: KeyBundle) -> dict[str, JSONValue]:
    kdf = bundle.kdf
    return {"alg": ALGORITHM, "opslimit": kdf.opslimit, "memlimit": kdf.memlimit}


def invite_token_hash(token: str, pepper: bytes) -> bytes:
    """What the database keeps of an invite: a keyed hash, useless without the pepper."""
    return blake2b(token.encode("utf-8"), size=32, key=derive_subkey(pepper, "invite-token"))


def check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(sorted(set(roles)))
    if not chosen or not set(chosen) <= INVITABLE_ROLES:
        raise InvalidInput(f"Roles are one or more of: {', '.join(sorted(INVITABLE_ROLES))}.")
    return chosen


async def create_invite(
    hotline: Hotline,
    *,
    roles: Iterable[str],
    valid_for: timedelta = DEFAULT_INVITE_TTL,
    created_by: uuid.UUID | None,
) -> IssuedInvite:
    """A fresh one-time invite; the token exists only in the answer."""
    requested = check_roles(roles)
    if not MIN_INVITE_TTL <= valid_for <= MAX_INVITE_TTL:
        raise InvalidInput("An invite is valid for 5 minutes to 14 days.")
    token = b64encode(secrets.token_bytes(INVITE_TOKEN_BYTES))
    now = hotline.clock.now()
    async with hotline.database.transaction() as tx:
        invite = await tx.invites.create(
            token_hash=invite_token_hash(token, hotline.pepper),
            roles=requested,
            created_by=created_by,
            at=now,
            expires_at=now + valid_for,
        )
        await hotline.audit.record(
            tx,
            action="invite.create",
            actor_id=created_by,
            details={"invite": str(invite.id), "roles": ":".join(requested)},
        )
    logger.info("invite_created", extra={"invite_id": str(invite.id)})
    return IssuedInvite(invite=invite, token=token)


async def enroll(hotline: Hotline, form: EnrollmentForm) -> Enrolled:
    """Use the invite up and record a pending account, all in one unit of work."""
    username = normalise_username(form.username)
    display_name = check_display_name(form.display_name)
    if len(form.enc_public_key) != PUBLIC_KEY_BYTES or len(form.sig_public_key) != PUBLIC_KEY_BYTES:
        raise InvalidInput("enc_pk and sig_pk are 32-byte public keys.")
    if form.enc_public_key == form.sig_public_key:
        raise InvalidInput("The encryption and signing keys must differ.")
    if form.key_bundle.kind != INVESTIGATOR:
        raise InvalidInput("The key bundle must be an investigator bundle.")
    if not MIN_SECRET_BYTES <= len(form.totp_secret) <= MAX_SECRET_BYTES:
        raise InvalidInput(f"The TOTP secret has {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes.")
    factor = SecondFactor(hotline.broker, pepper=hotline.pepper, clock=hotline.clock)
    step = factor.confirms(form.totp_secret, form.totp_code)
    if step is None:
        raise TotpNotConfirmed
    investigator_id = uuid.uuid4()
    sealed_secret = factor.seal(investigator_id, form.totp_secret)
    token_hash = invite_token_hash(form.invite_token, hotline.pepper)
    now = hotline.clock.now()
    # Two first enrollments at once may both add the login stand-in; the loser tries again.
    for attempt in (1, 2):
        adding_stand_in = False
        try:
            async with hotline.database.transaction() as tx:
                # With the first account, so that logins never reveal which names exist.
                adding_stand_in = True
                await add_login_stand_in(tx, hotline)
                adding_stand_in = False
                invite = await tx.invites.consume(token_hash, at=now)
                if invite is None:
                    raise InviteNotUsable
                investigator = await tx.investigators.create(
                    investigator_id=investigator_id,
                    username=username,
                    display_name=display_name,
                    roles=invite.roles,
                    enc_public_key=form.enc_public_key,
                    sig_public_key=form.sig_public_key,
                    # One salt and one set of parameters: those the bundle was sealed with.
                    auth_salt=form.key_bundle.salt,
                    kdf_params=_stored_kdf(form.key_bundle),
                    auth_key_hash=auth_key_hash(form.auth_key, hotline.pepper),
                    key_bundle=form.key_bundle.encode(),
                    totp_secret_sealed=sealed_secret,
                    at=now,
                )
                enrollment = await tx.enrollments.create(
                    invite_id=invite.id, investigator_id=investigator.id, at=now
                )
            break
        except UsernameTaken:
            if adding_stand_in and attempt == 1:
                continue
            raise UsernameUnavailable from None
        except InviteAlreadyEnrolled:
            raise InviteNotUsable from None
    # The confirming code is spent too: it cannot be replayed as a first login.
    await factor.spend(investigator.id, step)
    logger.info(
        "enrollment_submitted",
        extra={"enrollment_id": str(enrollment.id), "investigator_id": str(investigator.id)},
    )
    return Enrolled(investigator=investigator, enrollment=enrollment)
