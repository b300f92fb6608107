"""What the attack tests share: gateways built with the settings an attack needs, a full
snapshot of the database to prove "nothing changed", and raw HTTP on a real socket."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from gateway.config import Settings
from gateway.domain.hotline import Hotline
from gateway.store import Database
from gateway.store.models import Base
from tests.fixtures import services

Client = TestClient[Any, Any]
T = TypeVar("T")

# For attacks whose outcome does not depend on the database or broker backend (parsers,
# sockets, body handling): run them once, on the embedded backend, to keep the suite short.
embedded_only = pytest.mark.parametrize(
    "database_backend",
    ["embedded"] if "embedded" in services.BACKENDS else [],
    indirect=True,
)


@dataclass
class Gateway:
    """A running gateway (an aiohttp test server on 127.0.0.1) and its parts."""

    client: Client
    app: web.Application
    hotline: Hotline
    settings: Settings

    @property
    def host(self) -> str:
        return str(self.client.host)

    @property
    def port(self) -> int:
        return int(self.client.port)

    @property
    def origin(self) -> str:
        return str(self.client.make_url("/").origin())


GatewayFactory = Callable[..., Awaitable[Gateway]]


# The outbox relay runs in the background and marks rows delivered whenever it gets to
# them: its bookkeeping is not something a request changed. (A new outbox row still shows.)
RELAY_BOOKKEEPING: Final = {"outbox": {"available_at", "attempts", "last_error", "delivered_at"}}


async def database_snapshot(database: Database) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table, every column (but the relay's bookkeeping), as sorted text:
    equal snapshots mean nothing in the database changed, not merely the row counts."""
    snapshot: dict[str, list[tuple[str, ...]]] = {}
    async with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            skipped = RELAY_BOOKKEEPING.get(table.name, set())
            columns = [column for column in table.columns if column.name not in skipped]
            rows = await connection.execute(select(*columns))
            snapshot[table.name] = sorted(tuple(_text(value) for value in row) for row in rows)
    return snapshot


def _text(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return repr(value)


@dataclass(frozen=True)
class RawAnswer:
    status: int
    head: bytes
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def raw_request(
    host: str,
    port: int,
    head: bytes,
    body_parts: tuple[bytes, ...] = (),
    *,
    pause: float = 0.0,
    wait: float = 30.0,
) -> RawAnswer:
    """Send bytes exactly as given on a fresh connection and read one answer.

    The answer is read by its Content-Length, not to the end of the connection (aiohttp
    lingers on a connection whose body it did not read). A connection the server closed
    without answering gives status 0.
    """
    reader, writer = await asyncio.open_connection(host, port)
    try:
        async with asyncio.timeout(wait):
            writer.write(head)
            for part in body_parts:
                await writer.drain()
                if pause:
                    await asyncio.sleep(pause)
                writer.write(part)
            await writer.drain()
            try:
                head_bytes = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return RawAnswer(status=0, head=b"", body=b"")
            length = 0
            for line in head_bytes.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length)
    finally:
        writer.close()
    status = int(head_bytes.split(b" ", 2)[1])
    return RawAnswer(status=status, head=head_bytes, body=body)


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    """One piece of a `Transfer-Encoding: chunked` body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class LiveGateway:
    """The gateway on a real socket on 127.0.0.1, served from a thread with its own event
    loop, for clients that block (Schemathesis speaks `requests`)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        self.run(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self.run(site.start())
        self.port = self._runner.addresses[0][1]

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the server's loop (where the app's database and broker live)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.run(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
