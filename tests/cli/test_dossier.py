"""`tipline case export` and `tipline dossier verify|keygen` as an investigator and the police
run them: a real passphrase, the saved session, a live gateway socket."""

from __future__ import annotations

import asyncio
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.cli import main
from gateway.crypto.keys import fingerprint
from gateway.domain.hotline import Hotline
from gateway.store.records import CaseStatus
from tests.api.investigator_support import open_case_for
from tests.cli.investigator_cli_support import logged_in_investigator
from tests.fixtures.organisation import Organisation

Client = TestClient[Any, Any]
PASSPHRASE = "a long passphrase for the dossier test"
TIP = "canary-cli-dossier: the van is parked behind the school"


def tipline(*args: str) -> int:
    return main(list(args))


async def test_an_investigator_exports_and_the_police_verify_on_the_command_line(
    client: Client,
    hotline: Hotline,
    organisation: Organisation,
    tmp_path: Path,
    *,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TIPLINE_CLIENT_DIR", str(tmp_path / "client"))
    monkeypatch.delenv("TIPLINE_PASSPHRASE", raising=False)
    lead = await logged_in_investigator(client, hotline, organisation, tmp_path)
    case = await open_case_for(hotline, lead, body=TIP)
    passphrase = str(tmp_path / "passphrase")
    plain, sealed, police_key = (
        tmp_path / "case.zip",
        tmp_path / "case.sealed",
        tmp_path / "police.key",
    )

    exported = await asyncio.to_thread(
        tipline,
        "case",
        "export",
        case.id_text,
        "--out",
        str(plain),
        "--passphrase-file",
        passphrase,
    )
    out, err = capsys.readouterr()
    keygen = await asyncio.to_thread(tipline, "dossier", "keygen", "--out", str(police_key))
    police_public = re.search(
        r"public key \(give this to the hotline\): (\S+)", capsys.readouterr().out
    )
    assert police_public is not None
    exported_sealed = await asyncio.to_thread(
        tipline,
        "case",
        "export",
        case.id_text,
        "--out",
        str(sealed),
        # `=`: a base64url key may begin with "-", which would otherwise read as an option.
        f"--to={police_public.group(1)}",
        "--passphrase-file",
        passphrase,
    )
    capsys.readouterr()
    verified = await asyncio.to_thread(
        tipline,
        "dossier",
        "verify",
        str(sealed),
        "--key",
        str(police_key),
        f"--org-key={organisation.public_key_text}",
        f"--signer={fingerprint(lead.keys.sig.public)}",
    )
    verify_out = capsys.readouterr().out

    assert (exported, keygen, exported_sealed, verified) == (0, 0, 0, 0)
    assert "Dossier written to" in out
    assert "The case is now referred." in out
    assert "has not given consent" in err  # nobody asked: the export goes on, with a warning
    assert "dossier verifies: case " + case.id_text in verify_out
    assert "sealed: yes" in verify_out
    assert "Dossier Lead" in verify_out
    with zipfile.ZipFile(plain) as archive:
        assert TIP in archive.read("transcript.txt").decode()
    async with hotline.database.transaction(read_only=True) as tx:
        stored = await tx.cases.get(case.case.id)
    assert stored is not None
    assert stored.status is CaseStatus.REFERRED
    exports = [
        e.details
        for e in await hotline.audit.for_case(hotline.database, case.case.id)
        if e.action == "case.export"
    ]
    assert [(e["sealed"], e["from"]) for e in exports] == [(False, "new"), (True, "referred")]

    # A changed byte: verification fails with exit code 3 and says what broke.
    data = bytearray(sealed.read_bytes())
    data[len(data) // 2] ^= 0x01
    sealed.write_bytes(bytes(data))
    broken = await asyncio.to_thread(
        tipline, "dossier", "verify", str(sealed), "--key", str(police_key)
    )
    assert broken == 3
    assert "dossier does not verify" in capsys.readouterr().err


async def test_an_existing_file_is_never_overwritten(
    client: Client,
    hotline: Hotline,
    organisation: Organisation,
    tmp_path: Path,
    *,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TIPLINE_CLIENT_DIR", str(tmp_path / "client"))
    lead = await logged_in_investigator(client, hotline, organisation, tmp_path)
    case = await open_case_for(hotline, lead, body=TIP)
    out = tmp_path / "there.zip"
    out.write_bytes(b"someone else's file")

    exit_code = await asyncio.to_thread(
        tipline,
        "case",
        "export",
        case.id_text,
        "--out",
        str(out),
        "--passphrase-file",
        str(tmp_path / "passphrase"),
    )

    assert exit_code == 1
    assert "exists already" in capsys.readouterr().err
    assert out.read_bytes() == b"someone else's file"
    async with hotline.database.transaction(read_only=True) as tx:
        stored = await tx.cases.get(case.case.id)
    assert stored is not None
    assert stored.status is CaseStatus.NEW
