"""The demo organisation: made once at start-up on the embedded profile, through the real
enrollment and vetting paths, and usable at once: its triage investigator logs in."""

from __future__ import annotations

import json
import stat
import time
from dataclasses import replace

import pytest

from gateway.client.investigator import InvestigatorClient
from gateway.config import ConfigError, Settings, load_settings
from gateway.crypto import totp
from gateway.crypto.encoding import b64decode
from gateway.demo import CREDENTIALS_TEXT, PEOPLE, demo_folder, demo_organisation_key
from gateway.store.records import InvestigatorStatus
from gateway.web.app import create_app
from gateway.web.keys import HOTLINE
from tests.fixtures.app import ClientFactory


@pytest.fixture
def demo_settings(settings: Settings) -> Settings:
    return replace(settings, demo=True, org_public_key=None)


async def test_the_demo_triage_investigator_logs_in_through_the_client(
    aiohttp_client: ClientFactory, demo_settings: Settings
) -> None:
    app = create_app(demo_settings)
    client = await aiohttp_client(app)
    folder = demo_folder(demo_settings)
    credentials = folder / CREDENTIALS_TEXT
    assert "NOT SECURE" in credentials.read_text()
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    secrets = json.loads((folder / "credentials.json").read_text())
    org_key = b64decode(
        (folder / "organisation-public-key.txt").read_text().strip(), what="key", length=32
    )
    triage = next(person for person in PEOPLE if person.username == "demo-triage")
    assert triage.passphrase in credentials.read_text()

    async with InvestigatorClient(
        str(client.make_url("")).rstrip("/"), org_public_key=org_key
    ) as investigator:
        code = totp.code_at(totp.parse_secret_text(secrets["demo-triage"]), time.time())
        identity = await investigator.login("demo-triage", triage.passphrase, code)

    assert identity.roles == ("investigator", "triage")
    hotline = app[HOTLINE]
    vetted = await hotline.directory.vetted()
    assert sorted(sorted(member.roles) for member in vetted.members) == [
        ["admin"],
        ["investigator", "liaison"],
        ["investigator", "triage"],
    ]


async def test_a_second_start_reuses_the_demo_organisation(
    aiohttp_client: ClientFactory, demo_settings: Settings
) -> None:
    first = create_app(demo_settings)
    await aiohttp_client(first)
    key = (demo_folder(demo_settings) / "organisation-public-key.txt").read_text()
    second = create_app(demo_settings)
    await aiohttp_client(second)

    assert (demo_folder(demo_settings) / "organisation-public-key.txt").read_text() == key
    async with second[HOTLINE].database.transaction(read_only=True) as tx:
        accounts = [
            account
            for account in await tx.investigators.list_all()
            if account.username.startswith("demo-")
        ]
    assert len(accounts) == 3
    assert {account.status for account in accounts} == {InvestigatorStatus.ACTIVE}
    assert len((await second[HOTLINE].directory.current()).entries) == 3


def test_the_production_profile_refuses_the_demo(demo_settings: Settings) -> None:
    with pytest.raises(ConfigError, match="demo"):
        demo_organisation_key(replace(demo_settings, profile="production"))


def test_production_settings_with_the_demo_on_do_not_load() -> None:
    environ = {
        "TIPLINE_PROFILE": "production",
        "TIPLINE_DATABASE_URL": "postgresql+asyncpg://tipline@db/tipline",
        "TIPLINE_PUBLIC_URL": "https://tips.example.org",
        "TIPLINE_ORG_PUBLIC_KEY": "A" * 43,
        "TIPLINE_DEMO": "true",
    }
    with pytest.raises(ConfigError, match="TIPLINE_DEMO"):
        load_settings(None, environ)
