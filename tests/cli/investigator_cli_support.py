"""An investigator as the command line knows them: enrolled with a real passphrase, vetted,
logged in, with the CLI's session file written (for in-process `tipline` runs against the
test gateway's socket)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.cli.investigator import SavedSession
from gateway.client.investigator import InvestigatorClient, prepare_enrollment, submit_enrollment
from gateway.client.transport import Transport
from gateway.crypto import totp
from gateway.crypto.directory import sign_entry
from gateway.domain.enrollment import create_invite
from gateway.domain.hotline import Hotline
from gateway.domain.vetting import record_entry
from tests.api.investigator_support import Person, sessions_of
from tests.fixtures.organisation import Organisation

Client = TestClient[Any, Any]
PASSPHRASE = "a long passphrase for the command-line tests"


async def logged_in_investigator(
    client: Client,
    hotline: Hotline,
    organisation: Organisation,
    folder: Path,
    *roles: str,
) -> Person:
    """Enrol with a real passphrase, get vetted, log in, and leave the CLI's session file."""
    gateway = str(client.server.make_url("/")).rstrip("/")
    username = f"cli-{uuid.uuid4().hex[:8]}"
    draft = await asyncio.to_thread(prepare_enrollment, username, PASSPHRASE)
    invite = await create_invite(
        hotline, roles=roles or ["triage", "investigator"], created_by=None
    )
    enrolled_step = totp.step_at(time.time())
    async with Transport(gateway) as transport:
        enrolled = await submit_enrollment(
            transport,
            draft,
            invite=invite.token,
            display_name="Dossier Lead",
            totp_code=totp.code_for_step(draft.totp_secret, enrolled_step),
        )
    investigator_id = str(enrolled["investigator_id"])
    directory = await hotline.directory.current()
    entry = directory.add_entry(
        investigator_id=investigator_id,
        name="Dossier Lead",
        roles=tuple(sorted(roles or ("investigator", "triage"))),
        enc_pk=draft.keys.enc.public,
        sig_pk=draft.keys.sig.public,
        not_after=int(time.time()) + 86_400,
    )
    await record_entry(hotline, sessions_of(hotline), sign_entry(organisation.key, entry))
    async with InvestigatorClient(gateway, org_public_key=organisation.public_key) as session:
        # The enrollment spent its step; the next one is within the gateway's drift window.
        step = max(totp.step_at(time.time()), enrolled_step + 1)
        await session.login(username, PASSPHRASE, totp.code_for_step(draft.totp_secret, step))
        token = session.session_token
    assert token is not None
    SavedSession(
        gateway=gateway,
        username=username,
        org_public_key=organisation.public_key_text,
        session=token,
    ).save()
    (folder / "passphrase").write_text(PASSPHRASE + "\n", encoding="utf-8")
    return Person(
        investigator_id=uuid.UUID(investigator_id),
        enrollment_id=uuid.uuid4(),
        username=username,
        display_name="Dossier Lead",
        roles=tuple(sorted(roles or ("investigator", "triage"))),
        keys=draft.keys,
        auth_key=draft.login.auth_key,
        wrap_key=draft.login.wrap_key,
        totp_secret=draft.totp_secret,
    )
