"""Fixtures of the fault tests: a private PostgreSQL cluster (one per run), a private Redis
and a deployed hotline (one per test), each stopped and removed afterwards, failed test or not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.fault.deployment import Deployment, deploy
from tests.fault.private_services import PrivatePostgres, PrivateRedis


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of the fault tests' own: they stop and restart it at will."""
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path / "redis")
    try:
        redis.start()
        yield redis
    finally:
        redis.destroy()


@pytest.fixture
async def deployment(
    tmp_path: Path, private_postgres: PrivatePostgres, private_redis: PrivateRedis
) -> AsyncIterator[Deployment]:
    if not private_postgres.running:
        # A test that failed half-way through a PostgreSQL outage left it stopped.
        await asyncio.to_thread(private_postgres.start)
    deployed = await deploy(tmp_path, private_postgres, private_redis)
    try:
        yield deployed
    finally:
        for gateway in deployed.gateways:
            await asyncio.to_thread(gateway.terminate)
