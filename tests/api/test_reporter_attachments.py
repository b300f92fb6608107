"""Reporter attachments: streamed in under the limit, claimed by a tip or reply, streamed out,
and nothing left behind by a refused, broken or abandoned upload."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Settings
from gateway.crypto.envelope import open_as, parse_envelope
from gateway.crypto.message import AttachmentRef
from gateway.crypto.stream import ciphertext_length, decrypt_stream, encrypt_stream
from gateway.domain.attachments import (
    UNCLAIMED_UPLOAD_LIFETIME,
    is_ciphertext_length,
    sweep_abandoned_uploads,
    sweep_if_due,
)
from gateway.domain.hotline import Hotline
from gateway.domain.reporter_access import locator_hash
from gateway.web.app import create_app
from gateway.web.keys import HOTLINE
from tests.api.reporter_support import (
    AnonymousReporter,
    Client,
    lookup_headers,
    proof_header,
    reply_headers,
    reporter_case,
    rows,
    sealed,
    solved_proof,
    submit_headers,
    submit_tip,
    tip_body,
    tip_recipients,
    vet_with_account,
)
from tests.fixtures.app import ClientFactory
from tests.fixtures.organisation import Organisation

STREAM = {"Content-Type": "application/octet-stream"}


def encrypted(content: bytes) -> tuple[bytes, bytes]:
    """A real attachment stream of `content`: (key, ciphertext)."""
    key = os.urandom(32)
    return key, b"".join(encrypt_stream(key, [content], len(content)))


def blob_files(settings: Settings) -> list[Path]:
    """Every file under the blob folder, finished or partial."""
    return [path for path in settings.blob_dir.rglob("*") if path.is_file()]


async def upload(
    client: Client, data: bytes, *, reporter: AnonymousReporter | None = None, **headers: str
) -> Any:
    purpose = "submit" if reporter is None else "reply"
    sent = {**STREAM, **proof_header(await solved_proof(client, purpose)), **headers}
    if reporter is not None:
        sent.update(reporter.authorization)
    return await client.post("/api/v1/reporter/attachments", data=io.BytesIO(data), headers=sent)


async def test_a_tips_attachment_is_uploaded_first_claimed_by_the_tip_and_read_back(
    client: Client, hotline: Hotline, organisation: Organisation, settings: Settings
) -> None:
    person = await vet_with_account(hotline, organisation, "triage")
    content = b"foto van het busje " * 5000
    key, ciphertext = encrypted(content)

    uploaded = await upload(client, ciphertext)

    assert uploaded.status == 201
    answer = await uploaded.json()
    assert answer["size"] == len(ciphertext)
    assert len(blob_files(settings)) == 1
    async with hotline.database.transaction(read_only=True) as tx:
        pending = await tx.attachments.get(uuid.UUID(answer["id"]))
    assert pending is not None
    assert pending.case_id is None

    ref = AttachmentRef(
        id=answer["id"],
        key=key,
        name="busje.jpg",
        size=len(content),
        sha256=hashlib.sha256(content).digest(),
    )
    reporter = await submit_tip(client, [person], attachments=[ref.id], refs=[ref], body="zie foto")
    view = await reporter_case(client, reporter)
    assert view["attachments"] == [{"id": ref.id, "size": len(ciphertext)}]
    tip = parse_envelope(view["messages"][0]["envelope"])  # type: ignore[index, call-overload]
    assert open_as(tip, reporter.keys).attachments == (ref,)

    downloaded = await client.get(
        f"/api/v1/cases/{view['case']}/attachments/{ref.id}",
        headers=await lookup_headers(client, reporter),
    )
    assert downloaded.status == 200
    assert downloaded.headers["Content-Type"] == "application/octet-stream"
    body = await downloaded.read()
    assert body == ciphertext
    assert b"".join(decrypt_stream(key, [body])) == content


async def test_an_attachment_uploaded_with_the_code_belongs_to_the_case_and_a_reply_lists_it(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vet_with_account(hotline, organisation, "triage")
    reporter = await submit_tip(client, [person])
    _, ciphertext = encrypted(b"adres")

    uploaded = await upload(client, ciphertext, reporter=reporter)

    assert uploaded.status == 201
    attachment_id = (await uploaded.json())["id"]
    async with hotline.database.transaction(read_only=True) as tx:
        case = await tx.cases.find_by_locator_hash(locator_hash(hotline, reporter.locator))
        stored = await tx.attachments.get(uuid.UUID(attachment_id))
    assert case is not None
    assert stored is not None
    assert stored.case_id == case.id
    reply = sealed(
        "reply",
        [person.keys.enc.public, reporter.keys.public],
        case=str(case.id),
        body="zie bijlage",
    )
    response = await client.post(
        "/api/v1/reporter/messages",
        json={"v": 1, "envelope": reply.to_json(), "attachments": [attachment_id]},
        headers=await reply_headers(client, reporter),
    )
    assert response.status == 201, await response.text()


async def test_an_upload_is_claimed_once(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vet_with_account(hotline, organisation, "triage")
    _, ciphertext = encrypted(b"x")
    attachment_id = (await (await upload(client, ciphertext)).json())["id"]
    await submit_tip(client, [person], attachments=[attachment_id])
    second = AnonymousReporter()
    before = await rows(hotline.database)

    response = await client.post(
        "/api/v1/cases",
        json=tip_body(
            second,
            sealed("tip", tip_recipients([person], second)),
            attachments=[attachment_id],
        ),
        headers=await submit_headers(client),
    )

    assert response.status == 422
    assert (await response.json())["error"]["code"] == "unknown_attachment"
    assert await rows(hotline.database) == before


async def test_a_new_tip_cannot_take_an_attachment_of_an_existing_case(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vet_with_account(hotline, organisation, "triage")
    owner = await submit_tip(client, [person])
    _, ciphertext = encrypted(b"van een ander")
    attachment_id = (await (await upload(client, ciphertext, reporter=owner)).json())["id"]
    thief = AnonymousReporter()
    before = await rows(hotline.database)

    response = await client.post(
        "/api/v1/cases",
        json=tip_body(
            thief,
            sealed("tip", tip_recipients([person], thief)),
            attachments=[attachment_id],
        ),
        headers=await submit_headers(client),
    )

    assert response.status == 422
    assert await rows(hotline.database) == before


@pytest.fixture
async def small_limit(
    aiohttp_client: ClientFactory, settings: Settings
) -> tuple[Client, Hotline, Settings]:
    """A gateway whose attachment limit is 200 000 bytes (three 64 KiB records fit)."""
    limited = replace(settings, max_attachment_bytes=200_000)
    app = create_app(limited)
    client = await aiohttp_client(app)
    return client, app[HOTLINE], limited


async def test_an_upload_over_the_limit_is_refused_while_it_streams_and_leaves_nothing(
    small_limit: tuple[Client, Hotline, Settings],
) -> None:
    client, hotline, settings = small_limit
    before = await rows(hotline.database)
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        # No Content-Length: the limit can only be enforced as the bytes arrive.
        for _ in range(64):
            sent += 65_536
            yield os.urandom(65_536)

    response = await client.post(
        "/api/v1/reporter/attachments",
        data=endless(),
        headers={**STREAM, **proof_header(await solved_proof(client, "submit"))},
    )

    assert response.status == 413
    assert (await response.json())["error"]["code"] == "payload_too_large"
    assert await rows(hotline.database) == before
    assert blob_files(settings) == []


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    small_limit: tuple[Client, Hotline, Settings],
) -> None:
    client, hotline, settings = small_limit
    _, ciphertext = encrypted(os.urandom(300_000))
    before = await rows(hotline.database)

    response = await upload(client, ciphertext)

    assert response.status == 413
    assert await rows(hotline.database) == before
    assert blob_files(settings) == []


UPLOAD_REFUSALS = {
    "length that is no attachment stream": 400,
    "wrong content type": 400,
    "no proof": 403,
    "proof for another purpose": 403,
    "wrong code": 404,
    "malformed locator": 401,
}


@pytest.mark.parametrize("problem", sorted(UPLOAD_REFUSALS))
async def test_a_refused_upload_leaves_no_blob_and_no_row(
    client: Client, hotline: Hotline, settings: Settings, organisation: Organisation, problem: str
) -> None:
    person = await vet_with_account(hotline, organisation, "triage")
    await submit_tip(client, [person])
    _, ciphertext = encrypted(b"inhoud")
    headers = {**STREAM, **proof_header(await solved_proof(client, "submit"))}
    if problem == "length that is no attachment stream":
        ciphertext += b"\x00"
    elif problem == "wrong content type":
        headers["Content-Type"] = "image/jpeg"
    elif problem == "no proof":
        del headers["X-Tipline-Proof"]
    elif problem == "proof for another purpose":
        headers.update(proof_header(await solved_proof(client, "lookup")))
    elif problem == "wrong code":
        headers.update(proof_header(await solved_proof(client, "reply")))
        headers.update(AnonymousReporter().authorization)
    elif problem == "malformed locator":
        headers["Authorization"] = "Locator xyz"
    before = await rows(hotline.database)

    response = await client.post(
        "/api/v1/reporter/attachments", data=io.BytesIO(ciphertext), headers=headers
    )

    assert response.status == UPLOAD_REFUSALS[problem], await response.text()
    assert await rows(hotline.database) == before
    assert blob_files(settings) == []


async def test_an_upload_that_breaks_off_leaves_no_blob_and_no_row(
    client: Client, hotline: Hotline, settings: Settings
) -> None:
    _, ciphertext = encrypted(os.urandom(150_000))
    proof = proof_header(await solved_proof(client, "submit"))
    before = await rows(hotline.database)
    assert client.server.host is not None
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    head = (
        "POST /api/v1/reporter/attachments HTTP/1.1\r\n"
        f"Host: {client.server.host}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {len(ciphertext)}\r\n"
        f"X-Tipline-Proof: {proof['X-Tipline-Proof']}\r\n\r\n"
    )
    writer.write(head.encode() + ciphertext[: len(ciphertext) // 2])
    await writer.drain()
    # Let the gateway start storing, then cut the connection half-way.
    await _until(lambda: bool(blob_files(settings)))
    writer.close()
    await writer.wait_closed()
    del reader

    await _until(lambda: not blob_files(settings))
    assert await rows(hotline.database) == before


async def _until(condition: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.02)


class _Later:
    def __init__(self, delta: timedelta) -> None:
        self._delta = delta

    def now(self) -> datetime:
        return datetime.now(UTC) + self._delta


async def test_uploads_no_tip_claimed_are_swept_after_their_lifetime_with_their_blobs(
    client: Client, hotline: Hotline, organisation: Organisation, settings: Settings
) -> None:
    person = await vet_with_account(hotline, organisation, "triage")
    _, abandoned = encrypted(b"nooit verstuurd")
    _, claimed = encrypted(b"wel verstuurd")
    abandoned_id = (await (await upload(client, abandoned)).json())["id"]
    claimed_id = (await (await upload(client, claimed)).json())["id"]
    await submit_tip(client, [person], attachments=[claimed_id])
    assert len(blob_files(settings)) == 2

    too_early = await sweep_abandoned_uploads(hotline)
    swept = await sweep_abandoned_uploads(
        replace(hotline, clock=_Later(UNCLAIMED_UPLOAD_LIFETIME + timedelta(minutes=1)))
    )

    assert (too_early.unclaimed, swept.unclaimed) == (0, 1)
    async with hotline.database.transaction(read_only=True) as tx:
        assert await tx.attachments.get(uuid.UUID(abandoned_id)) is None
        assert await tx.attachments.get(uuid.UUID(claimed_id)) is not None
    assert len(blob_files(settings)) == 1


async def test_the_sweep_runs_at_most_once_per_interval_across_processes(
    client: Client, hotline: Hotline
) -> None:
    # Uploads above already triggered it in this gateway's broker namespace, or this does.
    first = await sweep_if_due(hotline)
    second = await sweep_if_due(hotline)
    assert second is None
    assert first is None or first.unclaimed == 0


async def test_a_reporter_cannot_download_through_another_case(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vet_with_account(hotline, organisation, "triage")
    _, ciphertext = encrypted(b"geheim")
    attachment_id = (await (await upload(client, ciphertext)).json())["id"]
    owner = await submit_tip(client, [person], attachments=[attachment_id])
    owner_case = (await reporter_case(client, owner))["case"]
    other = await submit_tip(client, [person])
    other_case = (await reporter_case(client, other))["case"]

    through_own_case = await client.get(
        f"/api/v1/cases/{other_case}/attachments/{attachment_id}",
        headers=await lookup_headers(client, other),
    )
    naming_the_owners_case = await client.get(
        f"/api/v1/cases/{owner_case}/attachments/{attachment_id}",
        headers=await lookup_headers(client, other),
    )
    without_credentials = await client.get(
        f"/api/v1/cases/{owner_case}/attachments/{attachment_id}"
    )

    assert through_own_case.status == 404
    assert naming_the_owners_case.status == 404
    assert (await naming_the_owners_case.json())["error"]["code"] == "case_not_found"
    assert without_credentials.status == 401


def test_only_lengths_the_stream_framing_can_produce_are_attachment_streams() -> None:
    lengths = {ciphertext_length(size) for size in range(0, 600_000, 97)}
    for length in lengths:
        assert is_ciphertext_length(length)
    low, high = min(lengths), max(lengths)
    every = {ciphertext_length(size) for size in range(high)}
    assert [n for n in range(low - 100, high) if is_ciphertext_length(n) != (n in every)] == []
