"""The benchmark's own PostgreSQL database and Redis key prefix, and a description of the machine.

Every run creates `tipline_bench_<random>` and `tipline-bench:<random>:` and removes both at
the end (never FLUSHDB: the machine's Redis is shared). The machine's description (cores,
memory, load) goes into every report, because the figures mean nothing without it.
"""

from __future__ import annotations

import os
import platform
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as redis
from sqlalchemy import make_url

from tests.fixtures import services as test_services

DATABASE_PREFIX = "tipline_bench_"


@dataclass(frozen=True)
class BenchServices:
    """One run's database and Redis prefix on the machine's PostgreSQL and Redis."""

    database_name: str
    redis_url: str
    redis_prefix: str
    admin_dsn: str = test_services.POSTGRES_ADMIN_DSN

    @property
    def dsn(self) -> str:
        """For asyncpg (the ceiling servers)."""
        return make_url(self.admin_dsn).set(database=self.database_name).render_as_string(False)

    @property
    def database_url(self) -> str:
        """For the gateway (SQLAlchemy with asyncpg)."""
        url = make_url(self.admin_dsn).set(drivername="postgresql+asyncpg")
        return url.set(database=self.database_name).render_as_string(False)


async def create_services(redis_url: str = test_services.REDIS_URL) -> BenchServices:
    run = secrets.token_hex(5)
    services = BenchServices(
        database_name=f"{DATABASE_PREFIX}{run}",
        redis_url=redis_url,
        redis_prefix=f"tipline-bench:{run}:",
    )
    admin = await asyncpg.connect(services.admin_dsn, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{services.database_name}"')
    finally:
        await admin.close()
    return services


async def drop_services(services: BenchServices) -> None:
    """Drop the database and delete every Redis key under the run's prefix."""
    assert services.database_name.startswith(DATABASE_PREFIX), "only bench databases are dropped"
    admin = await asyncpg.connect(services.admin_dsn, timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{services.database_name}" WITH (FORCE)')
    finally:
        await admin.close()
    client = redis.Redis.from_url(services.redis_url)
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=services.redis_prefix + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await client.unlink(*batch)
                batch.clear()
        if batch:
            await client.unlink(*batch)
    finally:
        await client.aclose()


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def uptime_line() -> str:
    """What `uptime` prints: the load the figures were measured under."""
    try:
        return subprocess.run(
            ["uptime"], capture_output=True, text=True, check=False, timeout=5
        ).stdout.strip()
    except OSError:
        return "load average: {:.2f}, {:.2f}, {:.2f}".format(*load_average())


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return float("nan")


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "uptime": uptime_line(),
    }
