"""The soak, on demand: a hotline under a steady rate of tips while every fault of this
folder is injected at random, then the same checks as the single-fault tests.

Two gateway processes share the private PostgreSQL and Redis, as in production: `steady`
is never killed (its resident memory is sampled throughout and must stay flat), `victim`
is killed with SIGKILL and restarted. Reporters send a tip every 1/rate seconds to either
of them; an investigator keeps a live-event socket open on `steady` through everything.
Faults, one at a time, at random gaps: kill -9 of `victim`, Redis killed and restarted,
Redis stalled (SIGSTOP), PostgreSQL restarted (fast shutdown) and crashed (immediate).

Afterwards: every tip that got a `201` reads back by its code, no case is half-written,
the upload sweep a day later leaves no orphan blob, every live event is relayed and no
socket received one twice, nothing but `201` or `503 unavailable` was answered, and a
connection was cut only by a kill. The test prints its counts.

Not collected by the default run (the file name is not `test_*.py`). Run it with
`make soak` (10 minutes) or, e.g.,
`TIPLINE_SOAK_SECONDS=45 .venv/bin/pytest tests/fault/soak.py -s` for a short version;
`TIPLINE_SOAK_RATE` (tips per second, 1) and `TIPLINE_SOAK_SEED` (replays a fault plan).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fault.checks import (
    half_written_cases,
    live_outbox,
    orphan_blobs,
    read_back,
    sweep_a_day_later,
)
from tests.fault.deployment import Deployment
from tests.fault.gateway_process import GatewayProcess
from tests.fault.investigators import Watcher
from tests.fault.traffic import Broken, Reporters, TipPlan, wait_for

DURATION = float(os.environ.get("TIPLINE_SOAK_SECONDS", "600"))
RATE = float(os.environ.get("TIPLINE_SOAK_RATE", "1.0"))
SEED = int(os.environ.get("TIPLINE_SOAK_SEED", "0")) or random.SystemRandom().randrange(1, 2**31)
MEMORY_EVERY_SECONDS = 5.0
# Memory is judged after the warm-up (caches, pools, the first of each kind of request),
# and only over a window long enough to show a trend.
WARM_UP_SECONDS = max(60.0, DURATION / 5)
MIN_MEMORY_WINDOW_SECONDS = 120.0
MEMORY_GROWTH_ALLOWED = 1.10  # the last third's median against the first third's
MEMORY_SLACK_KIB = 8 * 1024

KILL = "kill -9 of a gateway"
REDIS_RESTART = "Redis restart"
REDIS_STALL = "Redis stall"
POSTGRES_RESTART = "PostgreSQL restart"
POSTGRES_CRASH = "PostgreSQL crash"
WATCHER_PATHS = frozenset({"/api/v1/events", "/api/v1/auth/login"})
FAULTS = (KILL, REDIS_RESTART, REDIS_STALL, POSTGRES_RESTART, POSTGRES_CRASH)


@dataclass(frozen=True)
class Fault:
    kind: str
    started: float
    seconds: float


class FaultInjector:
    """One fault at a time at random gaps, every kind once before any repeats."""

    def __init__(
        self, deployment: Deployment, victim: GatewayProcess, rng: random.Random, gap: float
    ) -> None:
        self.deployment = deployment
        self.victim = victim
        self.rng = rng
        self.gap = gap
        self.done: list[Fault] = []

    async def run(self, stop: asyncio.Event) -> None:
        plan: list[str] = []
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.gap * self.rng.uniform(0.5, 1.5))
            if stop.is_set():
                return
            if not plan:
                plan = self.rng.sample(FAULTS, len(FAULTS))
            kind = plan.pop()
            started = time.time()
            await self.inject(kind)
            self.done.append(Fault(kind, started, time.time() - started))

    async def inject(self, kind: str) -> None:
        postgres = self.deployment.postgres
        redis = self.deployment.redis
        down = self.rng.uniform(2.0, 5.0)
        if kind == KILL:
            self.victim.kill9()
            await asyncio.sleep(self.rng.uniform(0.5, 2.0))
            await asyncio.to_thread(self.victim.start)
        elif kind == REDIS_RESTART:
            await asyncio.to_thread(redis.kill)
            await asyncio.sleep(down)
            await asyncio.to_thread(redis.start)
        elif kind == REDIS_STALL:
            redis.pause()
            try:
                await asyncio.sleep(down)
            finally:
                redis.resume()
        else:
            mode = "fast" if kind == POSTGRES_RESTART else "immediate"
            await asyncio.to_thread(postgres.stop, mode)
            await asyncio.sleep(down)
            await asyncio.to_thread(postgres.start)


async def sample_memory(
    gateway: GatewayProcess, stop: asyncio.Event, samples: list[tuple[float, int]]
) -> None:
    while not stop.is_set():
        rss = gateway.rss_kib()
        if rss is not None:
            samples.append((time.time(), rss))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), MEMORY_EVERY_SECONDS)


def memory_verdict(samples: list[tuple[float, int]], began: float) -> tuple[bool | None, str]:
    """(flat?, summary): None when the window after the warm-up is too short to judge."""
    window = [rss for at, rss in samples if at >= began + WARM_UP_SECONDS]
    summary = (
        f"RSS of the steady gateway: {samples[0][1] // 1024} MiB at start, "
        f"max {max(r for _, r in samples) // 1024} MiB, {samples[-1][1] // 1024} MiB at the end"
    )
    span = len(window) * MEMORY_EVERY_SECONDS
    if span < MIN_MEMORY_WINDOW_SECONDS:
        return None, summary + f" (after warm-up only {span:.0f} s: too short to judge a trend)"
    third = max(1, len(window) // 3)
    early, late = statistics.median(window[:third]), statistics.median(window[-third:])
    flat = late <= early * MEMORY_GROWTH_ALLOWED + MEMORY_SLACK_KIB
    return flat, summary + (
        f"; after warm-up: median {early / 1024:.1f} MiB in the first third, "
        f"{late / 1024:.1f} MiB in the last ({(late - early) / 1024:+.1f} MiB)"
    )


def during_a_kill(outcome: Broken, victim: GatewayProcess, faults: list[Fault]) -> bool:
    return outcome.gateway == victim.url and any(
        f.kind == KILL and f.started - 1 <= outcome.at <= f.started + f.seconds + 1 for f in faults
    )


@pytest.mark.slow
@pytest.mark.timeout(int(DURATION) + 900)
async def test_a_soak_with_random_faults_loses_no_accepted_tip_and_keeps_memory_flat(
    deployment: Deployment, tmp_path: Path
) -> None:
    steady = deployment.gateway("steady")
    victim = deployment.gateway("victim")
    await asyncio.gather(deployment.start(steady), deployment.start(victim))
    rng = random.Random(SEED)
    reporters = Reporters(
        [steady.url, victim.url],
        deployment.organisation.public_key,
        plan=TipPlan(attach_every=3, attachment_bytes=60_000),
        seed=SEED,
    )
    session = reporters.observer.session
    watcher = Watcher(session, steady.url, deployment.person)
    injector = FaultInjector(deployment, victim, rng, gap=min(30.0, max(8.0, DURATION / 20)))
    memory: list[tuple[float, int]] = []
    database = await deployment.database()
    stop = asyncio.Event()
    began = time.time()
    print(f"\nsoak: {DURATION:.0f} s at {RATE} tips/s, seed {SEED}", flush=True)
    running = asyncio.gather(
        reporters.run_steady(stop, rate=RATE),
        watcher.run(stop),
        injector.run(stop),
        sample_memory(steady, stop, memory),
    )
    try:
        await asyncio.sleep(DURATION)
        stop.set()
        await asyncio.wait_for(running, 120)
        soaked = time.time() - began
        checks_began = time.monotonic()
        assert steady.alive, "the steady gateway died"
        if not victim.alive:
            await deployment.start(victim)

        async def relayed_everything() -> bool:
            return all(r.delivered_at is not None for r in await live_outbox(database))

        await wait_for("every live event relayed", relayed_everything, within=90, poll=0.5)
        accepted = reporters.accepted
        problems = await read_back(
            steady.url,
            deployment.organisation.public_key,
            accepted,
            tmp_path / "read-back",
            session=session,
        )
        half_written = await half_written_cases(database)
        swept = await sweep_a_day_later(deployment.settings)
        orphans = await orphan_blobs(database, deployment.blob_dir)
        # The reporters' side (the watcher's logins and socket upgrades share the session).
        statuses = Counter(
            e.status for e in reporters.observer.exchanges if e.path not in WATCHER_PATHS
        )
        refusals = Counter((o.status, o.code) for o in reporters.refused)
        stray_breaks = [o for o in reporters.broken if not during_a_kill(o, victim, injector.done)]
        flat, memory_summary = memory_verdict(memory, began)
        print(
            f"soak finished after {soaked:.0f} s (checks {time.monotonic() - checks_began:.0f} s), "
            f"seed {SEED}\n"
            f"  faults: {dict(Counter(f.kind for f in injector.done))}\n"
            f"  tips: {reporters.counts()}, beats skipped {reporters.skipped}; "
            f"refusals {dict(refusals)}; connections cut outside a kill: {len(stray_breaks)}\n"
            f"  HTTP answers: {dict(sorted(statuses.items(), key=lambda kv: str(kv[0])))}\n"
            f"  read back by code: {len(accepted) - len(problems)}/{len(accepted)}; "
            f"half-written cases {len(half_written)}; swept a day later {swept}; "
            f"orphans {len(orphans)}\n"
            f"  live events: {watcher.events()} on {len(watcher.sockets)} sockets "
            f"({watcher.logins} logins), duplicates {len(watcher.duplicates())}\n"
            f"  {memory_summary}",
            flush=True,
        )
        assert problems == [], problems[:20]
        assert half_written == []
        assert orphans == [], orphans[:20]
        assert watcher.duplicates() == []
        assert set(refusals) <= {(503, "unavailable")}, refusals
        assert set(statuses) <= {200, 201, 503, None}, statuses
        assert stray_breaks == [], stray_breaks[:10]
        assert flat is not False, memory_summary
        assert len(accepted) >= DURATION * RATE / 3, "too few tips got through to mean much"
    finally:
        stop.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(running, 30)
        if not deployment.postgres.running:
            await asyncio.to_thread(deployment.postgres.start)
        await watcher.close()
        await reporters.close()
        await database.close()
