"""Fixtures of the attack suite: gateways with the settings each attack needs."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.domain.clock import Clock
from gateway.web.app import create_app
from gateway.web.keys import HOTLINE
from tests.fixtures import services
from tests.fixtures.app import ClientFactory, make_settings
from tests.fixtures.broker import RedisProxy, delete_redis_keys
from tests.fixtures.database import sqlite_url
from tests.fixtures.organisation import Organisation
from tests.security.support import Gateway, GatewayFactory


@pytest.fixture
def make_gateway(
    aiohttp_client: ClientFactory,
    tmp_path: Path,
    database_url: str,
    redis_prefix: str | None,
    organisation: Organisation,
) -> GatewayFactory:
    """Gateways on this test's database and broker prefix, with settings overridden by name.

    Every gateway made in one test shares the data folder (hence the pepper), the database
    and, on the services backend, the Redis prefix: two of them are two processes of one
    hotline. (On the embedded backend each has its own in-process broker.)
    """

    async def make(clock: Clock | None = None, **overrides: str) -> Gateway:
        options = {"org_public_key": organisation.public_key_text, "pow_difficulty": "4"}
        options.update(overrides)
        settings = make_settings(tmp_path, database_url, redis_prefix=redis_prefix, **options)
        app = create_app(settings, clock=clock)
        client = await aiohttp_client(app)
        return Gateway(client=client, app=app, hotline=app[HOTLINE], settings=settings)

    return make


@pytest.fixture
async def redis_outage(
    aiohttp_client: ClientFactory,
    tmp_path: Path,
    redis_proxy: RedisProxy,
    organisation: Organisation,
    migrated_sqlite_template: Path,
) -> AsyncIterator[tuple[Gateway, RedisProxy]]:
    """A gateway (SQLite) whose Redis sits behind a relay the test can cut."""
    path = tmp_path / "outage.sqlite3"
    shutil.copyfile(migrated_sqlite_template, path)
    prefix = services.redis_prefix("outage")
    settings = make_settings(
        tmp_path,
        sqlite_url(path),
        redis_prefix=prefix,
        redis_url=redis_proxy.url,
        org_public_key=organisation.public_key_text,
        pow_difficulty="4",
    )
    app = create_app(settings)
    client = await aiohttp_client(app)
    try:
        yield Gateway(client=client, app=app, hotline=app[HOTLINE], settings=settings), redis_proxy
    finally:
        await delete_redis_keys(prefix)
