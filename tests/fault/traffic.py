"""Reporters submitting tips through the real client library while the test breaks things.

Every HTTP exchange is observed through an aiohttp trace (status, `Retry-After`, how long
the answer took, or the connection error), and every tip ends in one outcome: accepted
(a `201`: the test keeps the pickup code and what was sent, to read it back later),
refused (the gateway's error status and code) or broken (no answer: the connection was
cut). Nothing here sleeps on the event loop's thread: Argon2id and proof-of-work solving
run in worker threads inside the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Final

import aiohttp

from gateway.client.attachment_files import AttachmentSource
from gateway.client.reporter import ReporterClient, TipDraft
from gateway.client.transport import USER_AGENT, ApiError, Transport
from gateway.crypto.pickup import PickupCode

# Generous, so that a hanging request is measured as slow instead of being cut short.
CLIENT_TIMEOUT: Final = aiohttp.ClientTimeout(total=60, connect=10)


@dataclass(frozen=True)
class Exchange:
    """One HTTP request as the client saw it."""

    method: str
    path: str
    started: float  # wall clock, comparable with the database's timestamps
    seconds: float
    status: int | None  # None: no answer (connection refused, reset, timed out)
    retry_after: str | None = None
    failure: str | None = None


@dataclass(frozen=True)
class Accepted:
    code: PickupCode = field(repr=False)
    body: str = field(repr=False)
    attachments: dict[str, bytes] = field(repr=False)
    urgent: bool
    gateway: str
    at: float


@dataclass(frozen=True)
class Refused:
    status: int
    code: str
    gateway: str
    at: float


@dataclass(frozen=True)
class Broken:
    error: str
    gateway: str
    at: float


Outcome = Accepted | Refused | Broken


class Observer:
    """An aiohttp session whose every exchange is recorded in `exchanges`."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(self._started)
        trace.on_request_end.append(self._ended)
        trace.on_request_exception.append(self._failed)
        self.session = aiohttp.ClientSession(
            timeout=CLIENT_TIMEOUT,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": USER_AGENT},
            trace_configs=[trace],
        )

    async def _started(
        self, _session: aiohttp.ClientSession, context: SimpleNamespace, _params: object
    ) -> None:
        context.wall = time.time()
        context.clock = time.monotonic()

    async def _ended(
        self,
        _session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        self.exchanges.append(
            Exchange(
                method=params.method,
                path=params.url.path,
                started=context.wall,
                seconds=time.monotonic() - context.clock,
                status=params.response.status,
                retry_after=params.response.headers.get("Retry-After"),
            )
        )

    async def _failed(
        self,
        _session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestExceptionParams,
    ) -> None:
        self.exchanges.append(
            Exchange(
                method=params.method,
                path=params.url.path,
                started=context.wall,
                seconds=time.monotonic() - context.clock,
                status=None,
                failure=type(params.exception).__name__,
            )
        )

    def between(self, start: float, end: float) -> list[Exchange]:
        """Exchanges that started in the wall-clock interval [start, end)."""
        return [e for e in self.exchanges if start <= e.started < end]

    async def close(self) -> None:
        await self.session.close()


def slow_source(
    name: str, data: bytes, *, piece: int = 16384, pause: float = 0.05
) -> AttachmentSource:
    """An attachment read slowly, as from a phone on a bad line: its upload stays in flight."""

    async def read() -> AsyncIterator[bytes]:
        for start in range(0, len(data), piece):
            await asyncio.sleep(pause)
            yield data[start : start + piece]

    return AttachmentSource(name=name, size=len(data), read=read)


@dataclass
class TipPlan:
    """What the reporters send: every `attach_every`-th tip carries a file of `attachment_bytes`;
    `slow_every`-th tips stream theirs slowly; `urgent_every`-th tips are emergencies."""

    attach_every: int = 2
    attachment_bytes: int = 150_000
    slow_every: int = 0
    slow_bytes: int = 600_000
    urgent_every: int = 0


class Reporters:
    """`concurrency` reporters submitting tips until `stop` is set, spread over `gateways`."""

    def __init__(
        self,
        gateways: Sequence[str],
        org_public_key: bytes,
        *,
        concurrency: int = 3,
        pause: float = 0.0,
        plan: TipPlan | None = None,
        seed: int = 0,
    ) -> None:
        self.gateways = list(gateways)
        self.org_public_key = org_public_key
        self.concurrency = concurrency
        self.pause = pause
        self.plan = plan or TipPlan()
        self.outcomes: list[Outcome] = []
        self.observer = Observer()
        self._numbers = itertools.count(1)
        self._random = random.Random(seed)
        self.in_flight = 0
        self.skipped = 0

    @property
    def accepted(self) -> list[Accepted]:
        return [o for o in self.outcomes if isinstance(o, Accepted)]

    @property
    def refused(self) -> list[Refused]:
        return [o for o in self.outcomes if isinstance(o, Refused)]

    @property
    def broken(self) -> list[Broken]:
        return [o for o in self.outcomes if isinstance(o, Broken)]

    def counts(self) -> dict[str, int]:
        tally = Counter(type(o).__name__.lower() for o in self.outcomes)
        return {kind: tally[kind] for kind in ("accepted", "refused", "broken")}

    def draft(self, number: int, *, urgent: bool | None = None) -> TipDraft:
        plan = self.plan
        attachments: list[AttachmentSource] = []
        if plan.slow_every and number % plan.slow_every == 0:
            attachments.append(slow_source(f"slow-{number}.bin", os.urandom(plan.slow_bytes)))
        elif plan.attach_every and number % plan.attach_every == 0:
            size = self._random.randint(plan.attachment_bytes // 2, plan.attachment_bytes)
            attachments.append(AttachmentSource.from_bytes(f"photo-{number}.jpg", os.urandom(size)))
        return TipDraft(
            body=f"fault tip {number} {os.urandom(6).hex()}: a van outside the school again",
            fields={"location": "Zwolle"},
            attachments=attachments,
            urgent=bool(plan.urgent_every and number % plan.urgent_every == 0)
            if urgent is None
            else urgent,
        )

    async def submit_one(self, gateway: str, *, urgent: bool | None = None) -> Outcome:
        """One tip, start to end, recorded among the outcomes."""
        draft = self.draft(next(self._numbers), urgent=urgent)
        kept: dict[str, bytes] = {}
        for source in draft.attachments:
            kept[source.name] = b"".join([piece async for piece in source.read()])
        client = ReporterClient(
            Transport(gateway, session=self.observer.session), self.org_public_key
        )
        self.in_flight += 1
        try:
            submission = await client.submit(draft)
        except ApiError as refusal:
            outcome: Outcome = Refused(refusal.status, refusal.code, gateway, time.time())
        except (aiohttp.ClientError, TimeoutError) as error:
            outcome = Broken(type(error).__name__, gateway, time.time())
        else:
            outcome = Accepted(
                code=submission.code,
                body=draft.body,
                attachments=kept,
                urgent=draft.urgent,
                gateway=gateway,
                at=time.time(),
            )
        finally:
            self.in_flight -= 1
        self.outcomes.append(outcome)
        return outcome

    async def run(self, stop: asyncio.Event) -> None:
        async def reporter(index: int) -> None:
            while not stop.is_set():
                gateway = self.gateways[(index + self._random.randrange(97)) % len(self.gateways)]
                outcome = await self.submit_one(gateway)
                # A reporter who got no answer or a 503 tries again a little later.
                wait = self.pause if isinstance(outcome, Accepted) else max(self.pause, 0.3)
                if wait:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), wait)

        await asyncio.gather(*(reporter(index) for index in range(self.concurrency)))

    async def run_steady(self, stop: asyncio.Event, *, rate: float, max_in_flight: int = 8) -> None:
        """Start a tip every 1/`rate` seconds on a random gateway until `stop`; a beat is
        skipped (and counted) while `max_in_flight` tips are still on their way."""
        running: set[asyncio.Task[Outcome]] = set()
        loop = asyncio.get_running_loop()
        beat = loop.time()
        while not stop.is_set():
            if len(running) < max_in_flight:
                task = asyncio.create_task(self.submit_one(self._random.choice(self.gateways)))
                running.add(task)
                task.add_done_callback(running.discard)
            else:
                self.skipped += 1
            beat += 1 / rate
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, beat - loop.time()))
        await asyncio.gather(*running)

    async def close(self) -> None:
        await self.observer.close()


async def wait_for(
    condition: str,
    check: Callable[[], bool | Awaitable[bool]],
    *,
    within: float,
    poll: float = 0.05,
) -> None:
    """Wait until `check()` is true; fail naming `condition` after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within} s for {condition}")
        await asyncio.sleep(poll)


async def probe(
    session: aiohttp.ClientSession, url: str, stop: asyncio.Event, every: float
) -> None:
    """GET `url` every `every` seconds until `stop` (the observer records each answer)."""
    while not stop.is_set():
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(url) as response:
                await response.read()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
