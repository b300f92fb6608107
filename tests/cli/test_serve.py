"""The `tipline` command as an operator meets it: a real process, real ports, real files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import gateway
from tests.fixtures.ports import free_port

START_BUDGET_SECONDS = 10.0


def clean_environment(home: Path) -> dict[str, str]:
    """No TIPLINE_* variable leaks in from the developer's shell."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIPLINE_")}
    env["HOME"] = str(home)
    env.pop("XDG_DATA_HOME", None)
    return env


def tipline(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback only
            status: int = response.status
            return status
    except OSError:
        return 0


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """`tipline serve` with no config file and no environment, from an unrelated folder."""
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--port", str(port)],
        env=clean_environment(home),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, port, home
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_version_is_printed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == f"tipline {gateway.__version__}"


def test_the_embedded_default_is_healthy_and_ready_within_ten_seconds(
    served: tuple[subprocess.Popen[str], int, Path],
) -> None:
    process, port, home = served
    deadline = time.monotonic() + START_BUDGET_SECONDS
    ready = False
    while time.monotonic() < deadline and process.poll() is None:
        if status_of(f"http://127.0.0.1:{port}/readyz") == 200:
            ready = True
            break
        time.sleep(0.1)
    assert ready, "the gateway did not become ready within 10 seconds"
    assert status_of(f"http://127.0.0.1:{port}/healthz") == 200

    data_dir = home / ".local" / "share" / "tipline"
    assert (data_dir / "gateway.sqlite3").is_file()
    assert (data_dir / "secrets" / "server_pepper").is_file()

    process.terminate()
    _, stderr = process.communicate(timeout=20)
    assert str(data_dir) in stderr, "start-up must name the data folder"


def test_a_bad_configuration_exits_with_one_line_naming_the_setting(tmp_path: Path) -> None:
    env = clean_environment(tmp_path) | {"TIPLINE_WORKERS": "2"}
    result = tipline("serve", env=env, cwd=tmp_path)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "TIPLINE_WORKERS" in lines[0]
    assert "TIPLINE_REDIS_URL" in lines[0]


def test_an_unreadable_config_file_is_refused_by_name(tmp_path: Path) -> None:
    result = tipline(
        "serve", "--config", "missing.toml", env=clean_environment(tmp_path), cwd=tmp_path
    )
    assert result.returncode == 2
    assert "missing.toml" in result.stderr


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    env = clean_environment(tmp_path) | {"TIPLINE_DATA_DIR": str(tmp_path / "data")}
    result = tipline("db", "upgrade", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "database at revision" in result.stdout

    current = tipline("db", "current", env=env, cwd=tmp_path)
    assert current.stdout.strip() == result.stdout.strip().rsplit(" ", 1)[-1]


def test_secret_new_prints_a_fresh_secret_each_time(tmp_path: Path) -> None:
    env = clean_environment(tmp_path)
    first = tipline("secret", "new", env=env, cwd=tmp_path).stdout.strip()
    second = tipline("secret", "new", env=env, cwd=tmp_path).stdout.strip()
    assert first != second
    assert len(first) == 43
