"""Where the deployment tests find the repository's deploy/ files and Debian's tools.

A missing tool fails the test instead of skipping it: `make test` installs them
(nginx, tor, systemd) with apt-get, so a green run means every check really ran.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
DEPLOY = REPOSITORY / "deploy"
_SYSTEM_BINARIES = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")


def debian_tool(command: str, package: str) -> str:
    """The path of `command`, or a failure that says which Debian package brings it."""
    found = shutil.which(command) or shutil.which(command, path=os.pathsep.join(_SYSTEM_BINARIES))
    if found is None:
        pytest.fail(
            f"{command} is not installed: `make install` installs Debian's {package} package "
            f"(apt-get install {package}); the deployment tests need it and never skip"
        )
    return found


def run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, cwd=cwd)


def make_test_certificate(folder: Path) -> Path:
    """A throw-away self-signed certificate for 127.0.0.1 (never committed)."""
    folder.mkdir(parents=True, exist_ok=True)
    result = run(
        debian_tool("openssl", "openssl"),
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        str(folder / "privkey.pem"),
        "-out",
        str(folder / "fullchain.pem"),
    )
    assert result.returncode == 0, result.stderr
    return folder
