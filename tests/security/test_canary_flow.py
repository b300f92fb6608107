"""Canaries through the whole flow, reporter and investigator: enrollment and vetting, a tip
with an attachment, login, a follow-up, an internal note, a status change, the reporter's
reply with an attachment, the investigator reading it, logout — every request carrying a
canary User-Agent, X-Forwarded-For and Forwarded header.

Afterwards no table (every column of every row), no Redis key or value under the test's
prefix (or the in-process broker's state), no file in the data folder (database, blobs,
secrets) and no log record holds any canary, the pickup code, the locator, the reporter's
secret key, the passphrase, the keys derived from it, the TOTP secret, a client address or
a user agent. (tests/api/test_reporter_canary.py covers the reporter's half on its own.)
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.client.admin import AdminClient
from gateway.client.attachment_files import AttachmentSource
from gateway.client.investigator import InvestigatorClient, prepare_enrollment, submit_enrollment
from gateway.client.reporter import ReporterClient, TipDraft
from gateway.client.transport import Transport
from gateway.crypto import totp
from gateway.crypto.encoding import b64encode
from gateway.crypto.pickup import derive_reporter_keys
from gateway.web.access_log import access_log_options
from gateway.web.app import create_app
from gateway.web.keys import HOTLINE
from tests.api.test_reporter_canary import (
    database_cells,
    files_under,
    memory_state,
    redis_entries,
)
from tests.fixtures.app import ClientFactory, make_settings
from tests.fixtures.organisation import Organisation

RUN = uuid.uuid4().hex[:10]
PASSPHRASE = f"canary passphrase {RUN} in Zwolle"
CANARY_USER_AGENT = f"CanaryBrowser/{RUN} (Linux; Android 14)"
CANARY_FORWARDED_FOR = "203.0.113.77"
CANARY_FORWARDED = "198.51.100.23"
PEER_ADDRESS = "127.0.0.1"
CANARY_HEADERS = {
    "User-Agent": CANARY_USER_AGENT,
    "X-Forwarded-For": f"{CANARY_FORWARDED_FOR}, 10.0.0.1",
    "Forwarded": f'for="{CANARY_FORWARDED}";proto=https',
    "X-Real-IP": CANARY_FORWARDED_FOR,
}


@pytest.fixture
async def gateway_url(
    aiohttp_client: ClientFactory,
    tmp_path: Path,
    database_url: str,
    redis_prefix: str | None,
    organisation: Organisation,
) -> Any:
    settings = make_settings(
        tmp_path,
        database_url,
        redis_prefix=redis_prefix,
        org_public_key=organisation.public_key_text,
        pow_difficulty="4",
    )
    app = create_app(settings)
    # Served as `tipline serve` serves it: with the gateway's own access log.
    server = TestServer(app)
    await server.start_server(**access_log_options())
    client = await aiohttp_client(server)
    return str(client.make_url("")).rstrip("/"), app, settings


@pytest.fixture
async def canary_transport(gateway_url: Any) -> AsyncIterator[Transport]:
    session = aiohttp.ClientSession(headers=CANARY_HEADERS, cookie_jar=aiohttp.DummyCookieJar())
    async with Transport(gateway_url[0], session=session) as transport:
        yield transport
    await session.close()


async def test_no_canary_secret_address_or_user_agent_is_kept_anywhere_after_the_full_flow(
    gateway_url: Any,
    canary_transport: Transport,
    organisation: Organisation,
    redis_prefix: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    base, app, settings = gateway_url
    hotline = app[HOTLINE]
    canaries = {
        name: f"CANARY-{name}-{RUN}"
        for name in ("tip", "field", "file-name", "file-content", "followup", "note", "reply",
                     "reply-file")
    }  # fmt: skip
    transport = canary_transport

    # An investigator enrolls and is vetted (the admin signs with the organisation key).
    admin = AdminClient(base, organisation.key, transport=transport)
    invite = await admin.create_invite(("triage",))
    draft = await asyncio.to_thread(prepare_enrollment, f"inv-{RUN}", PASSPHRASE)
    await submit_enrollment(
        transport,
        draft,
        invite=invite["token"],
        display_name="Triage Investigator",
        totp_code=totp.code_at(draft.totp_secret, time.time() - 30),
    )
    (pending,) = await admin.enrollments()
    await admin.record(admin.vetting_entry(await admin.directory(), pending))

    # The reporter sends a tip with a form field and a file.
    reporter = ReporterClient(transport, organisation.public_key)
    submitted = await reporter.submit(
        TipDraft(
            body=f"Tip: {canaries['tip']}",
            fields={"location": canaries["field"]},
            attachments=[
                AttachmentSource.from_bytes(
                    f"{canaries['file-name']}.txt", canaries["file-content"].encode() * 50
                )
            ],
            urgent=True,
        )
    )

    # The investigator logs in, reads, asks, notes and moves the case on.
    investigator = InvestigatorClient(
        base, org_public_key=organisation.public_key, transport=transport
    )
    login_keys = await investigator.login_keys(f"inv-{RUN}", PASSPHRASE)
    await investigator.login(f"inv-{RUN}", PASSPHRASE, totp.code_at(draft.totp_secret, time.time()))
    (entry,) = (await investigator.inbox()).entries
    thread = await investigator.open_case(entry.case_id)
    assert canaries["tip"] in thread.messages[0].body
    await investigator.ask(entry.case_id, f"Question: {canaries['followup']}")
    await investigator.note(entry.case_id, f"Note: {canaries['note']}")
    await investigator.set_status(entry.case_id, "triage")

    # The reporter reads the question and answers with another file.
    case_thread = await reporter.open_case(submitted.code)
    assert any(canaries["followup"] in m.content.body for m in case_thread.messages)
    await reporter.reply(
        case_thread,
        f"Reply: {canaries['reply']}",
        attachments=[AttachmentSource.from_bytes("kaart.png", canaries["reply-file"].encode())],
    )
    reread = await investigator.open_case(entry.case_id)
    assert canaries["reply"] in reread.messages[-1].body
    await investigator.logout()

    keys = derive_reporter_keys(submitted.code, organisation.public_key)
    needles: dict[str, bytes] = {name: text.encode() for name, text in canaries.items()}
    needles.update(
        {
            "pickup code": submitted.code.normalised.encode(),
            "pickup code as shown": submitted.code.display().encode(),
            "locator": keys.locator.value,
            "locator (base64url)": keys.locator.encoded().encode(),
            "reporter secret key": keys.enc.secret,
            "reporter secret key (base64url)": b64encode(keys.enc.secret).encode(),
            "passphrase": PASSPHRASE.encode(),
            "auth key": login_keys.auth_key,
            "auth key (base64url)": b64encode(login_keys.auth_key).encode(),
            "wrap key": login_keys.wrap_key,
            "wrap key (base64url)": b64encode(login_keys.wrap_key).encode(),
            "TOTP secret": draft.totp_secret,
            "TOTP secret (base64url)": b64encode(draft.totp_secret).encode(),
            "user agent": CANARY_USER_AGENT.encode(),
            "user agent product": f"CanaryBrowser/{RUN}".encode(),
            "X-Forwarded-For address": CANARY_FORWARDED_FOR.encode(),
            "Forwarded address": CANARY_FORWARDED.encode(),
            "peer address": PEER_ADDRESS.encode(),
        }
    )

    places: list[tuple[str, bytes]] = [cell async for cell in database_cells(hotline.database)]
    places += list(files_under(settings.data_dir))
    if redis_prefix is not None:
        places += [entry async for entry in redis_entries(redis_prefix)]
    else:
        places += [("memory broker", data) for data in memory_state(hotline.broker)]
    places += [
        (f"log {record.name}", (record.getMessage() + repr(vars(record))).encode())
        for record in caplog.records
    ]

    # Positive controls: the scan sees what is stored and logged.
    where_found = {where.split(".")[0] for where, _ in places}
    assert {"cases", "messages", "investigators", "attachments", "audit_entries"} <= where_found
    assert any(b"investigator_logged_in" in data for where, data in places if "log" in where)
    assert any(b"http_request" in data for where, data in places if "gateway.access" in where)
    assert any(b"limit:network:" in data for _, data in places), "rate limits left no trace"
    found = sorted(
        {
            (needle, where)
            for where, data in places
            for needle, value in needles.items()
            if value in data
        }
    )
    assert found == []
