"""PostgreSQL and Redis of the fault tests' own, which the tests may stop, kill and restart.

The suite's shared servers (127.0.0.1:5432 and :6379) are used by other test runs at the
same time, so the fault tests never touch them: they start a private PostgreSQL cluster
(Debian's `initdb` and `pg_ctl`, run as the `postgres` user because PostgreSQL refuses
root) and private `redis-server` processes, on free loopback ports, with trust
authentication for 127.0.0.1 only and no Unix sockets. Everything started here is stopped
by the fixtures that start it, also when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Final

import pytest

from tests.fixtures.ports import free_port

POSTGRES_USER: Final = "postgres"
START_BUDGET_SECONDS: Final = 30.0
REDIS_SERVER: Final = shutil.which("redis-server") or "/usr/bin/redis-server"


def answers(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def postgres_bin() -> Path:
    """The newest installed PostgreSQL server's bin folder (Debian's layout)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        pytest.fail(
            "the fault tests need a PostgreSQL server installation (Debian: apt-get install "
            "postgresql) to run a private cluster; /usr/lib/postgresql/*/bin/initdb not found",
            pytrace=False,
        )
    return found[-1].parent


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary folder on a free port, for one test session."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.port = free_port()
        # Not under pytest's tmp_path: that is private to root, and the server runs as postgres.
        self.folder = Path(tempfile.mkdtemp(prefix="tipline-fault-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        account = pwd.getpwnam(POSTGRES_USER)
        os.chown(self.folder, account.pw_uid, account.pw_gid)
        self._initdb()

    def _as_postgres(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["runuser", "-u", POSTGRES_USER, "--", *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.folder,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stderr.strip()[-2000:]}")
        return result

    def _initdb(self) -> None:
        self._as_postgres(
            str(self.bin / "initdb"),
            "--pgdata",
            str(self.data),
            "--username",
            POSTGRES_USER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",  # a throw-away cluster: initdb need not fsync its files
        )
        # Loopback TCP only: no Unix socket, no other address, trust for 127.0.0.1 alone.
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                f"\nport = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                "max_connections = 100\n"
                "shared_buffers = 32MB\n"
                "log_min_messages = warning\n"
            )
        (self.data / "pg_hba.conf").write_text(
            "host all all 127.0.0.1/32 trust\n", encoding="utf-8"
        )

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://{POSTGRES_USER}@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        """The gateway's SQLAlchemy URL of a database on this cluster."""
        return f"postgresql+asyncpg://{POSTGRES_USER}@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *arguments: str) -> None:
        self._as_postgres(
            str(self.bin / "pg_ctl"),
            "--pgdata",
            str(self.data),
            "--log",
            str(self.log),
            "--wait",
            "--timeout",
            str(int(START_BUDGET_SECONDS)),
            *arguments,
        )

    def start(self) -> None:
        self._pg_ctl("start")
        assert answers(self.port), "the private PostgreSQL did not open its port"

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends sessions and shuts down cleanly; `immediate` is a crash (no checkpoint)."""
        self._pg_ctl("stop", "--mode", mode)

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            if self.running:
                self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


class PrivateRedis:
    """A `redis-server` without persistence on a free port, which a test may kill and restart."""

    def __init__(self, folder: Path) -> None:
        if not Path(REDIS_SERVER).exists():
            pytest.fail(
                "the fault tests need redis-server (Debian: apt-get install redis-server) "
                "to run a private Redis",
                pytrace=False,
            )
        self.port = free_port()
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        assert self._process is None or self._process.poll() is not None
        self.starts += 1
        log = (self.folder / f"redis-{self.starts}.log").open("wb")
        with log:
            self._process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--protected-mode",
                    "yes",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.folder),
                    "--loglevel",
                    "warning",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_BUDGET_SECONDS
        while not answers(self.port):
            assert self._process.poll() is None, f"redis-server exited: see {log.name}"
            assert time.monotonic() < deadline, "redis-server did not open its port"
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: Redis vanishes at once, with everything it held (it keeps nothing on disk)."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM: Redis shuts down in order (without persistence it still keeps nothing)."""
        self._signal(signal.SIGTERM)

    def pause(self) -> None:
        """SIGSTOP: Redis hangs with its connections open, as on a stalled host or network."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: Redis carries on with everything it held, and the commands that queued."""
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signum)
        process.wait(timeout=10)

    def destroy(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)
