"""Plaintext canaries: after a tip, a reply and an attachment carrying unique strings, no
table, file, broker entry or log line holds any of them, the pickup code or the locator."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from gateway.client.attachment_files import AttachmentSource
from gateway.client.reporter import ReporterClient, TipDraft
from gateway.client.transport import Transport
from gateway.config import Settings
from gateway.crypto.encoding import b64encode
from gateway.crypto.pickup import derive_reporter_keys
from gateway.domain.hotline import Hotline
from gateway.store import Database
from gateway.store.models import Base
from tests.api.reporter_support import AnonymousReporter, investigator_writes, vet_with_account
from tests.fixtures import services
from tests.fixtures.organisation import Organisation

Client = TestClient[Any, Any]


@pytest.fixture
async def transport(client: Client) -> AsyncIterator[Transport]:
    async with Transport(str(client.server.make_url("/"))) as opened:
        yield opened


async def database_cells(database: Database) -> AsyncIterator[tuple[str, bytes]]:
    """Every cell of every table as bytes, named `table.column`."""
    async with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in await connection.execute(select(table)):
                for column, value in row._mapping.items():
                    yield f"{table.name}.{column}", _as_bytes(value)


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict | list):
        return json.dumps(value).encode()
    return str(value).encode()


def files_under(folder: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield str(path), path.read_bytes()


async def redis_entries(prefix: str) -> AsyncIterator[tuple[str, bytes]]:
    """Every key under the test's prefix, and every value it holds, as bytes."""
    client = redis.asyncio.Redis.from_url(services.REDIS_URL)
    try:
        async for key in client.scan_iter(match=prefix + "*"):
            kind = (await client.type(key)).decode()
            if kind == "string":
                value: Any = await client.get(key)
            elif kind == "hash":
                value = await client.hgetall(key)
            elif kind == "zset":
                value = await client.zrange(key, 0, -1, withscores=True)
            elif kind == "set":
                value = await client.smembers(key)
            else:
                value = await client.lrange(key, 0, -1)
            yield key.decode(), key + repr(value).encode()
    finally:
        await client.aclose()


def memory_state(obj: object, depth: int = 0, seen: set[int] | None = None) -> Iterator[bytes]:
    """Every string and byte string reachable inside the in-process broker's state."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 8:
        return
    seen.add(id(obj))
    if isinstance(obj, bytes | bytearray | str):
        yield obj.encode() if isinstance(obj, str) else bytes(obj)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from memory_state(key, depth + 1, seen)
            yield from memory_state(value, depth + 1, seen)
    elif isinstance(obj, list | tuple | set | frozenset):
        for item in obj:
            yield from memory_state(item, depth + 1, seen)
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("gateway"):
        yield from memory_state(vars(obj), depth + 1, seen)


async def test_no_canary_code_or_locator_reaches_the_database_files_broker_or_logs(
    client: Client,
    hotline: Hotline,
    *,
    organisation: Organisation,
    transport: Transport,
    settings: Settings,
    redis_prefix: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    run = uuid.uuid4().hex[:12]
    canaries = {
        name: f"CANARY-{name}-{run}"
        for name in ("tip", "field", "file-name", "file-content", "reply", "reply-file")
    }
    triage = await vet_with_account(hotline, organisation, "triage")
    reporter = ReporterClient(transport, organisation.public_key)
    submitted = await reporter.submit(
        TipDraft(
            body=f"Tip: {canaries['tip']}",
            fields={"location": canaries["field"]},
            attachments=[
                AttachmentSource.from_bytes(
                    f"{canaries['file-name']}.txt", canaries["file-content"].encode() * 100
                )
            ],
            urgent=True,
        )
    )
    keys = derive_reporter_keys(submitted.code, organisation.public_key)
    await investigator_writes(
        hotline,
        triage,
        AnonymousReporter(locator=keys.locator, keys=keys.enc),
        "followup",
        "Vraag?",
    )
    thread = await reporter.open_case(submitted.code)
    await reporter.reply(
        thread,
        f"Reply: {canaries['reply']}",
        attachments=[AttachmentSource.from_bytes("kaart.png", canaries["reply-file"].encode())],
    )
    await reporter.open_case(submitted.code)
    needles = {
        **{name: text.encode() for name, text in canaries.items()},
        "pickup code": submitted.code.normalised.encode(),
        "pickup code as shown": submitted.code.display().encode(),
        "locator": keys.locator.value,
        "locator (base64url)": keys.locator.encoded().encode(),
        "reporter secret key": keys.enc.secret,
        "reporter secret key (base64url)": b64encode(keys.enc.secret).encode(),
    }

    places: list[tuple[str, bytes]] = [cell async for cell in database_cells(hotline.database)]
    places += list(files_under(settings.data_dir))
    if redis_prefix is not None:
        places += [entry async for entry in redis_entries(redis_prefix)]
    else:
        places += [("memory broker", b) for b in memory_state(hotline.broker)]
    places += [
        (f"log {record.name}", (record.getMessage() + repr(vars(record))).encode())
        for record in caplog.records
    ]

    # Positive controls: the scan sees what is meant to be stored and logged.
    assert any(keys.enc.public in data for where, data in places if where.startswith("cases."))
    assert any(b"tips_received" in data for where, data in places if where.startswith("log "))
    assert any(where.startswith("attachments.") for where, _ in places)
    found = [
        (needle, where)
        for where, data in places
        for needle, value in needles.items()
        if value in data
    ]
    assert found == []
