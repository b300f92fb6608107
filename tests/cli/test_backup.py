"""`tipline backup` and `tipline restore` as an operator runs them, on the real PostgreSQL:
a reporter's case, attachment included, comes back by its pickup code after a restore
into an empty database; a restore that would do harm is refused before it changes anything.
"""

from __future__ import annotations

import io
import itertools
import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.client.attachment_files import AttachmentSource
from gateway.client.reporter import ReporterClient, Submission, TipDraft
from gateway.client.transport import Transport
from gateway.config import Settings, new_secret_text
from gateway.store import migrate
from gateway.web.app import create_app
from gateway.web.keys import HOTLINE
from tests.api.reporter_support import vet_with_account
from tests.cli.test_serve import clean_environment
from tests.fixtures.app import make_settings
from tests.fixtures.database import create_postgres_database, drop_postgres_database
from tests.fixtures.organisation import Organisation
from tests.fixtures.services import RUN_ID

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
TIP = "Er staat elke avond een busje bij de school in Zwolle."
PHOTO = b"\xff\xd8 a photograph's bytes " * 5000
_names = itertools.count(1)


@dataclass
class Hotline:
    """One gateway's database, data folder (secrets and blobs) and the way to run it."""

    name: str
    url: str
    settings: Settings

    @property
    def environment(self) -> dict[str, str]:
        return clean_environment(self.settings.data_dir.parent) | {
            "TIPLINE_DATA_DIR": str(self.settings.data_dir),
            "TIPLINE_DATABASE_URL": self.url,
            "TIPLINE_ORG_PUBLIC_KEY": str(self.settings.org_public_key),
        }

    def tipline(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gateway", *arguments],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
async def hotlines(
    tmp_path: Path, organisation: Organisation
) -> AsyncIterator[Callable[..., Awaitable[Hotline]]]:
    made: list[str] = []

    async def make(*, migrated: bool, secrets_of: Hotline | None = None) -> Hotline:
        name = f"tipline_test_{RUN_ID}_backup_{next(_names)}"
        made.append(name)
        url = await create_postgres_database(name)
        if migrated:
            await migrate.upgrade(url)
        folder = tmp_path / name
        if secrets_of is not None:
            # The operator keeps the pepper and the audit key apart from the archive.
            shutil.copytree(secrets_of.settings.data_dir / "secrets", folder / "data" / "secrets")
        settings = make_settings(
            folder,
            url,
            redis_prefix=None,
            org_public_key=organisation.public_key_text,
            pow_difficulty="4",
        )
        return Hotline(name, url, settings)

    yield make
    for name in made:
        await drop_postgres_database(name)


async def submit_a_tip(
    hotline: Hotline, organisation: Organisation, aiohttp_client: ClientFactory
) -> Submission:
    app = create_app(hotline.settings)
    client = await aiohttp_client(app)
    try:
        await vet_with_account(app[HOTLINE], organisation, "triage")
        async with Transport(str(client.server.make_url("/"))) as transport:
            reporter = ReporterClient(transport, organisation.public_key)
            return await reporter.submit(
                TipDraft(body=TIP, attachments=[AttachmentSource.from_bytes("busje.jpg", PHOTO)])
            )
    finally:
        await client.close()


@pytest.fixture
async def backed_up(
    tmp_path: Path,
    hotlines: Callable[..., Awaitable[Hotline]],
    organisation: Organisation,
    aiohttp_client: ClientFactory,
) -> tuple[Hotline, Submission, Path]:
    """A hotline with one tip (and its attachment), and a backup of it."""
    source = await hotlines(migrated=True)
    submission = await submit_a_tip(source, organisation, aiohttp_client)
    archive = tmp_path / "hotline.tar"
    result = source.tipline("backup", "--out", str(archive))
    assert result.returncode == 0, result.stderr
    assert "1 attachment blob(s)" in result.stdout
    return source, submission, archive


def blob_files(settings: Settings) -> list[Path]:
    folder = settings.blob_dir
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


@pytest.mark.postgres
async def test_a_restore_into_an_empty_database_gives_the_reporter_their_case_back_by_its_code(
    backed_up: tuple[Hotline, Submission, Path],
    hotlines: Callable[..., Awaitable[Hotline]],
    organisation: Organisation,
    aiohttp_client: ClientFactory,
    tmp_path: Path,
) -> None:
    source, submission, archive = backed_up
    target = await hotlines(migrated=False, secrets_of=source)

    result = target.tipline("restore", "--from", str(archive))

    assert result.returncode == 0, result.stderr
    assert await migrate.current(target.url) == migrate.head()
    client = await aiohttp_client(create_app(target.settings))
    (tmp_path / "saved").mkdir()
    async with Transport(str(client.server.make_url("/"))) as transport:
        reporter = ReporterClient(transport, organisation.public_key)
        thread = await reporter.open_case(submission.code)
        [tip] = thread.messages
        [attachment] = thread.attachments
        saved = await reporter.download_attachment(thread, attachment, tmp_path / "saved")

    assert tip.content.body == TIP
    assert saved.read_bytes() == PHOTO
    assert [path.read_bytes() for path in blob_files(target.settings)] == [
        path.read_bytes() for path in blob_files(source.settings)
    ]


@pytest.mark.postgres
async def test_the_archive_holds_neither_the_pepper_nor_the_audit_key(
    backed_up: tuple[Hotline, Submission, Path],
) -> None:
    source, submission, archive = backed_up
    content = archive.read_bytes()

    for secret in (source.settings.server_pepper, source.settings.audit_key):
        assert secret.reveal() not in content
    for secret_file in (source.settings.data_dir / "secrets").iterdir():
        assert secret_file.read_text().strip().encode() not in content
    assert str(submission.code).encode() not in content
    assert TIP.encode() not in content
    assert archive.stat().st_mode & 0o077 == 0


@pytest.mark.postgres
async def test_a_restore_over_a_database_in_use_is_refused(
    backed_up: tuple[Hotline, Submission, Path],
) -> None:
    source, _, archive = backed_up
    before = blob_files(source.settings)

    result = source.tipline("restore", "--from", str(archive))

    assert result.returncode == 1
    assert "not empty" in result.stderr
    assert blob_files(source.settings) == before


@pytest.mark.postgres
async def test_a_restore_under_another_pepper_is_refused_and_changes_nothing(
    backed_up: tuple[Hotline, Submission, Path],
    hotlines: Callable[..., Awaitable[Hotline]],
) -> None:
    _, _, archive = backed_up
    stranger = await hotlines(migrated=False)  # made its own secrets

    result = stranger.tipline("restore", "--from", str(archive))

    assert result.returncode == 1
    assert "another server pepper" in result.stderr
    assert "TIPLINE_SERVER_PEPPER_FILE" in result.stderr
    assert await migrate.current(stranger.url) is None
    assert blob_files(stranger.settings) == []


def rewrite(archive: Path, change: Callable[[str, bytes], tuple[str, bytes]]) -> None:
    """Rewrite the archive member by member (the manifest left as it was)."""
    with tarfile.open(archive) as original:
        members = []
        for member in original.getmembers():
            handle = original.extractfile(member)
            assert handle is not None
            members.append((member.name, handle.read()))
    with tarfile.open(archive, "w") as rewritten:
        for name, data in members:
            new_name, new_data = change(name, data)
            info = tarfile.TarInfo(new_name)
            info.size = len(new_data)
            rewritten.addfile(info, io.BytesIO(new_data))


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("tampering", "complaint"),
    [
        ("altered dump", "damaged or was altered"),
        ("altered blob", "damaged or was altered"),
        ("escaping entry", "unexpected entry"),
        ("wrong format", "format is not one this gateway reads"),
    ],
)
async def test_a_damaged_or_crafted_archive_is_refused_before_anything_changes(
    backed_up: tuple[Hotline, Submission, Path],
    hotlines: Callable[..., Awaitable[Hotline]],
    tampering: str,
    complaint: str,
) -> None:
    source, _, archive = backed_up

    def change(name: str, data: bytes) -> tuple[str, bytes]:
        if tampering == "altered dump" and name == "database.pgdump":
            return name, data[:-1] + bytes([data[-1] ^ 1])
        if tampering == "altered blob" and name.startswith("blobs/"):
            return name, data[:100] + bytes([data[100] ^ 1]) + data[101:]
        if tampering == "escaping entry" and name.startswith("blobs/"):
            return "../../escaped", data
        if tampering == "wrong format" and name == "tipline-backup.json":
            manifest = json.loads(data)
            manifest["version"] = 99
            return name, json.dumps(manifest).encode()
        return name, data

    rewrite(archive, change)
    target = await hotlines(migrated=False, secrets_of=source)

    result = target.tipline("restore", "--from", str(archive))

    assert result.returncode == 1
    assert complaint in result.stderr
    assert await migrate.current(target.url) is None
    assert blob_files(target.settings) == []
    assert not (target.settings.data_dir.parent / "escaped").exists()


@pytest.mark.postgres
async def test_a_backup_never_overwrites_a_file(
    backed_up: tuple[Hotline, Submission, Path],
) -> None:
    source, _, archive = backed_up
    before = archive.read_bytes()

    result = source.tipline("backup", "--out", str(archive))

    assert result.returncode == 1
    assert "exists already" in result.stderr
    assert archive.read_bytes() == before


def test_the_embedded_profile_is_told_to_copy_its_data_folder_instead(tmp_path: Path) -> None:
    environment = clean_environment(tmp_path) | {"TIPLINE_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secrets").mkdir()
    for name in ("server_pepper", "audit_key"):
        (tmp_path / "data" / "secrets" / name).write_text(new_secret_text())

    result = subprocess.run(
        [sys.executable, "-m", "gateway", "backup", "--out", str(tmp_path / "x.tar")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert "works on PostgreSQL" in result.stderr
    assert str(tmp_path / "data") in result.stderr
    assert not (tmp_path / "x.tar").exists()
