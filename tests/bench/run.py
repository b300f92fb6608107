"""The orchestrator: services, gateway and ceiling processes, the load generator, the report.

`run_workloads` measures W1-W5 against `tipline serve` on 127.0.0.1 with the two ceilings
measured in the same run (interleaved, repeat by repeat, at the same concurrency), checks
the database after every submit run, and repeats the W1 run and the cross-process checks
with `--workers 2`. `run_scale` seeds 10k, 100k, 1M cases and measures W2 and W3 at each.
Both return the report as a dictionary; `print_report` prints it as a table and as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp

from gateway.client.directory_pin import OrganisationPin, verify_served_directory
from gateway.config import decode_secret, new_secret_text
from gateway.store import Database
from tests.bench import checks
from tests.bench.environment import BenchServices, create_services, drop_services, machine
from tests.bench.organisation import BenchOrganisation, log_in, new_organisation, staff
from tests.bench.processes import (
    ANONYMOUS_PER_MINUTE,
    ProcessWatch,
    ServerProcess,
    gateway_environment,
    python_path,
    start_ceiling,
    start_gateway,
    wait_until_ready,
)
from tests.bench.seed import Triage, grow_to
from tests.bench.stats import table

WORKLOADS = ("w1", "w2", "w3", "w4", "w5")
Say = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """How much of everything a run does; every run is bounded in count and in time."""

    workloads: tuple[str, ...] = WORKLOADS
    repeat: int = 3
    seconds: float = 30.0
    submit_clients: int = 32
    submit_requests: int = 3000
    pickup_clients: int = 16
    pickup_requests: int = 3000
    inbox_clients: int = 8
    inbox_requests: int = 1500
    ceiling_requests: int = 3000
    attachment_bytes: int = 2**30
    attachment_repeat: int = 3
    live_events: int = 300
    two_workers: bool = True
    backend: str = "services"  # or "embedded": SQLite and the in-process broker, one process
    # W1-W4 on a one-process gateway (the targets' setting); False runs everything on the
    # --workers 2 gateway (the smoke test: one gateway start less).
    one_process: bool = True
    # Record each measured job's gateway process with py-spy (collapsed stacks) into here.
    profile_dir: str | None = None
    # Seed and measure these sizes after the workloads, on the same gateway (the smoke
    # test's way through the scale run without starting another gateway).
    scale_sizes: tuple[int, ...] = ()
    # Quiet time that ends W5's wait for earlier events; Argon2id runs measured.
    quiet_seconds: float = 1.0
    argon2id_repeat: int = 5


PRESETS: dict[str, Plan] = {
    "full": Plan(),
    "quick": Plan(
        repeat=1,
        seconds=15,
        submit_requests=600,
        pickup_requests=600,
        inbox_requests=300,
        ceiling_requests=600,
        attachment_bytes=64 * 2**20,
        attachment_repeat=1,
        live_events=60,
    ),
    # A few requests each, to prove the harness runs (tests/bench_smoke).
    "smoke": Plan(
        repeat=1,
        seconds=10,
        submit_clients=4,
        submit_requests=8,
        pickup_clients=2,
        pickup_requests=6,
        inbox_clients=2,
        inbox_requests=3,
        ceiling_requests=10,
        attachment_bytes=256 * 1024,
        attachment_repeat=1,
        live_events=3,
        one_process=False,
        scale_sizes=(20, 40),
        quiet_seconds=0.3,
        argon2id_repeat=1,
    ),
}


class LoadGeneratorProcess:
    """`python -m tests.bench.loadgen`, one JSON job per line in, one result per line out."""

    def __init__(self, cwd: Path) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = python_path(env)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.loadgen"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=cwd,
            env=env,
            text=True,
        )

    def ask(self, job: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(json.dumps(job) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the load generator exited")
        result: dict[str, Any] = json.loads(line)
        if "failed" in result:
            raise RuntimeError(f"{job['kind']} failed in the load generator: {result['failed']}")
        return result

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


class AnonymousBudget:
    """Keeps the run's anonymous requests under the gateway-wide limit per sliding minute:
    before a job, wait until the last minute's requests plus the job's leave room."""

    def __init__(self, per_minute: int, say: Say) -> None:
        self._room = int(per_minute * 0.9)
        self._spent: list[tuple[float, int]] = []
        self._say = say

    def wait_for(self, expected: int) -> None:
        expected = min(expected, self._room)
        while True:
            now = time.monotonic()
            self._spent = [(at, n) for at, n in self._spent if at > now - 61]
            if sum(n for _, n in self._spent) + expected <= self._room:
                return
            pause = self._spent[0][0] + 61 - now
            self._say(f"pacing: {pause:.0f} s until the anonymous rate limit has room")
            time.sleep(max(pause, 0.5))

    def spent(self, count: int) -> None:
        self._spent.append((time.monotonic(), count))


def _rounded(value: float) -> float:
    """Two decimals, or four significant digits for small values (ratios such as 0.0045)."""
    return round(value, 2) if abs(value) >= 1 else float(f"{value:.4g}")


def _median_of(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Repeats folded into one result: medians of the numbers, sums of the errors, raw values."""
    merged: dict[str, Any] = dict(results[-1])
    for key, value in results[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            values = [result[key] for result in results if isinstance(result.get(key), int | float)]
            merged[key] = _rounded(statistics.median(values)) if values else value
    errors: dict[str, int] = {}
    for result in results:
        for code, count in result.get("errors", {}).items():
            errors[code] = errors.get(code, 0) + count
    merged["errors"] = errors
    merged["error_count"] = sum(errors.values())
    if len(results) > 1:
        merged["repeats"] = [
            {
                k: r.get(k)
                for k in ("throughput_per_s", "p50_ms", "p99_ms", "cpu_ms_per_request", "load_1m")
            }
            for r in results
        ]
    return merged


@dataclass
class Bench:
    """One run's processes and measurements."""

    plan: Plan
    services: BenchServices | None
    workdir: Path
    say: Say
    organisation: BenchOrganisation = field(default_factory=new_organisation)
    ceilings: dict[str, ServerProcess] = field(default_factory=dict)
    gateways: dict[int, ServerProcess] = field(default_factory=dict)
    gateway: ServerProcess | None = None
    loadgen: LoadGeneratorProcess | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    budget: AnonymousBudget | None = None

    # ---------------------------------------------------------------- processes

    @property
    def pepper_file(self) -> Path:
        return self.workdir / "server_pepper"

    def launch_ceilings(self) -> list[ServerProcess]:
        assert self.services is not None
        for kind in ("http", "ingest"):
            self.ceilings[kind] = start_ceiling(
                kind,
                cwd=self.workdir,
                dsn=self.services.dsn,
                redis_url=self.services.redis_url,
                channel=self.services.redis_prefix + "ceiling",
            )
        return list(self.ceilings.values())

    def launch_gateway(self, workers: int) -> ServerProcess:
        """Start `tipline serve --workers N` (wait_until_ready before use)."""
        embedded = self.plan.backend == "embedded"
        if not self.pepper_file.exists():
            self.pepper_file.write_text(new_secret_text() + "\n")
            self.pepper_file.chmod(0o600)
        env = gateway_environment(
            database_url=None if embedded or self.services is None else self.services.database_url,
            redis_url=None if embedded or self.services is None else self.services.redis_url,
            redis_prefix=self.services.redis_prefix if self.services else "tipline-bench:",
            data_dir=self.workdir / f"data-{workers}w",
            pepper_file=self.pepper_file,
            org_public_key=self.organisation.public_key_text,
            workers=workers,
        )
        server = start_gateway(env, cwd=self.workdir, workers=workers)
        self.gateways[workers] = server
        return server

    def use_gateway(self, workers: int) -> None:
        """Measure this gateway from now on (starting it if it is not running yet)."""
        server = self.gateways.get(workers) or self.launch_gateway(workers)
        wait_until_ready(server)
        self.gateway = server
        self.say(f"gateway: {workers} process(es) {server.serving_pids()} on {server.url}")

    def stop_gateway(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None

    def close(self) -> None:
        if self.loadgen is not None:
            self.loadgen.close()
        for server in [*self.gateways.values(), *self.ceilings.values()]:
            server.stop()

    # ---------------------------------------------------------------- measuring

    def ask(self, job: dict[str, Any]) -> dict[str, Any]:
        if self.loadgen is None:
            self.loadgen = LoadGeneratorProcess(self.workdir)
        return self.loadgen.ask(job)

    def measure(self, job: dict[str, Any]) -> dict[str, Any]:
        """One job against the gateway: inputs prepared first (unmeasured), then the run with
        the gateway's CPU time and its memory before and at the peak."""
        assert self.gateway is not None
        if self.budget is None:
            self.budget = AnonymousBudget(ANONYMOUS_PER_MINUTE, self.say)
        self.budget.wait_for(_anonymous_requests(job))
        spent = 0
        if job["kind"] in PREPARED_KINDS:
            spent += int(self.ask({**job, "phase": "prepare"})["anonymous"])
        result = self._watched(self.gateway, job, profile=True)
        self.budget.spent(spent + int(result.get("anonymous", 0)))
        return result

    def _watched(
        self, server: ServerProcess, job: dict[str, Any], *, profile: bool = False
    ) -> dict[str, Any]:
        watch = ProcessWatch(server.serving_pids())
        before = watch.reset_peak()
        cpu_before = watch.cpu_seconds()
        if profile:
            with self._profiled(job):
                result = self.ask(job)
        else:
            result = self.ask(job)
        cpu = watch.cpu_seconds() - cpu_before
        peaks = watch.peaks()
        result["load_1m"] = round(os.getloadavg()[0], 2)
        result["cpu_s"] = round(cpu, 2)
        if result.get("count"):
            result["cpu_ms_per_request"] = round(cpu * 1e3 / result["count"], 2)
        result["peak_rss_mib"] = round(max(peaks.values()) / 1024, 1)
        result["rss_before_mib"] = round(max(before.values()) / 1024, 1)
        result["rss_growth_mib"] = round(max(peaks[p] - before[p] for p in peaks) / 1024, 1)
        return result

    @contextmanager
    def _profiled(self, job: dict[str, Any]) -> Iterator[None]:
        """py-spy on the (first) gateway process while the job runs, when asked for."""
        if self.plan.profile_dir is None or self.gateway is None:
            yield
            return
        folder = Path(self.plan.profile_dir)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{job['kind']}-{self.gateway.name}-{int(time.time())}.txt"
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--pid",
                str(self.gateway.serving_pids()[0]),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(target),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield
        finally:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
            self.say(f"profile: {target}")

    def ceiling_jobs(self, clients: int) -> list[dict[str, Any]]:
        if not self.ceilings:
            return []
        common = {"concurrency": clients, "seconds": self.plan.seconds}
        common["requests"] = self.plan.ceiling_requests
        return [
            {"kind": "http_ceiling", "url": self.ceilings["http"].url, **common},
            {
                "kind": "ingest_ceiling",
                "url": self.ceilings["ingest"].url,
                "gateway": self.gateway_url,
                "org_public_key": self.organisation.public_key_text,
                **common,
            },
        ]

    @property
    def gateway_url(self) -> str:
        assert self.gateway is not None
        return self.gateway.url

    def compared(self, name: str, job: dict[str, Any], clients: int) -> dict[str, Any]:
        """The workload and both ceilings, interleaved repeat by repeat; medians reported,
        each ratio taken within a repeat (so that a noisy moment hits both sides)."""
        runs: list[dict[str, Any]] = []
        http_runs: list[dict[str, Any]] = []
        ingest_runs: list[dict[str, Any]] = []
        for repeat in range(self.plan.repeat):
            ceilings = [
                self._watched(self.ceilings[kind], ceiling)
                for kind, ceiling in zip(
                    ("http", "ingest"), self.ceiling_jobs(clients), strict=False
                )
            ]
            run = self.measure(job)
            if ceilings:
                http, ingest = ceilings
                http_runs.append(http)
                ingest_runs.append(ingest)
                run["vs_http"] = round(run["throughput_per_s"] / http["throughput_per_s"], 3)
                run["vs_ingest"] = round(run["throughput_per_s"] / ingest["throughput_per_s"], 3)
                if run.get("cpu_ms_per_request") and ingest.get("cpu_ms_per_request"):
                    # Less noisy than throughput on a shared machine: CPU per request.
                    run["cpu_vs_ingest"] = round(
                        ingest["cpu_ms_per_request"] / run["cpu_ms_per_request"], 3
                    )
            runs.append(run)
            self.say(
                f"{name} #{repeat + 1}: {run.get('throughput_per_s')}/s p50 {run.get('p50_ms')} ms"
                f" p99 {run.get('p99_ms')} ms errors {run.get('error_count')}"
                + (
                    f" | ceilings http {http_runs[-1]['throughput_per_s']}/s"
                    f" ingest {ingest_runs[-1]['throughput_per_s']}/s"
                    if ceilings
                    else ""
                )
                + f" | load {run['load_1m']}"
            )
        result = _median_of(runs)
        if "accepted" in runs[0]:
            result["accepted_total"] = sum(run["accepted"] for run in runs)
        if http_runs:
            self._ceiling_rows(clients, _median_of(http_runs), _median_of(ingest_runs))
        return result

    def _ceiling_rows(self, clients: int, http: dict[str, Any], ingest: dict[str, Any]) -> None:
        for label, ceiling in (("HTTP ceiling", http), ("ingest ceiling", ingest)):
            name = f"{label} ({clients} clients)"
            if any(row["workload"] == name for row in self.rows):
                continue
            self.results[name] = ceiling
            self.add_row(name, 1, clients, ceiling, unit="req/s")

    def add_row(
        self, name: str, processes: int, clients: int | None, result: dict[str, Any], *, unit: str
    ) -> None:
        throughput = result.get("throughput_per_s")
        self.rows.append(
            {
                "workload": name,
                "processes": processes,
                "clients": clients,
                "count": result.get("count"),
                "throughput": f"{throughput:,.1f} {unit}" if throughput is not None else None,
                "p50_ms": result.get("p50_ms"),
                "p99_ms": result.get("p99_ms"),
                "errors": result.get("error_count"),
                "peak_rss_mib": result.get("peak_rss_mib"),
                "cpu_ms": result.get("cpu_ms_per_request"),
                "vs_http": result.get("vs_http"),
                "vs_ingest": result.get("vs_ingest"),
            }
        )

    # ---------------------------------------------------------------- workloads

    @property
    def processes(self) -> int:
        assert self.gateway is not None
        return len(self.gateway.serving_pids())

    def submit(self, name: str) -> None:
        """W1, then the database: every 201 exactly one case, tip, inbox rows, outbox row."""
        dsn = self.services.dsn if self.services and self.plan.backend == "services" else None
        before = asyncio.run(checks.count_rows(dsn)) if dsn else None
        job = {
            "kind": "submit",
            "gateway": self.gateway_url,
            "org_public_key": self.organisation.public_key_text,
            "concurrency": self.plan.submit_clients,
            "requests": self.plan.submit_requests,
            "seconds": self.plan.seconds,
        }
        result = self.compared(name, job, self.plan.submit_clients)
        if before is not None and dsn is not None:
            after = asyncio.run(checks.count_rows(dsn))
            result["database"] = checks.compare(
                before,
                after,
                accepted=int(result["accepted_total"]),
                inboxes_per_case=len(self.organisation.people),
            )
            self.say(f"{name}: database after the run: {result['database']}")
        self.results[name] = result
        self.add_row(name, self.processes, self.plan.submit_clients, result, unit="req/s")

    def pickup(self, locators: str | dict[str, Any] = "submitted") -> None:
        self.results["Argon2id (client side, per code)"] = self.ask(
            {
                "kind": "argon2id",
                "org_public_key": self.organisation.public_key_text,
                "repeat": self.plan.argon2id_repeat,
            }
        )
        job = {
            "kind": "pickup",
            "gateway": self.gateway_url,
            "locators": locators,
            "concurrency": self.plan.pickup_clients,
            "requests": self.plan.pickup_requests,
            "seconds": self.plan.seconds,
        }
        name = "W2 pickup"
        self.results[name] = self.compared(name, job, self.plan.pickup_clients)
        self.add_row(
            name, self.processes, self.plan.pickup_clients, self.results[name], unit="req/s"
        )

    def inbox(self, session: str) -> None:
        job = {
            "kind": "inbox",
            "gateway": self.gateway_url,
            "session": session,
            "concurrency": self.plan.inbox_clients,
            "requests": self.plan.inbox_requests,
            "seconds": self.plan.seconds,
        }
        name = "W3 inbox (list 50 + open 1)"
        result = self.compared(name, job, self.plan.inbox_clients)
        # Two requests per iteration: compare requests per second with the ceilings.
        for key in ("vs_http", "vs_ingest"):
            if key in result:
                result[key] = _rounded(result[key] * 2)
        self.results[name] = result
        self.add_row(name, self.processes, self.plan.inbox_clients, result, unit="it/s")

    def attachment(self) -> None:
        job = {
            "kind": "attachment",
            "gateway": self.gateway_url,
            "org_public_key": self.organisation.public_key_text,
            "size": self.plan.attachment_bytes,
            "repeat": self.plan.attachment_repeat,
            "workdir": str(self.workdir),
        }
        result = self.measure(job)
        size = _size_text(self.plan.attachment_bytes)
        self.results[f"W4 attachment ({size})"] = result
        for direction in ("upload", "download"):
            self.rows.append(
                {
                    "workload": f"W4 {direction} ({size})",
                    "processes": self.processes,
                    "clients": 1,
                    "count": result["count"],
                    "throughput": f"{result[f'{direction}_mb_per_s']:,.1f} MB/s",
                    "peak_rss_mib": result["peak_rss_mib"],
                    "errors": 0,
                }
            )
        self.say(
            f"W4: up {result['upload_mb_per_s']} MB/s, down {result['download_mb_per_s']} MB/s,"
            f" RSS {result['rss_before_mib']} -> {result['peak_rss_mib']} MiB"
        )

    def live(self, session: str) -> None:
        assert self.gateway is not None
        job = {
            "kind": "live",
            "gateway": self.gateway_url,
            "org_public_key": self.organisation.public_key_text,
            "session": session,
            "server_port": self.gateway.port,
            "worker_pids": self.gateway.serving_pids(),
            "events": self.plan.live_events,
            "quiet_seconds": self.plan.quiet_seconds,
        }
        result = self.measure(job)
        name = "W5 live event (201 -> socket, other process)"
        self.results[name] = result
        self.add_row(name, len(job["worker_pids"]), 1, result, unit="ev/s")
        # One event at a time with pauses between: neither a rate nor a CPU cost per event.
        self.rows[-1]["throughput"] = self.rows[-1]["cpu_ms"] = None
        self.say(f"W5: {result}")

    def rate_limit(self) -> None:
        assert self.gateway is not None
        result = self.ask(
            {
                "kind": "rate_limit",
                "gateway": self.gateway_url,
                "server_port": self.gateway.port,
                "worker_pids": self.gateway.serving_pids(),
            }
        )
        self.results["login throttle shared across processes"] = result
        self.say(f"rate limit across workers: shared={result['shared']} {result['attempts']}")


PREPARED_KINDS = frozenset({"submit", "pickup", "attachment", "live"})


def _anonymous_requests(job: dict[str, Any]) -> int:
    """What a job sends without a session: a proof-of-work request for each request."""
    kind = job["kind"]
    if kind in {"submit", "pickup"}:
        return 2 * int(job["requests"])
    if kind == "live":
        return 2 * int(job["events"]) + 8
    if kind == "attachment":
        return 2 + 4 * int(job.get("repeat", 1))
    return 0


def _size_text(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB" if size >= 2**20 else f"{size / 2**10:,.0f} KiB"


def _staff_and_log_in(bench: Bench) -> str:
    asyncio.run(staff(bench.gateway_url, bench.organisation))
    return asyncio.run(log_in(bench.gateway_url, bench.organisation, bench.organisation.people[0]))


@contextmanager
def _bench(plan: Plan, say: Say, *, keep: bool = False) -> Iterator[Bench]:
    services = asyncio.run(create_services()) if plan.backend == "services" else None
    workdir = Path(tempfile.mkdtemp(prefix="tipline-bench-"))
    bench = Bench(plan=plan, services=services, workdir=workdir, say=say)
    try:
        yield bench
    finally:
        bench.close()
        if services is not None and not keep:
            asyncio.run(drop_services(services))
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def run_workloads(plan: Plan, say: Say = print) -> dict[str, Any]:
    """W1-W5 and the ceilings; see the module docstring."""
    report: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "plan": asdict(plan),
        "notes": [
            "proof of work at difficulty 0 (the lowest): fetched, checked and spent as always",
            "ceilings and gateway share the machine with the load generator",
        ],
    }
    say(f"machine: {report['machine']}")
    services = plan.backend == "services"
    several = plan.two_workers and services
    # W1-W4 run on one process (the targets' setting) unless the plan says otherwise.
    first = 1 if plan.one_process or not several else 2
    with _bench(plan, say) as bench:
        starting = bench.launch_ceilings() if services else []
        starting.append(bench.launch_gateway(first))
        wait_until_ready(*starting)
        bench.use_gateway(first)
        session = _staff_and_log_in(bench)
        locators: dict[str, Any] = {}
        if "w1" not in plan.workloads and {"w2", "w3"} & set(plan.workloads):
            # No tips submitted to look up or list: seed as many cases as W1 would send.
            locators = seed_cases(bench, plan.submit_requests)
        if "w1" in plan.workloads:
            bench.submit("W1 submit" if first == 1 else "W1 submit, --workers 2")
        if "w2" in plan.workloads:
            bench.pickup(locators if "w1" not in plan.workloads else "submitted")
        if "w3" in plan.workloads:
            bench.inbox(session)
        if "w4" in plan.workloads:
            bench.attachment()
        if plan.scale_sizes and services:
            steps = scale_steps(bench, session, plan.scale_sizes)
            report["scale"] = {"steps": steps, "rows": scale_rows(steps)}
        if several:
            if first == 1:
                bench.stop_gateway()
                bench.use_gateway(2)
                if "w1" in plan.workloads:
                    bench.submit("W1 submit, --workers 2")
            bench.rate_limit()
            if "w5" in plan.workloads:
                bench.live(session)
        bench.stop_gateway()
        report["finished_uptime"] = machine()["uptime"]
        report["results"] = bench.results
        report["rows"] = bench.rows
    return report


# ------------------------------------------------------------------ scale


def _triage_of(bench: Bench) -> list[Triage]:
    async def fetch() -> list[Triage]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(bench.gateway_url + "/api/v1/directory") as response,
        ):
            served = await response.json()
        verified = verify_served_directory(
            served, OrganisationPin.of_key(bench.organisation.key.public)
        )
        vetted = verified.directory.vetted(int(time.time()))
        found = []
        for person in bench.organisation.people:
            member = vetted.by_id(person.investigator_id)
            assert member is not None
            found.append(Triage(UUID(person.investigator_id), member.enc_pk))
        return found

    return asyncio.run(fetch())


def run_scale(plan: Plan, sizes: Sequence[int], say: Say = print) -> dict[str, Any]:
    """Seed up to each size in turn and measure W2 and W3 at each (see `scale_steps`)."""
    report: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "plan": asdict(plan),
        "sizes": list(sizes),
    }
    say(f"machine: {report['machine']}")
    plan = replace(plan, backend="services")
    with _bench(plan, say) as bench:
        bench.use_gateway(1)
        session = _staff_and_log_in(bench)
        report["steps"] = scale_steps(bench, session, sizes)
        report["finished_uptime"] = machine()["uptime"]
    report["rows"] = scale_rows(report["steps"])
    return report


def scale_steps(bench: Bench, session: str, sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Grow the population to each size (the newest cases stay the same, older ones pile up
    behind them), then measure W2 (look-ups of random seeded cases) and W3 at that size."""
    assert bench.services is not None
    plan = bench.plan
    triage = _triage_of(bench)
    pepper = decode_secret(bench.pepper_file.read_text().strip())
    assert pepper is not None
    seed = os.urandom(16)
    now = datetime.now(UTC)
    have = 0
    steps = []
    for size in sorted(sizes):
        started = time.perf_counter()
        have = asyncio.run(
            _grow(
                bench.services.database_url,
                have=have,
                want=size,
                total=max(sizes),
                seed=seed,
                pepper=pepper,
                triage=triage,
                now=now,
            )
        )
        seeded = time.perf_counter() - started
        bench.say(f"seeded to {size:,} cases in {seeded:.0f} s")
        step: dict[str, Any] = {"cases": size, "seed_seconds": round(seeded, 1)}
        pickup = {
            "kind": "pickup",
            "gateway": bench.gateway_url,
            "locators": {"seed": seed.hex(), "count": size},
            "concurrency": plan.pickup_clients,
            "requests": plan.pickup_requests,
            "seconds": plan.seconds,
        }
        inbox = {
            "kind": "inbox",
            "gateway": bench.gateway_url,
            "session": session,
            "concurrency": plan.inbox_clients,
            "requests": plan.inbox_requests,
            "seconds": plan.seconds,
        }
        w2_runs, w3_runs = [], []
        for _ in range(plan.repeat):  # interleaved, so that a noisy moment hits both
            w2_runs.append(bench.measure(pickup))
            w3_runs.append(bench.measure(inbox))
        step["w2"], step["w3"] = _median_of(w2_runs), _median_of(w3_runs)
        step["database_mib"] = asyncio.run(_database_mib(bench.services))
        step["load_1m"] = round(os.getloadavg()[0], 2)
        steps.append(step)
        bench.say(
            f"{size:,} cases: W2 p50 {step['w2']['p50_ms']} p99 {step['w2']['p99_ms']} ms;"
            f" W3 p50 {step['w3']['p50_ms']} p99 {step['w3']['p99_ms']} ms"
            f" (list p99 {step['w3'].get('list_p99_ms')}, open p99"
            f" {step['w3'].get('open_p99_ms')}); load {step['load_1m']}"
        )
    return steps


def seed_cases(bench: Bench, count: int) -> dict[str, Any]:
    """Seed `count` cases for the triage investigators; the locators' seed, for W2."""
    assert bench.services is not None
    pepper = decode_secret(bench.pepper_file.read_text().strip())
    assert pepper is not None
    seed = os.urandom(16)
    asyncio.run(
        _grow(
            bench.services.database_url,
            have=0,
            want=count,
            total=count,
            seed=seed,
            pepper=pepper,
            triage=_triage_of(bench),
            now=datetime.now(UTC),
        )
    )
    return {"seed": seed.hex(), "count": count}


def scale_rows(steps: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The scale table: each size's latencies and its p99 as a multiple of the smallest's."""
    rows = []
    for step in steps:
        base = steps[0]
        rows.append(
            {
                "cases": f"{step['cases']:,}",
                "seed_s": step["seed_seconds"],
                "db_mib": step["database_mib"],
                "w2_p50": step["w2"]["p50_ms"],
                "w2_p99": step["w2"]["p99_ms"],
                "w2_x": round(step["w2"]["p99_ms"] / base["w2"]["p99_ms"], 2),
                "w3_p50": step["w3"]["p50_ms"],
                "w3_p99": step["w3"]["p99_ms"],
                "w3_x": round(step["w3"]["p99_ms"] / base["w3"]["p99_ms"], 2),
                "errors": step["w2"]["error_count"] + step["w3"]["error_count"],
            }
        )
    return rows


async def _grow(
    url: str,
    *,
    have: int,
    want: int,
    total: int,
    seed: bytes,
    pepper: bytes,
    triage: list[Triage],
    now: datetime,
) -> int:
    database = Database.from_url(url)
    try:
        return await grow_to(
            database,
            have=have,
            want=want,
            total=total,
            seed=seed,
            pepper=pepper,
            triage=triage,
            now=now,
        )
    finally:
        await database.close()


async def _database_mib(services: BenchServices) -> float:
    import asyncpg  # noqa: PLC0415 - only the scale run needs it

    connection = await asyncpg.connect(services.dsn, timeout=10)
    try:
        size = await connection.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await connection.close()
    return round(int(size) / 2**20, 1)


# ------------------------------------------------------------------ printing

WORKLOAD_COLUMNS = (
    ("workload", "workload"),
    ("processes", "proc"),
    ("clients", "clients"),
    ("count", "n"),
    ("throughput", "throughput"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("errors", "errors"),
    ("peak_rss_mib", "peak RSS MiB"),
    ("cpu_ms", "CPU ms/req"),
    ("vs_http", "/HTTP ceil"),
    ("vs_ingest", "/ingest ceil"),
)
SCALE_COLUMNS = (
    ("cases", "cases"),
    ("seed_s", "seed s"),
    ("db_mib", "db MiB"),
    ("w2_p50", "W2 p50 ms"),
    ("w2_p99", "W2 p99 ms"),
    ("w2_x", "W2 p99 x"),
    ("w3_p50", "W3 p50 ms"),
    ("w3_p99", "W3 p99 ms"),
    ("w3_x", "W3 p99 x"),
    ("errors", "errors"),
)


def print_report(report: dict[str, Any], say: Say = print) -> None:
    columns = SCALE_COLUMNS if "sizes" in report else WORKLOAD_COLUMNS
    say("")
    say(f"machine: {report['machine']}")
    say(table(report["rows"], columns))
    if "scale" in report:
        say(table(report["scale"]["rows"], SCALE_COLUMNS))
    say("")
    say(json.dumps(report, indent=2, default=str))
