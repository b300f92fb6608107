"""A hotline for the benchmark, made the way a real one is: through the clients, over HTTP.

The organisation key signs invites and directory entries (`AdminClient`); each investigator
prepares keys and a TOTP secret locally (`prepare_enrollment`, Argon2id), enrolls with an
invite, is vetted by a signed `add` entry and logs in (`InvestigatorClient`). Four triage
investigators make a new tip's envelope go to five recipients (four plus the reporter).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.client.admin import AdminClient
from gateway.client.investigator import (
    InvestigatorClient,
    prepare_enrollment,
    submit_enrollment,
)
from gateway.client.transport import Transport
from gateway.crypto import totp
from gateway.crypto.encoding import b64encode
from gateway.crypto.keys import Ed25519KeyPair

TRIAGE_PEOPLE = 4


@dataclass
class BenchInvestigator:
    username: str
    passphrase: str = field(repr=False)
    totp_secret: bytes = field(repr=False)
    investigator_id: str = ""
    used_steps: set[int] = field(default_factory=set)

    def fresh_code(self) -> str:
        """A TOTP code for a time step not used yet (each step is accepted once)."""
        now = totp.step_at(time.time())
        for step in (now, now + 1, now - 1):
            if step not in self.used_steps:
                self.used_steps.add(step)
                return totp.code_for_step(self.totp_secret, step)
        raise RuntimeError("three logins within one 30-second step")


@dataclass
class BenchOrganisation:
    key: Ed25519KeyPair = field(repr=False)
    people: list[BenchInvestigator] = field(default_factory=list)

    @property
    def public_key_text(self) -> str:
        return b64encode(self.key.public)

    def as_json(self) -> dict[str, Any]:
        return {"org_public_key": self.public_key_text}


def new_organisation() -> BenchOrganisation:
    return BenchOrganisation(key=Ed25519KeyPair.generate())


async def _enroll_one(base_url: str, admin: AdminClient, index: int) -> BenchInvestigator:
    person = BenchInvestigator(
        username=f"bench-triage-{index}-{secrets.token_hex(3)}",
        passphrase=secrets.token_urlsafe(18),
        totp_secret=totp.new_secret(),
    )
    invite = await admin.create_invite(["investigator", "triage"])
    draft = await asyncio.to_thread(
        prepare_enrollment, person.username, person.passphrase, totp_secret=person.totp_secret
    )
    async with Transport(base_url) as transport:
        answer = await submit_enrollment(
            transport,
            draft,
            invite=str(invite["token"]),
            display_name=f"Bench Triage {index}",
            totp_code=person.fresh_code(),
        )
    person.investigator_id = str(answer["investigator_id"])
    return person


async def staff(
    base_url: str, organisation: BenchOrganisation, *, people: int = TRIAGE_PEOPLE
) -> None:
    """Invite, enroll and vet `people` triage investigators (one signed entry each)."""
    async with AdminClient(base_url, organisation.key) as admin:
        # Argon2id for each in a thread of its own; vetting one by one (each entry extends
        # the chain the previous one ended).
        enrolled = list(
            await asyncio.gather(*(_enroll_one(base_url, admin, index) for index in range(people)))
        )
        for person in enrolled:
            [enrollment] = [
                item
                for item in await admin.enrollments()
                if item.investigator_id == person.investigator_id
            ]
            entry = admin.vetting_entry(await admin.directory(), enrollment)
            await admin.record(entry)
    organisation.people.extend(enrolled)


async def log_in(base_url: str, organisation: BenchOrganisation, person: BenchInvestigator) -> str:
    """A session token for the person (prelogin, Argon2id, login with TOTP, bundle opened)."""
    async with InvestigatorClient(base_url, org_public_key=organisation.key.public) as client:
        await client.login(person.username, person.passphrase, person.fresh_code())
        assert client.session_token is not None
        return client.session_token
