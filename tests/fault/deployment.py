"""A hotline deployed on the fault tests' private services, ready to be broken.

One database on the private PostgreSQL cluster, one private Redis, one data folder (the
server pepper, the audit key and the blob folder, shared by every gateway process as in
production), the test organisation and one vetted investigator with an account who is on
duty and holds the triage and liaison roles (so every tip, emergency and escalation is
announced to them). Gateway processes are started from the same environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from gateway.config import Settings, load_settings
from gateway.crypto.directory import LIAISON, TRIAGE
from gateway.domain.clock import Clock, SystemClock
from gateway.domain.hotline import Hotline
from gateway.store import Database, migrate
from gateway.web.app import create_app
from gateway.web.keys import HOTLINE
from tests.api.investigator_support import Person, enroll_person, vet
from tests.cli.test_serve import clean_environment
from tests.fault.gateway_process import GatewayProcess
from tests.fault.private_services import PrivatePostgres, PrivateRedis, free_port
from tests.fixtures.organisation import Organisation

POW_DIFFICULTY = "4"
_database_names = itertools.count(1)


class ShiftedClock:
    """The system clock moved by a fixed offset: 'a day later' for the sweep."""

    def __init__(self, offset: timedelta) -> None:
        self._offset = offset

    def now(self) -> datetime:
        return SystemClock().now() + self._offset


@asynccontextmanager
async def hotline_of(settings: Settings, *, clock: Clock | None = None) -> AsyncIterator[Hotline]:
    """The domain's dependencies exactly as the app factory builds them, without serving and
    without the background loops (relay, scanner, purge): for setting people up and for
    running the upload sweep with a moved clock."""
    app = create_app(settings, clock=clock)
    async with contextlib.AsyncExitStack() as opened:
        # The resources open in the factory's order; the Hotline comes before any loop.
        for context in app.cleanup_ctx:
            if HOTLINE in app:
                break
            generator = context(app)
            await anext(generator)
            opened.push_async_callback(_finish, generator)
        yield app[HOTLINE]


async def _finish(generator: AsyncIterator[None]) -> None:
    with contextlib.suppress(StopAsyncIteration):
        await anext(generator)


async def create_database(postgres: PrivatePostgres) -> str:
    """A fresh, migrated database on the private cluster; returns its URL."""
    name = f"tipline_fault_{next(_database_names)}"
    admin = await asyncpg.connect(postgres.admin_dsn, timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = postgres.url(name)
    await migrate.upgrade(url)
    return url


@dataclass
class Deployment:
    folder: Path
    postgres: PrivatePostgres
    redis: PrivateRedis
    database_url: str
    organisation: Organisation
    env: dict[str, str]
    investigator: Person | None = None
    gateways: list[GatewayProcess] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return load_settings(None, self.env)

    @property
    def blob_dir(self) -> Path:
        return self.settings.blob_dir

    @property
    def person(self) -> Person:
        assert self.investigator is not None
        return self.investigator

    def gateway(self, name: str = "gateway") -> GatewayProcess:
        """A new gateway process on a free port (not started yet)."""
        made = GatewayProcess(name, free_port(), self.env, self.folder)
        self.gateways.append(made)
        return made

    async def start(self, gateway: GatewayProcess) -> None:
        await asyncio.to_thread(gateway.start)

    async def database(self) -> Database:
        return Database.from_url(self.database_url, pool_size=2, max_overflow=2)


async def deploy(folder: Path, postgres: PrivatePostgres, redis: PrivateRedis) -> Deployment:
    """Create the database, the data folder's secrets and the on-duty investigator."""
    organisation = Organisation()
    home = folder / "home"
    home.mkdir(parents=True, exist_ok=True)
    database_url = await create_database(postgres)
    env = clean_environment(home) | {
        "TIPLINE_DATA_DIR": str(folder / "data"),
        "TIPLINE_DATABASE_URL": database_url,
        "TIPLINE_REDIS_URL": redis.url,
        "TIPLINE_REDIS_KEY_PREFIX": "tipline-fault:",
        "TIPLINE_ORG_PUBLIC_KEY": organisation.public_key_text,
        "TIPLINE_POW_DIFFICULTY": POW_DIFFICULTY,
        "TIPLINE_LOG_FORMAT": "json",
        # Escalations are checked every second, so a deadline moved into the past fires soon.
        "TIPLINE_ESCALATION_SCAN_SECONDS": "1",
        # The abuse limits stay on (they need Redis like everything anonymous does, and fail
        # closed with it) but high enough that one test machine's steady traffic is no flood,
        # and the proof of work stays cheap under load.
        "TIPLINE_NETWORK_PER_MINUTE": "20000",
        "TIPLINE_ANONYMOUS_PER_MINUTE": "20000",
        "TIPLINE_POW_LOAD_THRESHOLD": "1000000",
        "TIPLINE_POW_MAX_DIFFICULTY": POW_DIFFICULTY,
    }
    deployment = Deployment(folder, postgres, redis, database_url, organisation, env)
    async with hotline_of(deployment.settings) as hotline:
        person = await vet(hotline, organisation, await enroll_person(hotline, TRIAGE, LIAISON))
        async with hotline.database.transaction() as tx:
            await tx.investigators.set_on_duty(person.investigator_id, True)
    deployment.investigator = person
    return deployment
