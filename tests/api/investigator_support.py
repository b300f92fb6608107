"""Building investigators and cases for API tests through the real domain code.

`enroll_person` goes through the same invite and enrollment functions the endpoints use but
skips the client's Argon2id: the server never sees a passphrase, only an auth key, so a
random auth key and a bundle sealed under a random wrap key are as real as it gets for it.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from aiohttp.test_utils import TestClient

from gateway.crypto import totp
from gateway.crypto.directory import SignedEntry, sign_entry
from gateway.crypto.encoding import b64encode
from gateway.crypto.envelope import Envelope, seal
from gateway.crypto.kdf import V1_PARAMS
from gateway.crypto.keybundle import LoginKeys, new_salt, seal_investigator_keys
from gateway.crypto.keys import InvestigatorKeys, X25519KeyPair
from gateway.crypto.message import MessageContent
from gateway.domain.enrollment import EnrollmentForm, create_invite, enroll
from gateway.domain.events import CASE_CREATED, event_payload
from gateway.domain.hotline import Hotline
from gateway.domain.sessions import SessionBook
from gateway.domain.vetting import record_entry
from gateway.store.records import Case, MessageKind, Recipient, RecipientKind
from tests.fixtures.organisation import Organisation

Client = TestClient[Any, Any]
ONE_YEAR = timedelta(days=365)


@dataclass
class Person:
    """An enrolled investigator with every secret a test may need to act as them."""

    investigator_id: uuid.UUID
    enrollment_id: uuid.UUID
    username: str
    display_name: str
    roles: tuple[str, ...]
    keys: InvestigatorKeys
    auth_key: bytes
    wrap_key: bytes
    totp_secret: bytes
    used_steps: set[int] = field(default_factory=set)

    @property
    def id_text(self) -> str:
        return str(self.investigator_id)

    def fresh_code(self) -> str:
        """A valid TOTP code for a time step this person has not logged in with yet."""
        now = totp.step_at(time.time())
        for step in (now, now + 1, now - 1):
            if step not in self.used_steps:
                self.used_steps.add(step)
                return totp.code_for_step(self.totp_secret, step)
        raise AssertionError("three logins in one 30-second step: no unused code left")


def sessions_of(hotline: Hotline, *, idle: float = 1800, absolute: float = 43200) -> SessionBook:
    return SessionBook(
        hotline.broker,
        hotline.database,
        hotline.directory,
        idle_seconds=idle,
        absolute_seconds=absolute,
    )


async def enroll_person(
    hotline: Hotline,
    *roles: str,
    username: str | None = None,
    display_name: str = "Test Investigator",
) -> Person:
    roles = roles or ("investigator",)
    invite = await create_invite(hotline, roles=roles, created_by=None)
    keys = InvestigatorKeys.generate()
    login = LoginKeys(auth_key=secrets.token_bytes(32), wrap_key=secrets.token_bytes(32))
    bundle = seal_investigator_keys(keys, login, salt=new_salt(), kdf=V1_PARAMS)
    secret = totp.new_secret()
    person_code_step = totp.step_at(time.time())
    enrolled = await enroll(
        hotline,
        EnrollmentForm(
            invite_token=invite.token,
            username=username or f"inv-{secrets.token_hex(4)}",
            display_name=display_name,
            enc_public_key=keys.enc.public,
            sig_public_key=keys.sig.public,
            key_bundle=bundle,
            auth_key=login.auth_key,
            totp_secret=secret,
            totp_code=totp.code_for_step(secret, person_code_step),
        ),
    )
    return Person(
        investigator_id=enrolled.investigator.id,
        enrollment_id=enrolled.enrollment.id,
        username=enrolled.investigator.username,
        display_name=display_name,
        roles=tuple(sorted(roles)),
        keys=keys,
        auth_key=login.auth_key,
        wrap_key=login.wrap_key,
        totp_secret=secret,
        used_steps={person_code_step},
    )


async def add_entry(
    hotline: Hotline,
    organisation: Organisation,
    person: Person,
    *,
    not_after: datetime | None = None,
) -> SignedEntry:
    directory = await hotline.directory.current()
    entry = directory.add_entry(
        investigator_id=person.id_text,
        name=person.display_name,
        roles=person.roles,
        enc_pk=person.keys.enc.public,
        sig_pk=person.keys.sig.public,
        not_after=int((not_after or datetime.now(UTC) + ONE_YEAR).timestamp()),
    )
    return sign_entry(organisation.key, entry)


async def vet(hotline: Hotline, organisation: Organisation, person: Person) -> Person:
    await record_entry(
        hotline, sessions_of(hotline), await add_entry(hotline, organisation, person)
    )
    return person


async def revoke_entry(hotline: Hotline, organisation: Organisation, person: Person) -> SignedEntry:
    directory = await hotline.directory.current()
    entry = directory.revoke_entry(person.id_text, now=int(time.time()))
    return sign_entry(organisation.key, entry)


async def vetted_person(hotline: Hotline, organisation: Organisation, *roles: str) -> Person:
    return await vet(hotline, organisation, await enroll_person(hotline, *roles))


async def log_in(client: Client, person: Person) -> str:
    response = await client.post(
        "/api/v1/auth/login",
        json={
            "username": person.username,
            "auth_key": b64encode(person.auth_key),
            "totp": person.fresh_code(),
            "token_in_body": True,
        },
    )
    assert response.status == 200, await response.text()
    token: str = (await response.json())["session"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Session {token}"}


@dataclass
class OpenCase:
    case: Case
    reporter: X25519KeyPair

    @property
    def id_text(self) -> str:
        return str(self.case.id)


class OnCase(Protocol):
    """Anyone a case can be opened for: a `Person`, or a client's `Identity`."""

    @property
    def investigator_id(self) -> object: ...

    @property
    def keys(self) -> InvestigatorKeys: ...


async def open_case_for(
    hotline: Hotline, *people: OnCase, urgent: bool = False, body: str = "a tip"
) -> OpenCase:
    """A case as a reporter's tip leaves it: tip envelope, inbox rows, outbox row, one unit."""
    reporter = X25519KeyPair.generate()
    now = datetime.now(UTC)
    tip = seal(
        MessageContent(kind="tip", body=body, created=int(now.timestamp())),
        recipients=[reporter.public, *(person.keys.enc.public for person in people)],
        case=None,
    )
    async with hotline.database.transaction() as tx:
        case = await tx.cases.create(
            locator_hash=secrets.token_bytes(32),
            reporter_public_key=reporter.public,
            urgent=urgent,
            at=now,
        )
        await tx.messages.append(
            case.id,
            kind=MessageKind.TIP,
            author_id=None,
            visible_to_reporter=True,
            envelope=tip.encode(),
            recipients=[
                Recipient(key_id=reporter.kid, kind=RecipientKind.REPORTER),
                *(
                    Recipient(
                        key_id=person.keys.enc.kid,
                        kind=RecipientKind.INVESTIGATOR,
                        investigator_id=uuid.UUID(str(person.investigator_id)),
                    )
                    for person in people
                ),
            ],
            at=now,
        )
        await tx.inbox.add(
            case.id, [uuid.UUID(str(person.investigator_id)) for person in people], at=now
        )
        await tx.outbox.enqueue(
            CASE_CREATED,
            event_payload(case_id=case.id, at=now, urgent=urgent),
            at=now,
            case_id=case.id,
        )
    return OpenCase(case=case, reporter=reporter)


def followup(
    author: Person,
    case: OpenCase,
    recipients: list[bytes],
    *,
    kind: str = "followup",
    body: str = "When did this happen?",
    signer: InvestigatorKeys | None = None,
) -> Envelope:
    return seal(
        MessageContent(kind=kind, body=body, created=int(time.time())),
        recipients=recipients,
        case=case.id_text,
        signer=(signer or author.keys).sig,
    )
