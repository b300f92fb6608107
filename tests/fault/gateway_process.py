"""A real `tipline serve` process for the fault tests: started, killed with SIGKILL, restarted.

Each process has one worker (the serve process itself handles requests), so `kill -9` hits
exactly the process that was answering, with nothing left to finish its work, and its
resident memory can be sampled from /proc.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Final

START_BUDGET_SECONDS: Final = 30.0


def http_status(url: str, *, timeout: float = 2.0) -> int:
    """The status of a GET, or 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            status: int = response.status
            return status
    except urllib.error.HTTPError as refusal:
        return refusal.code
    except OSError:
        return 0


class GatewayProcess:
    """One `tipline serve` on 127.0.0.1:`port`, logging JSON lines to a file."""

    def __init__(self, name: str, port: int, env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.port = port
        self.env = env | {"TIPLINE_PORT": str(port), "TIPLINE_WORKERS": "1"}
        self.folder = folder
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_path(self, start: int | None = None) -> Path:
        return self.folder / f"{self.name}-{start or self.starts}.log"

    def start(self) -> None:
        """Start and wait until `/readyz` answers 200 (database and broker reachable)."""
        assert not self.alive, "already running"
        self.starts += 1
        with self.log_path().open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve"],
                env=self.env,
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_BUDGET_SECONDS
        while http_status(self.url + "/readyz", timeout=1) != 200:
            if not self.alive:
                raise AssertionError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not become ready:\n{self.log_tail()}")
            time.sleep(0.05)

    def kill9(self) -> None:
        """SIGKILL: no drain, no clean-up, no atexit; whatever was in flight is cut off."""
        assert self._process is not None
        assert self.alive
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(timeout=10)
        self.kills += 1

    def terminate(self, timeout: float = 20) -> int | None:
        """SIGTERM (graceful) and wait; SIGKILL if it overstays. Returns the exit code."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        return process.returncode

    def rss_kib(self) -> int | None:
        """Resident memory of the process in KiB (None when it is not running)."""
        if not self.alive:
            return None
        try:
            status = Path(f"/proc/{self.pid}/status").read_text(encoding="ascii")
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return None

    def log_tail(self, lines: int = 40) -> str:
        path = self.log_path()
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def log_text(self) -> str:
        """Everything every start of this gateway logged."""
        return "\n".join(
            self.log_path(start).read_text(encoding="utf-8", errors="replace")
            for start in range(1, self.starts + 1)
            if self.log_path(start).exists()
        )
