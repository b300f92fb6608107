"""The processes a benchmark measures: `tipline serve` and the two ceiling servers.

Each runs as a subprocess on 127.0.0.1, logging to a file (a pipe nobody reads would block
it). `ServerProcess.serving_pids()` names the processes that answer requests (the workers,
with `--workers N`), `MemoryWatch` reads their resident memory from /proc, and
`serving_pid_of_connection` tells which worker holds a given client connection.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.ports import free_port

REPOSITORY = Path(__file__).resolve().parents[2]
START_BUDGET_SECONDS = 60.0
# The highest anonymous rate limit the configuration accepts; the orchestrator paces its
# runs to stay below it (a 429 would measure the limit, not the gateway).
ANONYMOUS_PER_MINUTE = 20_000
STOP_BUDGET_SECONDS = 30.0


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class ServerProcess:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    ready_path: str = "/readyz"
    expected_workers: int = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serving_pids(self) -> list[int]:
        """The processes that accept connections: the spawned workers if any, else this one."""
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return [pid]
        workers = [int(child) for child in children if _is_spawned_worker(int(child))]
        return workers or [pid]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_BUDGET_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_BUDGET_SECONDS)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _is_spawned_worker(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"spawn_main" in command


def start_server(
    name: str,
    arguments: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    cwd: Path,
    ready_path: str = "/readyz",
    expected_workers: int = 1,
) -> ServerProcess:
    """Start `python <arguments>`; `wait_until_ready` before sending it work."""
    log_path = cwd / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, *arguments],
            env=dict(env),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return ServerProcess(name, process, port, log_path, ready_path, expected_workers)


def wait_until_ready(*servers: ServerProcess) -> None:
    """Until each answers its readiness path (and runs all its workers); they start together."""
    deadline = time.monotonic() + START_BUDGET_SECONDS
    waiting = list(servers)
    while waiting:
        for server in list(waiting):
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited during start-up:\n{server.log_tail()}")
            if _ready(server.url + server.ready_path) and (
                server.expected_workers == 1
                or len(server.serving_pids()) >= server.expected_workers
            ):
                waiting.remove(server)
        if waiting and time.monotonic() > deadline:
            names = ", ".join(server.name for server in waiting)
            raise RuntimeError(f"{names} did not become ready:\n{waiting[0].log_tail()}")
        time.sleep(0.05)


def gateway_environment(
    *,
    database_url: str | None,
    redis_url: str | None,
    redis_prefix: str,
    data_dir: Path,
    pepper_file: Path,
    org_public_key: str,
    workers: int,
) -> dict[str, str]:
    """`tipline serve` settings for a benchmark: the lowest proof-of-work difficulty (0 bits,
    never raised by load; the proof is still fetched, checked and spent), anonymous rate
    limits at the highest values the configuration accepts (still checked on every request;
    all the load comes from one address), retention off (seeded cases are years old),
    everything else as shipped."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIPLINE_")}
    # The gateway of the checkout this harness belongs to, whatever is installed.
    env["PYTHONPATH"] = python_path(env)
    env.update(
        {
            "TIPLINE_DATA_DIR": str(data_dir),
            "TIPLINE_SERVER_PEPPER_FILE": str(pepper_file),
            "TIPLINE_ORG_PUBLIC_KEY": org_public_key,
            "TIPLINE_POW_DIFFICULTY": "0",
            "TIPLINE_POW_MAX_DIFFICULTY": "0",
            "TIPLINE_ANONYMOUS_PER_MINUTE": str(ANONYMOUS_PER_MINUTE),
            "TIPLINE_NETWORK_PER_MINUTE": str(ANONYMOUS_PER_MINUTE),
            "TIPLINE_LOCATOR_PER_HOUR": str(ANONYMOUS_PER_MINUTE),
            "TIPLINE_WORKERS": str(workers),
            "TIPLINE_LOG_FORMAT": "json",
            "TIPLINE_RETENTION_CLOSED_AFTER_DAYS": "off",
            "TIPLINE_RETENTION_IDLE_AFTER_DAYS": "off",
            "TIPLINE_RETENTION_WITHDRAWN_AFTER_DAYS": "off",
        }
    )
    if database_url is not None:
        env["TIPLINE_DATABASE_URL"] = database_url
    if redis_url is not None:
        env["TIPLINE_REDIS_URL"] = redis_url
        env["TIPLINE_REDIS_KEY_PREFIX"] = redis_prefix
    return env


def start_gateway(env: Mapping[str, str], *, cwd: Path, workers: int) -> ServerProcess:
    port = free_port()
    return start_server(
        f"gateway-{workers}w",
        ["-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(port)],
        port=port,
        env=env,
        cwd=cwd,
        expected_workers=workers,
    )


def start_ceiling(kind: str, *, cwd: Path, dsn: str, redis_url: str, channel: str) -> ServerProcess:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIPLINE_")}
    env["PYTHONPATH"] = python_path(env)
    arguments = ["-m", "tests.bench.ceilings", kind, "--port", str(port)]
    if kind == "ingest":
        arguments += ["--dsn", dsn, "--redis-url", redis_url, "--channel", channel]
    return start_server(f"ceiling-{kind}", arguments, port=port, env=env, cwd=cwd)


def python_path(env: Mapping[str, str]) -> str:
    """PYTHONPATH with the repository first, so `-m tests.bench...` works from any folder."""
    return os.pathsep.join(filter(None, [str(REPOSITORY), env.get("PYTHONPATH")]))


# ------------------------------------------------------------------ memory


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class ProcessWatch:
    """CPU time and resident memory of the serving processes: now, and the peak since the
    last reset.

    The kernel keeps each process's peak (VmHWM); writing 5 to /proc/PID/clear_refs resets
    it, so each workload gets a peak of its own.
    """

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)

    def reset_peak(self) -> dict[int, int]:
        """Reset the peaks; returns each process's resident KiB at this moment."""
        for pid in self.pids:
            # Without permission the peak stays the lifetime peak: still an upper bound.
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")
        return {pid: _status_kib(pid, "VmRSS") for pid in self.pids}

    def peaks(self) -> dict[int, int]:
        return {pid: _status_kib(pid, "VmHWM") for pid in self.pids}

    def cpu_seconds(self) -> float:
        """User + system CPU time the processes have used so far (all their threads)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids:
            try:
                # The command name may hold spaces: fields are counted after its ")".
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / ticks


# ------------------------------------------------------------------ which worker


def _listening_inodes(server_port: int, client_port: int) -> set[str]:
    """Socket inodes of the server side of 127.0.0.1:client_port -> 127.0.0.1:server_port."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if local_port == server_port and remote_port == client_port:
                found.add(fields[9])
    return found


def serving_pid_of_connection(
    server_port: int, client_port: int, pids: Sequence[int]
) -> int | None:
    """Which of `pids` holds the accepted end of the client's connection (Linux /proc)."""
    inodes = _listening_inodes(server_port, client_port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for pid in pids:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if str(descriptor.readlink()) in wanted:
                    return pid
            except OSError:
                continue
    return None
