"""The investigator's side of the fault tests: a login and a live-event WebSocket whose every
event (and its close code) is recorded, so a test can count deliveries per socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from gateway.client.transport import USER_AGENT
from gateway.crypto.encoding import b64encode
from tests.api.investigator_support import Person


async def log_in(session: aiohttp.ClientSession, url: str, person: Person) -> tuple[int, str]:
    """POST /api/v1/auth/login as `person`; (status, session token or error code)."""
    async with session.post(
        url + "/api/v1/auth/login",
        json={
            "username": person.username,
            "auth_key": b64encode(person.auth_key),
            "totp": person.fresh_code(),
            "token_in_body": True,
        },
    ) as response:
        answer = await response.json()
        if response.status == 200:
            return 200, str(answer["session"])
        return response.status, str(answer.get("error", {}).get("code"))


class SocketRefused(AssertionError):
    """The event socket did not become ready: refused (`status`) or closed (`code`)."""

    def __init__(self, status: int | None, code: int | None) -> None:
        super().__init__(f"the event socket did not become ready (HTTP {status}, close {code})")
        self.status = status
        self.code = code


def event_key(event: dict[str, Any]) -> tuple[str, str, str]:
    """What makes two deliveries the same event: topic, case and the event's own time."""
    return str(event.get("topic")), str(event.get("case_id")), str(event.get("at"))


@dataclass
class EventSocket:
    """`GET /api/v1/events` held open by a background task that records what arrives."""

    events: list[dict[str, Any]] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)
    ready_at: float | None = None
    close_code: int | None = None
    refused_status: int | None = None  # the upgrade's answer when it was refused
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _socket: aiohttp.ClientWebSocketResponse | None = None

    @classmethod
    async def open(
        cls, session: aiohttp.ClientSession, url: str, token: str, *, within: float = 10
    ) -> EventSocket:
        socket = cls()
        ready = asyncio.Event()
        socket._task = asyncio.create_task(socket._listen(session, url, token, ready))
        waiter = asyncio.create_task(ready.wait())
        closer = asyncio.create_task(socket.closed.wait())
        await asyncio.wait({waiter, closer}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, closer):
            task.cancel()
        if socket.ready_at is None:
            await socket.close()
            raise SocketRefused(socket.refused_status, socket.close_code)
        return socket

    async def _listen(
        self, session: aiohttp.ClientSession, url: str, token: str, ready: asyncio.Event
    ) -> None:
        try:
            async with session.ws_connect(
                url + "/api/v1/events",
                headers={"Authorization": f"Session {token}", "User-Agent": USER_AGENT},
                heartbeat=None,
            ) as socket:
                self._socket = socket
                async for message in socket:
                    if message.type is not aiohttp.WSMsgType.TEXT:
                        break
                    event: dict[str, Any] = json.loads(message.data)
                    if event.get("topic") == "ready":
                        self.ready_at = time.time()
                        ready.set()
                        continue
                    self.events.append(event)
                    self.received_at.append(time.time())
                self.close_code = socket.close_code
        except aiohttp.WSServerHandshakeError as refusal:
            self.close_code = -1
            self.refused_status = refusal.status
        except aiohttp.ClientError:
            self.close_code = -1
        finally:
            self.closed.set()

    def duplicates(self) -> list[tuple[str, str, str]]:
        """Events this socket received more than once."""
        return [key for key, n in Counter(map(event_key, self.events)).items() if n > 1]

    def received(self, topic: str) -> list[str]:
        """Case ids of the events of `topic` received, in order."""
        return [str(e["case_id"]) for e in self.events if e.get("topic") == topic]

    async def close(self) -> None:
        if self._socket is not None and not self._socket.closed:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                await asyncio.wait_for(self._socket.close(), 3)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Watcher:
    """An investigator who keeps a live-event socket open on one gateway through every fault:
    reconnecting when it closes, logging in again when the session is gone. Every socket it
    held is kept, so a test can count what each received."""

    def __init__(self, session: aiohttp.ClientSession, url: str, person: Person) -> None:
        self.session = session
        self.url = url
        self.person = person
        self.sockets: list[EventSocket] = []
        self.logins = 0

    async def _log_in(self) -> str | None:
        try:
            status, answer = await log_in(self.session, self.url, self.person)
        except AssertionError:
            return None  # three logins within one 30-second TOTP step: wait for the next
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        if status != 200:
            return None
        self.logins += 1
        return answer

    async def run(self, stop: asyncio.Event) -> None:
        token: str | None = None
        while not stop.is_set():
            if token is None:
                token = await self._log_in()
            if token is not None:
                try:
                    socket = await EventSocket.open(self.session, self.url, token, within=5)
                except SocketRefused as refusal:
                    if refusal.status == 401:
                        token = None  # the session went with Redis
                else:
                    self.sockets.append(socket)
                    await _first_of(socket.closed.wait(), stop.wait())
                    if socket.close_code == 4001:
                        token = None
                    if not stop.is_set():
                        continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    def events(self) -> int:
        return sum(len(socket.events) for socket in self.sockets)

    def duplicates(self) -> list[tuple[str, str, str]]:
        return [key for socket in self.sockets for key in socket.duplicates()]

    async def close(self) -> None:
        for socket in self.sockets:
            await socket.close()


async def _first_of(*waits: Coroutine[Any, Any, Any]) -> None:
    tasks = [asyncio.create_task(wait) for wait in waits]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
