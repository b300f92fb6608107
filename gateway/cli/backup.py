"""`tipline backup` and `tipline restore`: the database and the blob folder in one archive,
restored into an empty database. PostgreSQL's own tools (pg_dump, pg_restore) do the
database part; the blobs go through the blob store.

The server pepper and the audit key are never written into the archive: a dump together
with the pepper is what lets someone test guessed pickup codes, so they are kept apart
(docs/DEPLOY.md). The archive carries a keyed check value of each instead, so that a
restore under a different pepper is refused before anything is changed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

import gateway
from gateway.blobs import FolderBlobStore
from gateway.cli.common import CommandError, add_config_option
from gateway.config import Settings, load_settings
from gateway.domain.keys import derive_subkey
from gateway.store import migrate

FORMAT: Final = "tipline-backup"
FORMAT_VERSION: Final = 1
MANIFEST: Final = "tipline-backup.json"
DATABASE_MEMBER: Final = "database.pgdump"
BLOB_MEMBER: Final = re.compile(r"blobs/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{16,64})")
COPY_CHUNK_BYTES: Final = 1024 * 1024
POSTGRES_SCHEME: Final = "postgresql+asyncpg://"
# asyncpg's ssl= values are libpq's sslmode names.
_SSL_MODES: Final = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


def add_parser(commands: Any) -> None:
    backup = commands.add_parser(
        "backup", help="write the database and the blob folder into one archive (PostgreSQL)"
    )
    add_config_option(backup)
    backup.add_argument("--out", type=Path, required=True, metavar="FILE", help="archive to write")
    backup.set_defaults(run=_backup)

    restore = commands.add_parser(
        "restore", help="restore an archive from `tipline backup` into an empty database"
    )
    add_config_option(restore)
    restore.add_argument(
        "--from",
        dest="archive",
        type=Path,
        required=True,
        metavar="FILE",
        help="archive written by `tipline backup`",
    )
    restore.set_defaults(run=_restore)


# ------------------------------------------------------------------ shared pieces


def secret_checks(settings: Settings) -> dict[str, str]:
    """Keyed check values that tell whether two gateways share their secrets, and nothing more."""
    return {
        "server_pepper": derive_subkey(settings.server_pepper.reveal(), "backup-check").hex(),
        "audit_key": derive_subkey(settings.audit_key.reveal(), "backup-check").hex(),
    }


def _postgres_only(settings: Settings, command: str) -> None:
    if settings.uses_sqlite:
        raise CommandError(
            f"tipline {command} works on PostgreSQL. The embedded profile keeps everything in "
            f"{settings.data_dir}: stop the gateway and copy that folder instead."
        )


@dataclass(frozen=True, slots=True)
class LibpqTarget:
    """Where pg_dump/pg_restore connect, passed through the environment (never argv,
    which any local user can read in the process list)."""

    environment: dict[str, str]

    @classmethod
    def of(cls, database_url: str) -> LibpqTarget:
        if not database_url.startswith(POSTGRES_SCHEME):
            raise CommandError("the database URL must start with " + POSTGRES_SCHEME)
        parts = urlsplit("postgresql://" + database_url[len(POSTGRES_SCHEME) :])
        environment = {"PGDATABASE": unquote(parts.path.lstrip("/"))}
        if parts.hostname:
            environment["PGHOST"] = parts.hostname
        if parts.port:
            environment["PGPORT"] = str(parts.port)
        if parts.username:
            environment["PGUSER"] = unquote(parts.username)
        if parts.password:
            environment["PGPASSWORD"] = unquote(parts.password)
        for key, value in parse_qsl(parts.query):
            if key == "ssl" and value in _SSL_MODES:
                environment["PGSSLMODE"] = value
            else:
                raise CommandError(f"the database URL's option {key}= is not understood here")
        return cls(environment)


def _run_postgres_tool(tool: str, arguments: list[str], target: LibpqTarget) -> None:
    program = shutil.which(tool)
    if program is None:
        raise CommandError(
            f"{tool} is not installed: install PostgreSQL's client tools (Debian: "
            "postgresql-client) of the server's major version or newer"
        )
    # The service URL names the database on purpose: no PG* variable of the caller's
    # shell may redirect the tool elsewhere.
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("PG")
    } | target.environment
    if "PGPASSFILE" in os.environ:
        environment["PGPASSFILE"] = os.environ["PGPASSFILE"]
    result = subprocess.run(  # noqa: S603 - a fixed PostgreSQL tool, arguments built here
        [program, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or ["no message"]
        raise CommandError(f"{tool} failed: {detail[0]}")


def _sha256_of(handle: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(COPY_CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


# ------------------------------------------------------------------ backup


def _backup(arguments: argparse.Namespace) -> int:
    settings = load_settings(arguments.config)
    _postgres_only(settings, "backup")
    out: Path = arguments.out
    if out.exists():
        raise CommandError(f"{out} exists already; a backup never overwrites a file")
    revision = asyncio.run(migrate.current(settings.database_url))
    if revision is None:
        raise CommandError("the database is empty: there is nothing to back up")
    target = LibpqTarget.of(settings.database_url)
    partial = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    # 0600 from the first byte: the archive holds the hotline's metadata.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with (
            os.fdopen(descriptor, "wb") as handle,
            tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as archive,
            tempfile.TemporaryDirectory(dir=out.parent, prefix=".tipline-backup-") as scratch,
        ):
            dump = Path(scratch) / DATABASE_MEMBER
            _run_postgres_tool(
                "pg_dump",
                ["--format=custom", "--no-owner", "--no-privileges", f"--file={dump}"],
                target,
            )
            database = _add_file(archive, dump, DATABASE_MEMBER)
            blobs = {name: _add_file(archive, path, name) for name, path in _blob_files(settings)}
            manifest = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "gateway": gateway.__version__,
                "revision": revision,
                "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"),
                "checks": secret_checks(settings),
                "members": {DATABASE_MEMBER: database, **blobs},
            }
            _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=1).encode())
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    total = sum(member["bytes"] for member in blobs.values())
    print(
        f"backup written to {out}: database at revision {revision}, "
        f"{len(blobs)} attachment blob(s) ({total} bytes). "
        "It does not contain the server pepper or the audit key: keep those apart."
    )
    return 0


def _blob_files(settings: Settings) -> Iterator[tuple[str, Path]]:
    """Every complete blob (partial uploads left out), as (archive name, path)."""
    root = settings.blob_dir
    if not root.exists():
        return
    for path in sorted(root.glob("*/*/*")):
        name = "blobs/" + path.relative_to(root).as_posix()
        if path.is_file() and _is_blob_name(name):
            yield name, path


def _add_file(archive: tarfile.TarFile, path: Path, name: str) -> dict[str, Any]:
    with path.open("rb") as source:
        digest, size = _sha256_of(source)
        source.seek(0)
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o600
        archive.addfile(info, source)
    return {"sha256": digest, "bytes": size}


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    with tempfile.SpooledTemporaryFile() as source:
        source.write(data)
        source.seek(0)
        archive.addfile(info, source)


# ------------------------------------------------------------------ restore


def _restore(arguments: argparse.Namespace) -> int:
    settings = load_settings(arguments.config)
    _postgres_only(settings, "restore")
    archive_path: Path = arguments.archive
    try:
        archive = tarfile.open(archive_path, mode="r:")  # noqa: SIM115 - closed below
    except (OSError, tarfile.TarError) as error:
        raise CommandError(f"{archive_path} cannot be read as a backup archive ({error})") from None
    with archive:
        manifest = _read_manifest(archive)
        _check_secrets(manifest, settings)
        _check_target_is_empty(settings)
        _check_members(archive, manifest)
        blobs = asyncio.run(_restore_blobs(archive, manifest, settings))
        with tempfile.TemporaryDirectory(prefix=".tipline-restore-") as scratch:
            dump = Path(scratch) / DATABASE_MEMBER
            _extract(archive, DATABASE_MEMBER, dump)
            _run_postgres_tool(
                "pg_restore",
                [
                    "--single-transaction",
                    "--exit-on-error",
                    "--no-owner",
                    "--no-privileges",
                    f"--dbname={LibpqTarget.of(settings.database_url).environment['PGDATABASE']}",
                    str(dump),
                ],
                LibpqTarget.of(settings.database_url),
            )
    revision = asyncio.run(migrate.current(settings.database_url))
    print(f"restored {archive_path}: database at revision {revision}, {blobs} attachment blob(s).")
    if revision != migrate.head():
        print(f"This gateway's code is at revision {migrate.head()}: run `tipline db upgrade`.")
    return 0


def _read_manifest(archive: tarfile.TarFile) -> Mapping[str, Any]:
    try:
        member = archive.getmember(MANIFEST)
        handle = archive.extractfile(member)
        if handle is None:
            raise KeyError(MANIFEST)
        manifest = json.loads(handle.read())
    except (KeyError, ValueError, tarfile.TarError):
        raise CommandError("this is not an archive written by `tipline backup`") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        raise CommandError("this archive's format is not one this gateway reads")
    if not isinstance(manifest.get("members"), dict) or not isinstance(
        manifest.get("checks"), dict
    ):
        raise CommandError("this archive's manifest is incomplete")
    return dict(manifest)


def _check_secrets(manifest: Mapping[str, Any], settings: Settings) -> None:
    ours = secret_checks(settings)
    theirs = manifest["checks"]
    consequences = {
        "server_pepper": ("TIPLINE_SERVER_PEPPER_FILE", "no case could be found by its code"),
        "audit_key": ("TIPLINE_AUDIT_KEY_FILE", "the audit trail could not be verified"),
    }
    for name, (setting, consequence) in consequences.items():
        if not hmac.compare_digest(str(theirs.get(name, "")), ours[name]):
            raise CommandError(
                f"the archive was made by a gateway with another {name.replace('_', ' ')}, "
                f"so {consequence}: configure the backed-up one ({setting}) and try again"
            )


def _check_target_is_empty(settings: Settings) -> None:
    if asyncio.run(migrate.current(settings.database_url)) is not None:
        raise CommandError(
            "the database is not empty: restore only into a new, empty database "
            "(createdb), never over a live one"
        )
    if any(path.is_file() for path in settings.blob_dir.rglob("*")):
        raise CommandError(f"the blob folder {settings.blob_dir} is not empty")


def _check_members(archive: tarfile.TarFile, manifest: Mapping[str, Any]) -> None:
    """Every member is expected, a regular file and intact, before anything is changed."""
    expected: dict[str, Any] = dict(manifest["members"])
    if DATABASE_MEMBER not in expected:
        raise CommandError("this archive holds no database")
    seen = set()
    for member in archive.getmembers():
        if member.name == MANIFEST:
            continue
        if member.name not in expected or not member.isfile():
            raise CommandError(f"the archive holds an unexpected entry: {member.name!r}")
        if member.name != DATABASE_MEMBER and not _is_blob_name(member.name):
            raise CommandError(f"the archive holds an unexpected entry: {member.name!r}")
        handle = archive.extractfile(member)
        assert handle is not None
        digest, size = _sha256_of(handle)
        if not hmac.compare_digest(digest, str(expected[member.name]["sha256"])):
            raise CommandError(f"{member.name} in the archive is damaged or was altered")
        if size != expected[member.name]["bytes"]:
            raise CommandError(f"{member.name} in the archive is damaged or was altered")
        seen.add(member.name)
    missing = set(expected) - seen
    if missing:
        raise CommandError(f"the archive is incomplete: {len(missing)} entr(y/ies) missing")


def _is_blob_name(name: str) -> bool:
    """blobs/<first two>/<next two>/<key>, as the folder blob store lays keys out."""
    match = BLOB_MEMBER.fullmatch(name)
    return match is not None and match.group(3)[:4] == match.group(1) + match.group(2)


async def _restore_blobs(
    archive: tarfile.TarFile, manifest: Mapping[str, Any], settings: Settings
) -> int:
    store = FolderBlobStore(settings.blob_dir)
    settings.blob_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    restored = 0
    for name in manifest["members"]:
        match = BLOB_MEMBER.fullmatch(name)
        if match is None or not _is_blob_name(name):
            continue
        handle = archive.extractfile(name)
        assert handle is not None
        await store.write(match.group(3), _chunks(handle), max_bytes=2**62)
        restored += 1
    return restored


async def _chunks(handle: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(handle.read, COPY_CHUNK_BYTES):
        yield chunk


def _extract(archive: tarfile.TarFile, name: str, destination: Path) -> None:
    source = archive.extractfile(name)
    assert source is not None
    descriptor = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as target:
        shutil.copyfileobj(source, target, COPY_CHUNK_BYTES)
