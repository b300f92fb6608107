"""Graceful shutdown of the real app on a real socket: what happens to requests in flight,
to connections kept alive, and to WebSockets, between the stop signal and the exit.

The gateway is served by `gateway.web.shutdown.serve_until` (what `tipline serve` runs),
with short bounds so that the tests stay quick; tests/cli/test_shutdown.py sends a real
SIGTERM to a real `tipline serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from gateway.config import Settings
from gateway.crypto.encoding import b64encode, canonical_json
from gateway.crypto.pow import parse_challenge, solve
from gateway.crypto.stream import encrypt_stream, new_attachment_key
from gateway.store import Database
from gateway.web.app import create_app
from gateway.web.shutdown import (
    IN_FLIGHT,
    OPEN_SOCKETS,
    RECONNECT_CLOSE_CODE,
    RECONNECT_REASON,
    SOCKET_CLOSE_SECONDS,
    serve_until,
)
from tests.fixtures.ports import free_port
from tests.unit.store.builders import count_rows

UPLOAD_PATH = "/api/v1/reporter/attachments"
TEST_SOCKET_PATH = "/test/socket"


@dataclass
class Serving:
    app: web.Application
    port: int
    stop: asyncio.Event
    task: asyncio.Task[None]
    connections: list[RawConnection]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def connect(self) -> RawConnection:
        connection = await RawConnection.open(self.port)
        self.connections.append(connection)
        return connection

    async def stopped_within(self, seconds: float) -> float:
        """Signal the stop and return how long serving took to end (fails past `seconds`)."""
        started = time.monotonic()
        self.stop.set()
        await asyncio.wait_for(self.task, timeout=seconds)
        return time.monotonic() - started


@contextlib.asynccontextmanager
async def serving(
    app: web.Application, *, grace: float, abort: float = 1.0
) -> AsyncIterator[Serving]:
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve_until(
            app, stop, host="127.0.0.1", port=port, grace_seconds=grace, abort_seconds=abort
        )
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            assert not task.done(), "the gateway did not start"
            assert time.monotonic() < deadline, "the gateway did not listen within 10 s"
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        break
    connections: list[RawConnection] = []
    try:
        yield Serving(app, port, stop, task, connections)
    finally:
        for connection in connections:
            connection.writer.close()
            with contextlib.suppress(OSError):
                await connection.writer.wait_closed()
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=30)


def attachment_ciphertext(plaintext_bytes: int) -> bytes:
    """A real encrypted attachment stream (the gateway checks its framed, padded length)."""
    content = os.urandom(plaintext_bytes)
    return b"".join(encrypt_stream(new_attachment_key(), [content], len(content)))


async def proof_header(base_url: str) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base_url}/api/v1/pow", params={"purpose": "submit"}) as response,
    ):
        assert response.status == 200
        challenge = parse_challenge(await response.json())
    return b64encode(canonical_json(solve(challenge).to_json()))


@dataclass
class RawConnection:
    """HTTP/1.1 by hand, so that a body can arrive in pieces at chosen moments."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def open(cls, port: int) -> RawConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def start_upload(self, proof: str, length: int) -> None:
        await self.send(
            (
                f"POST {UPLOAD_PATH} HTTP/1.1\r\nHost: gateway\r\n"
                "Content-Type: application/octet-stream\r\n"
                f"Content-Length: {length}\r\nX-Tipline-Proof: {proof}\r\n\r\n"
            ).encode()
        )

    async def get(self, path: str) -> None:
        await self.send(f"GET {path} HTTP/1.1\r\nHost: gateway\r\n\r\n".encode())

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout=15)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in header_lines if line)
        }
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, body

    async def at_end(self) -> bool:
        """Whether the server closed the connection."""
        return await asyncio.wait_for(self.reader.read(1), timeout=5) == b""


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.01)


def files_in(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


async def wait_for_partial_blob(blob_dir: Path) -> None:
    """Until the upload's bytes are being written: the request is truly in flight."""
    deadline = time.monotonic() + 10
    while not any(path.name.startswith(".partial-") for path in files_in(blob_dir)):
        assert time.monotonic() < deadline, "the upload never reached the blob store"
        await asyncio.sleep(0.02)


async def attachment_rows(settings: Settings) -> int:
    database = Database.from_url(settings.database_url)
    try:
        return (await count_rows(database))["attachments"]
    finally:
        await database.close()


async def test_an_upload_still_arriving_when_the_stop_comes_is_completed_and_kept(
    settings: Settings,
) -> None:
    ciphertext = attachment_ciphertext(200_000)
    async with serving(create_app(settings), grace=5.0) as gateway:
        proof = await proof_header(gateway.base_url)
        upload = await gateway.connect()
        await upload.start_upload(proof, len(ciphertext))
        await upload.send(ciphertext[:65536])
        await wait_for_partial_blob(settings.blob_dir)

        gateway.stop.set()
        for start in range(65536, len(ciphertext), 20_000):
            await asyncio.sleep(0.05)
            await upload.send(ciphertext[start : start + 20_000])
        status, _, body = await upload.response()

        assert status == 201, body
        assert await upload.at_end(), "the connection must close after the last answer"
        await asyncio.wait_for(gateway.task, timeout=3)

    blobs = files_in(settings.blob_dir)
    assert [path.stat().st_size for path in blobs] == [len(ciphertext)]
    assert await attachment_rows(settings) == 1


async def test_an_upload_that_outlasts_the_grace_is_cut_off_and_leaves_no_blob_and_no_row(
    settings: Settings,
) -> None:
    ciphertext = attachment_ciphertext(200_000)
    grace, abort = 0.5, 1.0
    async with serving(create_app(settings), grace=grace, abort=abort) as gateway:
        proof = await proof_header(gateway.base_url)
        upload = await gateway.connect()
        await upload.start_upload(proof, len(ciphertext))
        await upload.send(ciphertext[:65536])
        await wait_for_partial_blob(settings.blob_dir)

        async def keep_trickling() -> None:
            with contextlib.suppress(OSError):
                for start in range(65536, len(ciphertext), 1024):
                    await asyncio.sleep(0.2)
                    await upload.send(ciphertext[start : start + 1024])

        trickle = asyncio.create_task(keep_trickling())
        took = await gateway.stopped_within(grace + abort + 3)
        trickle.cancel()
        answer = await asyncio.wait_for(upload.reader.read(), timeout=5)

    assert took < grace + abort + 1.5
    assert b"201" not in answer.split(b"\r\n", 1)[0]
    assert files_in(settings.blob_dir) == [], "a cut-off upload must leave no blob, whole or half"
    assert await attachment_rows(settings) == 0


async def test_a_kept_alive_connection_is_answered_once_more_then_closed_while_draining(
    settings: Settings,
) -> None:
    ciphertext = attachment_ciphertext(100_000)
    async with serving(create_app(settings), grace=5.0) as gateway:
        kept_alive = await gateway.connect()
        await kept_alive.get("/healthz")
        status, headers, _ = await kept_alive.response()
        assert status == 200
        assert headers.get("connection", "keep-alive").lower() != "close"
        # An upload in flight keeps the process draining while the rest happens.
        upload = await gateway.connect()
        await upload.start_upload(await proof_header(gateway.base_url), len(ciphertext))
        await upload.send(ciphertext[:65536])
        await wait_for_partial_blob(settings.blob_dir)

        gateway.stop.set()
        await until(lambda: gateway.app[IN_FLIGHT].draining)
        await kept_alive.get("/healthz")
        status, headers, _ = await kept_alive.response()
        assert status == 200
        assert headers["connection"].lower() == "close"
        assert await kept_alive.at_end()
        with pytest.raises(ConnectionRefusedError):
            await gateway.connect()

        await upload.send(ciphertext[65536:])
        status, _, _ = await upload.response()
        assert status == 201
        await asyncio.wait_for(gateway.task, timeout=3)


def app_with_test_socket(settings: Settings) -> web.Application:
    """The real app plus a WebSocket route that registers the way /api/v1/events should."""
    app = create_app(settings)

    async def socket_handler(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async with request.app[OPEN_SOCKETS].holding(socket):
            async for _ in socket:
                pass
        return socket

    app.router.add_get(TEST_SOCKET_PATH, socket_handler)
    return app


async def test_websockets_are_closed_with_service_restart_and_do_not_hold_up_the_stop(
    settings: Settings,
) -> None:
    async with (
        serving(app_with_test_socket(settings), grace=10.0) as gateway,
        aiohttp.ClientSession() as session,
    ):
        sockets = [await session.ws_connect(gateway.base_url + TEST_SOCKET_PATH) for _ in range(3)]
        await until(lambda: len(gateway.app[OPEN_SOCKETS]) == 3)

        gateway.stop.set()
        closes = [await asyncio.wait_for(socket.receive(), timeout=5) for socket in sockets]
        took = await gateway.stopped_within(5)

    assert [(close.type, close.data, close.extra) for close in closes] == [
        (WSMsgType.CLOSE, RECONNECT_CLOSE_CODE, RECONNECT_REASON.decode())
    ] * 3
    assert took < 2, "open sockets must not make the gateway wait for its grace"


async def test_a_websocket_client_that_never_answers_the_close_is_cut_off_within_the_bound(
    settings: Settings,
) -> None:
    async with (
        serving(app_with_test_socket(settings), grace=10.0) as gateway,
        aiohttp.ClientSession() as session,
    ):
        # autoclose off and never reading: the close frame is never answered.
        silent = await session.ws_connect(gateway.base_url + TEST_SOCKET_PATH, autoclose=False)
        await until(lambda: len(gateway.app[OPEN_SOCKETS]) == 1)
        took = await gateway.stopped_within(SOCKET_CLOSE_SECONDS + 5)
        await silent.close()

    assert took < SOCKET_CLOSE_SECONDS + 2


async def test_a_websocket_opened_once_shutdown_began_is_closed_at_once_with_the_hint(
    settings: Settings,
) -> None:
    async with (
        serving(app_with_test_socket(settings), grace=5.0) as gateway,
        aiohttp.ClientSession() as session,
    ):
        # The listener is closed during a real shutdown; this is the race it leaves open.
        gateway.app[OPEN_SOCKETS].closing = True
        late = await session.ws_connect(gateway.base_url + TEST_SOCKET_PATH)
        close = await asyncio.wait_for(late.receive(), timeout=5)

    assert (close.type, close.data) == (WSMsgType.CLOSE, RECONNECT_CLOSE_CODE)
