"""`tipline report` end to end: a live gateway process, driven only through the command line.

The test plays the hotline's side with the real code: it vets a triage investigator with
the organisation key before the gateway starts, and reads the database as that
investigator would (decrypting with their key).
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.crypto.encoding import b64encode
from gateway.crypto.envelope import open_as, parse_envelope, seal
from gateway.crypto.keys import Ed25519KeyPair, fingerprint, key_id
from gateway.crypto.message import MessageContent
from gateway.domain.clock import SystemClock
from gateway.domain.directory import DirectoryBook
from gateway.store import Database, migrate
from gateway.store.models import CaseRow, MessageRow
from gateway.store.records import InvestigatorStatus, MessageKind, Recipient, RecipientKind
from tests.fixtures.organisation import Organisation, VettedPerson
from tests.fixtures.ports import free_port

START_BUDGET_SECONDS = 15.0


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class Hotline:
    url: str
    database_url: str
    organisation: Organisation
    triage: VettedPerson
    home: Path

    @property
    def pin(self) -> str:
        return fingerprint(self.organisation.public_key)

    def report(
        self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `tipline report …` as a reporter would, in a clean environment."""
        environment = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
        environment["HOME"] = str(self.home)
        environment.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "gateway", "report", *args],
            input=stdin,
            env=environment,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def messages(self) -> list[MessageContent]:
        """Every stored message, decrypted as the triage investigator."""

        async def read() -> list[bytes]:
            database = Database.from_url(self.database_url)
            try:
                async with database.engine.connect() as connection:
                    rows = await connection.execute(
                        select(MessageRow.envelope).order_by(MessageRow.created_at, MessageRow.seq)
                    )
                    return [envelope for (envelope,) in rows]
            finally:
                await database.close()

        return [open_as(parse_envelope(e), self.triage.keys.enc) for e in asyncio.run(read())]

    def ask(self, question: str) -> None:
        """The triage investigator's signed follow-up on the newest case, stored as the
        investigator side does."""

        async def write() -> None:
            database = Database.from_url(self.database_url)
            try:
                async with database.transaction() as tx:
                    case = await tx.cases.get((await _case_ids(database))[-1])
                    assert case is not None
                    envelope = seal(
                        MessageContent(kind="followup", body=question, created=int(time.time())),
                        recipients=[self.triage.keys.enc.public, case.reporter_public_key],
                        case=str(case.id),
                        signer=self.triage.keys.sig,
                    )
                    await tx.messages.append(
                        case.id,
                        kind=MessageKind.FOLLOWUP,
                        author_id=uuid.UUID(self.triage.investigator_id),
                        visible_to_reporter=True,
                        envelope=envelope.encode(),
                        recipients=[
                            Recipient(
                                key_id=self.triage.keys.enc.kid,
                                kind=RecipientKind.INVESTIGATOR,
                                investigator_id=uuid.UUID(self.triage.investigator_id),
                            ),
                            Recipient(
                                key_id=key_id(case.reporter_public_key),
                                kind=RecipientKind.REPORTER,
                            ),
                        ],
                        at=datetime.now(UTC),
                    )
            finally:
                await database.close()

        asyncio.run(write())

    def case_count(self) -> int:
        async def count() -> int:
            database = Database.from_url(self.database_url)
            try:
                return len(await _case_ids(database))
            finally:
                await database.close()

        return asyncio.run(count())


async def _case_ids(database: Database) -> list[uuid.UUID]:
    """Every case id, oldest first."""
    async with database.engine.connect() as connection:
        return list(await connection.scalars(select(CaseRow.id).order_by(CaseRow.created_at)))


async def _prepare(database_url: str, organisation: Organisation) -> VettedPerson:
    """Migrate, vet a triage investigator with the organisation key, give them an account."""
    await migrate.upgrade(database_url)
    database = Database.from_url(database_url)
    try:
        book = DirectoryBook(database, organisation.public_key, SystemClock())
        person = await organisation.vet(book, "investigator", "triage", name="Anna Triage")
        async with database.transaction() as tx:
            await tx.investigators.create(
                username="anna",
                display_name=person.name,
                roles=person.roles,
                enc_public_key=person.keys.enc.public,
                sig_public_key=person.keys.sig.public,
                auth_salt=os.urandom(16),
                kdf_params={"alg": "argon2id13", "opslimit": 3, "memlimit": 67108864},
                auth_key_hash=os.urandom(32),
                key_bundle=os.urandom(200),
                totp_secret_sealed=os.urandom(60),
                at=datetime.now(UTC),
                status=InvestigatorStatus.ACTIVE,
                investigator_id=uuid.UUID(person.investigator_id),
            )
        return person
    finally:
        await database.close()


@pytest.fixture(scope="module")
def hotline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hotline]:
    """A live `tipline serve` on the embedded profile with one vetted triage investigator,
    shared by this module's tests (each leaves the case count as it found it, or checks
    counts relative to its start)."""
    tmp_path = tmp_path_factory.mktemp("hotline")
    organisation = Organisation()
    data = tmp_path / "data"
    data.mkdir()
    database_url = f"sqlite+aiosqlite:///{data / 'gateway.sqlite3'}"
    triage = asyncio.run(_prepare(database_url, organisation))
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    env.update(
        HOME=str(home),
        TIPLINE_DATA_DIR=str(data),
        TIPLINE_ORG_PUBLIC_KEY=organisation.public_key_text,
        TIPLINE_POW_DIFFICULTY="4",
    )
    log = tmp_path / "gateway.log"
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_BUDGET_SECONDS
        while not _ready(url + "/readyz"):
            assert process.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "the gateway did not become ready"
            time.sleep(0.1)
        yield Hotline(url, database_url, organisation, triage, home)
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_reporter_submits_checks_replies_and_withdraws_from_the_command_line(
    hotline: Hotline, tmp_path: Path
) -> None:
    cases_before = hotline.case_count()
    evidence = tmp_path / "route.txt"
    evidence.write_text("Elke vrijdag om 22:00 bij perron 5.\n", encoding="utf-8")
    code_file = hotline.home / "code.txt"

    submitted = hotline.report(
        "submit",
        "--gateway",
        hotline.url,
        "--org-key",
        hotline.pin,
        "--text",
        "Een meisje van 15 wordt elke vrijdag opgehaald.",
        "--field",
        "location=Utrecht",
        "--attach",
        str(evidence),
        "--urgent",
        "--code-out",
        str(code_file),
    )

    assert submitted.returncode == 0, submitted.stderr
    assert "cannot be recovered" in submitted.stderr
    assert f"Organisation key verified: {hotline.pin}" in submitted.stderr
    assert stat.S_IMODE(code_file.stat().st_mode) == 0o600
    code = code_file.read_text(encoding="utf-8").strip()
    assert code not in submitted.stdout + submitted.stderr
    tip = hotline.messages()[-1]
    assert tip.body == "Een meisje van 15 wordt elke vrijdag opgehaald."
    assert dict(tip.fields) == {"location": "Utrecht"}
    assert [a.name for a in tip.attachments] == ["route.txt"]

    hotline.ask("Welk station?")
    saved = tmp_path / "saved"
    checked = hotline.report(
        "check",
        "--server",
        hotline.url,
        "--org-key",
        hotline.pin,
        "--code-file",
        str(code_file),
        "--save-attachments",
        str(saved),
    )

    assert checked.returncode == 0, checked.stderr
    assert "Case status: received" in checked.stdout
    assert "Een meisje van 15" in checked.stdout
    assert "followup from Anna Triage (signature verified)" in checked.stdout
    assert "Welk station?" in checked.stdout
    assert (saved / "route.txt").read_text(encoding="utf-8") == evidence.read_text(encoding="utf-8")

    replied = hotline.report(
        "reply",
        "--gateway",
        hotline.url,
        "--org-key",
        hotline.pin,
        stdin="Utrecht Centraal.\n",
        env={"TIPLINE_PICKUP_CODE": code},
    )

    assert replied.returncode == 0, replied.stderr
    assert hotline.messages()[-1].body == "Utrecht Centraal.\n"

    unconfirmed = hotline.report(
        "withdraw",
        "--gateway",
        hotline.url,
        "--org-key",
        hotline.pin,
        "--code-file",
        str(code_file),
    )
    assert unconfirmed.returncode != 0
    assert "--yes" in unconfirmed.stderr
    assert hotline.case_count() == cases_before + 1

    withdrawn = hotline.report(
        "withdraw",
        "--gateway",
        hotline.url,
        "--yes",
        "--code-file",
        str(code_file),
        env={"TIPLINE_ORG_KEY": hotline.pin},
    )

    assert withdrawn.returncode == 0, withdrawn.stderr
    assert hotline.case_count() == cases_before
    gone = hotline.report(
        "check", "--gateway", hotline.url, "--org-key", hotline.pin, "--code-file", str(code_file)
    )
    assert gone.returncode == 1
    assert "case_not_found" in gone.stderr


def test_the_code_is_printed_once_and_an_unpinned_key_is_called_unverified(
    hotline: Hotline,
) -> None:
    submitted = hotline.report("submit", "--gateway", hotline.url, stdin="Iets gezien.\n")

    assert submitted.returncode == 0, submitted.stderr
    assert "UNVERIFIED" in submitted.stderr
    assert hotline.pin in submitted.stderr
    assert "cannot be recovered" in submitted.stdout
    printed = [line for line in submitted.stdout.splitlines() if "pickup code" in line.lower()]
    assert len(printed) == 1
    code = printed[0].rsplit(" ", 1)[-1]
    assert len(code.replace("-", "")) == 28

    with_code_flag = hotline.report(
        "check", "--gateway", hotline.url, "--org-key", hotline.pin, "--code", code
    )
    assert with_code_flag.returncode == 0, with_code_flag.stderr
    assert "process list" in with_code_flag.stderr or "visible" in with_code_flag.stderr


def test_a_gateway_under_another_organisation_key_gets_nothing(hotline: Hotline) -> None:
    impostor = fingerprint(Ed25519KeyPair.generate().public)
    before = hotline.case_count()

    refused = hotline.report(
        "submit", "--gateway", hotline.url, "--org-key", impostor, "--text", "geheim"
    )

    assert refused.returncode == 1
    assert "Nothing was sent" in refused.stderr
    assert hotline.case_count() == before


def test_a_mistyped_code_is_explained_without_contacting_anyone(hotline: Hotline) -> None:
    result = hotline.report(
        "check",
        "--gateway",
        hotline.url,
        "--org-key",
        hotline.pin,
        env={"TIPLINE_PICKUP_CODE": "1459-7422-6222-8641-3875-3344-3482"},
    )
    assert result.returncode == 1
    assert "not a pickup code" in result.stderr


def test_the_organisation_key_can_be_pinned_as_the_public_key_too(hotline: Hotline) -> None:
    result = hotline.report(
        "submit",
        "--gateway",
        hotline.url,
        "--org-key",
        b64encode(hotline.organisation.public_key),
        "--text",
        "x",
    )
    assert result.returncode == 0, result.stderr
    assert "Organisation key verified" in result.stderr
