"""The load generator: a process of its own with an aiohttp client, driven by the orchestrator.

It reads one JSON job per line on standard input and answers each with one JSON line on
standard output (progress goes to standard error). Everything a request needs that is
not the request itself -- sealing envelopes, fetching and solving proofs of work, writing
an attachment's ciphertext to disk -- is prepared before the clock starts; every run is
bounded by a count and a time limit.

Jobs (`kind`): http_ceiling, ingest_ceiling, submit (W1), argon2id, pickup (W2), inbox
(W3), attachment (W4), live (W5), rate_limit (a functional check across workers).

Run: python -m tests.bench.loadgen   (the orchestrator, tests/bench/run.py, does this)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from gateway.client.directory_pin import OrganisationPin, verify_served_directory
from gateway.crypto.encoding import b64decode, b64encode, canonical_json
from gateway.crypto.envelope import parse_envelope, seal
from gateway.crypto.keys import X25519KeyPair
from gateway.crypto.message import MessageContent
from gateway.crypto.pickup import PickupCode, derive_reporter_keys
from gateway.crypto.pow import parse_challenge, solve
from gateway.crypto.stream import ciphertext_length, encrypt_stream, new_attachment_key
from tests.bench.processes import serving_pid_of_connection
from tests.bench.seed import seeded_locator, tip_text
from tests.bench.stats import summarise
from tests.fixtures.ports import free_port

JSON_HEADERS = {"Content-Type": "application/json"}
PROOF_HEADER = "X-Tipline-Proof"
TIMEOUT = aiohttp.ClientTimeout(total=600, connect=10)
ENVELOPE_BUCKET = 4096
SEALED_OVERHEAD = 16  # Poly1305 tag
EVENT_TIMEOUT_SECONDS = 5.0


def progress(text: str) -> None:
    print(f"  [loadgen] {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ running requests


@dataclass
class Measured:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0
    steps: dict[str, list[float]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Requests sent, answered well or not."""
        return len(self.latencies) + sum(self.errors.values())

    def result(self, **extra: Any) -> dict[str, Any]:
        answer: dict[str, Any] = summarise(self.latencies, self.elapsed)
        answer["errors"] = dict(self.errors)
        answer["error_count"] = sum(self.errors.values())
        for name, values in self.steps.items():
            step = summarise(values, self.elapsed)
            answer[f"{name}_p50_ms"] = step["p50_ms"]
            answer[f"{name}_p99_ms"] = step["p99_ms"]
        answer.update(extra)
        return answer


# One request: returns None when it succeeded, else a short label for the error table.
Attempt = Callable[[int, Measured], Awaitable[str | None]]


async def closed_loop(
    attempt: Attempt, *, concurrency: int, requests: int, seconds: float
) -> Measured:
    """`concurrency` clients, each sending its next request as soon as the last one answered,
    until `requests` were sent or `seconds` passed."""
    measured = Measured()
    next_index = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def client() -> None:
        nonlocal next_index
        while next_index < requests and time.perf_counter() < deadline:
            index = next_index
            next_index += 1
            begun = time.perf_counter()
            try:
                error = await attempt(index, measured)
            except (aiohttp.ClientError, TimeoutError, OSError) as failure:
                error = type(failure).__name__
            if error is None:
                measured.latencies.append(time.perf_counter() - begun)
            else:
                measured.errors[error] += 1

    await asyncio.gather(*(client() for _ in range(concurrency)))
    measured.elapsed = time.perf_counter() - started
    return measured


async def refusal(response: aiohttp.ClientResponse) -> str:
    try:
        body = await response.json(content_type=None)
        code = body["error"]["code"]
    except (ValueError, KeyError, TypeError, aiohttp.ClientError):
        code = "?"
    return f"{response.status} {code}"


def session_for(concurrency: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency),
        timeout=TIMEOUT,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


# ------------------------------------------------------------------ what reporters send


@dataclass(frozen=True)
class Tip:
    locator: bytes
    body: bytes
    headers: dict[str, str]


class TipMaker:
    """New-tip bodies as the reporter's client builds them: a 4 KiB-bucket envelope for every
    vetted triage investigator (and recovery key) plus a fresh reporter key."""

    def __init__(self, served_directory: Any, org_public_key: bytes) -> None:
        verified = verify_served_directory(served_directory, OrganisationPin.of_key(org_public_key))
        self.recipients = verified.directory.vetted(int(time.time())).new_tip_recipients()
        self.text = tip_text()

    def make(self, proof: dict[str, Any]) -> Tip:
        """One tip: its locator, JSON body and headers (the proof of work among them)."""
        reporter = X25519KeyPair.generate()
        locator = secrets.token_bytes(32)
        envelope = seal(
            MessageContent(kind="tip", body=self.text, created=int(time.time())),
            recipients=[*self.recipients, reporter.public],
            case=None,
        )
        wire = envelope.to_json()
        ciphertext = b64decode(str(wire["ciphertext"]), what="ciphertext")
        assert len(ciphertext) == ENVELOPE_BUCKET + SEALED_OVERHEAD, "not the 4 KiB bucket"
        body = {
            "v": 1,
            "locator": b64encode(locator),
            "reporter_pk": b64encode(reporter.public),
            "urgent": False,
            "envelope": wire,
        }
        return Tip(
            locator, json.dumps(body).encode(), {**JSON_HEADERS, PROOF_HEADER: proof_header(proof)}
        )


async def proofs(
    session: aiohttp.ClientSession, gateway: str, purpose: str, count: int, concurrency: int
) -> list[dict[str, Any]]:
    """`count` solved proofs of work, fetched from the gateway before the clock starts."""
    solved: list[dict[str, Any]] = []

    async def fetch(index: int, _measured: Measured) -> str | None:
        async with session.get(f"{gateway}/api/v1/pow", params={"purpose": purpose}) as response:
            if response.status != 200:
                return await refusal(response)
            challenge = parse_challenge(await response.json())
        solved.append(solve(challenge).to_json())
        return None

    fetched = await closed_loop(fetch, concurrency=concurrency, requests=count, seconds=600)
    if fetched.errors:
        raise RuntimeError(f"fetching proofs of work failed: {dict(fetched.errors)}")
    return solved


def proof_header(proof: dict[str, Any]) -> str:
    return b64encode(canonical_json(proof))


def locator_header(locator: bytes) -> str:
    return f"Locator {b64encode(locator)}"


# ------------------------------------------------------------------ the load generator


class LoadGenerator:
    def __init__(self) -> None:
        # Locators of the tips this process submitted: W2 looks them up.
        self.submitted: list[bytes] = []
        # What `phase: prepare` made for the next run of each kind.
        self.prepared: dict[str, Any] = {}

    async def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """`phase: prepare` makes a job's inputs (the gateway serves proofs of work then);
        the next run of that kind uses them, so only the run itself is measured."""
        kind = job["kind"]
        if job.get("phase") == "prepare":
            prepared, anonymous = await getattr(self, f"prepare_{kind}")(job)
            self.prepared[kind] = prepared
            return {"kind": kind, "prepared": True, "anonymous": anonymous}
        handler = getattr(self, f"job_{kind}")
        result: dict[str, Any] = await handler(job)
        result["kind"] = kind
        return result

    async def _inputs(self, job: dict[str, Any]) -> Any:
        kind = job["kind"]
        if kind not in self.prepared:
            self.prepared[kind], _ = await getattr(self, f"prepare_{kind}")(job)
        return self.prepared.pop(kind)

    # -------------------------------------------------------------- ceilings

    async def job_http_ceiling(self, job: dict[str, Any]) -> dict[str, Any]:
        async with session_for(job["concurrency"]) as session:

            async def get(_index: int, _measured: Measured) -> str | None:
                async with session.get(job["url"] + "/ceiling") as response:
                    await response.read()
                    return None if response.status == 200 else await refusal(response)

            warmup = min(50, job["requests"])
            await closed_loop(get, concurrency=job["concurrency"], requests=warmup, seconds=10)
            measured = await closed_loop(
                get,
                concurrency=job["concurrency"],
                requests=job["requests"],
                seconds=job["seconds"],
            )
        return measured.result()

    async def job_ingest_ceiling(self, job: dict[str, Any]) -> dict[str, Any]:
        async with session_for(job["concurrency"]) as session:
            async with session.get(job["gateway"] + "/api/v1/directory") as response:
                maker = TipMaker(await response.json(), b64decode(job["org_public_key"], what="k"))
            # The same body and headers a tip has (a proof of work of the same shape, never
            # checked here).
            proof = {"challenge": b64encode(os.urandom(120)), "mac": "x" * 22, "nonce": "AAAAAA"}
            tips = [maker.make(proof) for _ in range(min(job["requests"], 500))]

            async def post(index: int, _measured: Measured) -> str | None:
                tip = tips[index % len(tips)]
                async with session.post(
                    job["url"] + "/ceiling", data=tip.body, headers=tip.headers
                ) as response:
                    await response.read()
                    return None if response.status == 201 else await refusal(response)

            warmup = min(50, job["requests"])
            await closed_loop(post, concurrency=job["concurrency"], requests=warmup, seconds=10)
            measured = await closed_loop(
                post,
                concurrency=job["concurrency"],
                requests=job["requests"],
                seconds=job["seconds"],
            )
        return measured.result(body_bytes=len(tips[0].body))

    # -------------------------------------------------------------- W1 submit

    async def _tips(self, job: dict[str, Any], count: int) -> list[Tip]:
        gateway = job["gateway"]
        async with session_for(8) as session:
            async with session.get(gateway + "/api/v1/directory") as response:
                maker = TipMaker(await response.json(), b64decode(job["org_public_key"], what="k"))
            solved = await proofs(session, gateway, "submit", count, job.get("concurrency", 8))
        return [maker.make(proof) for proof in solved]

    async def prepare_submit(self, job: dict[str, Any]) -> tuple[Any, int]:
        prepared_at = time.perf_counter()
        tips = await self._tips(job, job["requests"])
        progress(
            f"{len(tips)} tips sealed, proofs solved in {time.perf_counter() - prepared_at:.1f} s"
        )
        return tips, len(tips)

    async def job_submit(self, job: dict[str, Any]) -> dict[str, Any]:
        concurrency = job["concurrency"]
        tips: list[Tip] = await self._inputs(job)
        url = job["gateway"] + "/api/v1/cases"
        accepted: list[bytes] = []
        async with session_for(concurrency) as session:

            async def post(index: int, _measured: Measured) -> str | None:
                tip = tips[index]
                async with session.post(url, data=tip.body, headers=tip.headers) as response:
                    await response.read()
                    if response.status != 201:
                        return await refusal(response)
                accepted.append(tip.locator)
                return None

            measured = await closed_loop(
                post, concurrency=concurrency, requests=len(tips), seconds=job["seconds"]
            )
        self.submitted.extend(accepted)
        return measured.result(
            accepted=len(accepted),
            sent=measured.count,
            anonymous=measured.count,
            body_bytes=len(tips[0].body),
            recipients=len(parse_envelope(json.loads(tips[0].body)["envelope"]).recipient_kids),
        )

    # -------------------------------------------------------------- Argon2id, on its own

    async def job_argon2id(self, job: dict[str, Any]) -> dict[str, Any]:
        org_key = b64decode(job["org_public_key"], what="key")
        times = []
        for _ in range(job.get("repeat", 5)):
            code = PickupCode.generate()
            begun = time.perf_counter()
            derive_reporter_keys(code, org_key)
            times.append(time.perf_counter() - begun)
        return {
            "count": len(times),
            "p50_ms": round(statistics.median(times) * 1e3, 1),
            "max_ms": round(max(times) * 1e3, 1),
        }

    # -------------------------------------------------------------- W2 pickup

    def _locators(self, job: dict[str, Any]) -> list[bytes]:
        source = job["locators"]
        if source == "submitted":
            if not self.submitted:
                raise RuntimeError("W2 needs tips submitted by W1 first")
            return [random.choice(self.submitted) for _ in range(job["requests"])]
        seed, count = bytes.fromhex(source["seed"]), int(source["count"])
        return [seeded_locator(seed, random.randrange(count)) for _ in range(job["requests"])]

    async def prepare_pickup(self, job: dict[str, Any]) -> tuple[Any, int]:
        locators = self._locators(job)
        async with session_for(8) as session:
            solved = await proofs(session, job["gateway"], "lookup", len(locators), 8)
        headers = [
            {"Authorization": locator_header(locator), PROOF_HEADER: proof_header(proof)}
            for locator, proof in zip(locators, solved, strict=True)
        ]
        return headers, len(solved)

    async def job_pickup(self, job: dict[str, Any]) -> dict[str, Any]:
        concurrency = job["concurrency"]
        headers: list[dict[str, str]] = await self._inputs(job)
        url = job["gateway"] + "/api/v1/reporter/case"
        async with session_for(concurrency) as session:

            async def get(index: int, _measured: Measured) -> str | None:
                async with session.get(url, headers=headers[index]) as response:
                    await response.read()
                    return None if response.status == 200 else await refusal(response)

            measured = await closed_loop(
                get, concurrency=concurrency, requests=len(headers), seconds=job["seconds"]
            )
        return measured.result(anonymous=measured.count)

    # -------------------------------------------------------------- W3 inbox

    async def job_inbox(self, job: dict[str, Any]) -> dict[str, Any]:
        concurrency = job["concurrency"]
        headers = {"Authorization": f"Session {job['session']}"}
        gateway = job["gateway"]
        async with session_for(concurrency) as session:

            async def list_and_open(_index: int, measured: Measured) -> str | None:
                begun = time.perf_counter()
                async with session.get(
                    gateway + "/api/v1/inbox", params={"limit": "50"}, headers=headers
                ) as response:
                    if response.status != 200:
                        return await refusal(response)
                    cases = (await response.json())["cases"]
                listed = time.perf_counter()
                measured.steps.setdefault("list", []).append(listed - begun)
                if not cases:
                    return "empty inbox"
                case_id = random.choice(cases)["case_id"]
                async with session.get(f"{gateway}/api/v1/cases/{case_id}", headers=headers) as got:
                    await got.read()
                    if got.status != 200:
                        return await refusal(got)
                measured.steps.setdefault("open", []).append(time.perf_counter() - listed)
                return None

            measured = await closed_loop(
                list_and_open,
                concurrency=concurrency,
                requests=job["requests"],
                seconds=job["seconds"],
            )
        return measured.result()

    # -------------------------------------------------------------- W4 attachment

    async def prepare_attachment(self, job: dict[str, Any]) -> tuple[Any, int]:
        """The ciphertext on disk, a tip to attach it to, and the proofs every transfer needs."""
        content_size = int(job["size"])
        ciphertext = Path(job["workdir"]) / "attachment.bin"
        length = ciphertext_length(content_size)
        if not ciphertext.exists() or ciphertext.stat().st_size != length:
            await asyncio.to_thread(_write_ciphertext, ciphertext, content_size)
        gateway = job["gateway"]
        [tip] = await self._tips(job | {"concurrency": 1}, 1)
        locator = tip.locator
        repeat = int(job.get("repeat", 1))
        async with session_for(2) as session:
            async with session.post(
                gateway + "/api/v1/cases", data=tip.body, headers=tip.headers
            ) as response:
                if response.status != 201:
                    raise RuntimeError(await refusal(response))
            transfers = []
            for _ in range(repeat):
                reply = await proofs(session, gateway, "reply", 1, 1)
                lookups = await proofs(session, gateway, "lookup", 2, 1)
                transfers.append({"reply": reply[0], "lookup": lookups[0], "download": lookups[1]})
        prepared = {"locator": locator, "file": ciphertext, "length": length, "proofs": transfers}
        return prepared, 2 + 3 * repeat

    async def job_attachment(self, job: dict[str, Any]) -> dict[str, Any]:
        prepared = await self._inputs(job)
        locator, ciphertext, length = prepared["locator"], prepared["file"], prepared["length"]
        gateway = job["gateway"]
        uploads: list[float] = []
        downloads: list[float] = []
        async with session_for(2) as session:
            for proof in prepared["proofs"]:
                begun = time.perf_counter()
                async with session.post(
                    gateway + "/api/v1/reporter/attachments",
                    data=_file_chunks(ciphertext),
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(length),
                        "Authorization": locator_header(locator),
                        PROOF_HEADER: proof_header(proof["reply"]),
                    },
                ) as response:
                    if response.status != 201:
                        raise RuntimeError(await refusal(response))
                    attachment_id = (await response.json())["id"]
                uploads.append(time.perf_counter() - begun)
                async with session.get(
                    gateway + "/api/v1/reporter/case",
                    headers={
                        "Authorization": locator_header(locator),
                        PROOF_HEADER: proof_header(proof["lookup"]),
                    },
                ) as response:
                    case_id = (await response.json())["case"]
                begun = time.perf_counter()
                received = 0
                async with session.get(
                    f"{gateway}/api/v1/cases/{case_id}/attachments/{attachment_id}",
                    headers={
                        "Authorization": locator_header(locator),
                        PROOF_HEADER: proof_header(proof["download"]),
                    },
                ) as response:
                    if response.status != 200:
                        raise RuntimeError(await refusal(response))
                    async for chunk in response.content.iter_chunked(1 << 20):
                        received += len(chunk)
                downloads.append(time.perf_counter() - begun)
                if received != length:
                    raise RuntimeError(f"downloaded {received} bytes of {length}")
        upload_s, download_s = statistics.median(uploads), statistics.median(downloads)
        return {
            "count": len(uploads),
            "bytes": length,
            "upload_s": [round(value, 3) for value in uploads],
            "download_s": [round(value, 3) for value in downloads],
            "upload_mb_per_s": round(length / upload_s / 1e6, 1),
            "download_mb_per_s": round(length / download_s / 1e6, 1),
            "anonymous": 3 * len(uploads),
        }

    # -------------------------------------------------------------- W5 live events

    async def prepare_live(self, job: dict[str, Any]) -> tuple[Any, int]:
        tips = await self._tips(job | {"concurrency": 4}, job["events"])
        return tips, len(tips)

    async def job_live(self, job: dict[str, Any]) -> dict[str, Any]:
        gateway, port, pids = job["gateway"], job["server_port"], job["worker_pids"]
        headers = {"Authorization": f"Session {job['session']}"}
        events: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        tips: list[Tip] = await self._inputs(job)
        async with session_for(2) as session:
            socket = await session.ws_connect(gateway + "/api/v1/events", headers=headers)
            ready = await socket.receive_json(timeout=10)
            assert ready.get("topic") == "ready", ready
            socket_pid = serving_pid_of_connection(port, socket.get_extra_info("sockname")[1], pids)
            reader = asyncio.create_task(_read_events(socket, events))
            pinned = await _pinned_sessions(gateway, port, pids, per_process=2)
            try:
                await _drain(events, job.get("quiet_seconds", 1.0))
                others = [s for pid, group in pinned.items() if pid != socket_pid for s in group]
                same = pinned.get(socket_pid, []) if socket_pid is not None else []
                # Two of three tips go to another process than the socket's.
                rotation = [*others, *same[:1]] if others else same
                samples: dict[str, list[float]] = {"cross": [], "same": []}
                errors: Counter[str] = Counter()
                early = 0
                for index, tip in enumerate(tips):
                    client, local_port = rotation[index % len(rotation)]
                    async with client.post(
                        gateway + "/api/v1/cases", data=tip.body, headers=tip.headers
                    ) as response:
                        answered = time.perf_counter()
                        await response.read()
                        if response.status != 201:
                            errors[await refusal(response)] += 1
                            continue
                    try:
                        arrived, _event = await asyncio.wait_for(
                            events.get(), EVENT_TIMEOUT_SECONDS
                        )
                    except TimeoutError:
                        errors["event missing"] += 1
                        continue
                    took = arrived - answered
                    if took < 0:
                        early += 1
                    # Checked per request: a connection the server closed comes back anywhere.
                    served_by = serving_pid_of_connection(port, local_port, pids)
                    samples["cross" if served_by != socket_pid else "same"].append(max(took, 0.0))
                    await asyncio.sleep(job.get("gap_seconds", 0.01))
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                await socket.close()
                for group in pinned.values():
                    for client, _port in group:
                        await client.close()
        cross = summarise(samples["cross"], 1.0)
        same = summarise(samples["same"], 1.0)
        return {
            "count": cross["count"],
            "p50_ms": cross["p50_ms"],
            "p99_ms": cross["p99_ms"],
            "max_ms": cross["max_ms"],
            "same_process": {k: same[k] for k in ("count", "p50_ms", "p99_ms", "max_ms")},
            "socket_process": socket_pid,
            "processes": pids,
            "events_before_201": early,
            "anonymous": len(tips),
            "errors": dict(errors),
            "error_count": sum(errors.values()),
        }

    # -------------------------------------------------------------- rate limits across workers

    async def job_rate_limit(self, job: dict[str, Any]) -> dict[str, Any]:
        """Ten failed logins for one name spread over the workers, then one more on each:
        with the count shared through Redis every worker refuses the eleventh (429)."""
        gateway, port, pids = job["gateway"], job["server_port"], job["worker_pids"]
        pinned = await _pinned_sessions(gateway, port, pids, per_process=1)
        username = f"nobody-{secrets.token_hex(4)}"
        attempts: list[dict[str, Any]] = []
        try:
            order = [pid for _ in range(5) for pid in pids][:10] + list(pids)
            for pid in order:
                client, _ = pinned[pid][0]
                async with client.post(
                    gateway + "/api/v1/auth/login",
                    json={
                        "username": username,
                        "auth_key": b64encode(os.urandom(32)),
                        "totp": "000000",
                    },
                ) as response:
                    await response.read()
                    attempts.append({"process": pid, "status": response.status})
        finally:
            for group in pinned.values():
                for client, _port in group:
                    await client.close()
        first, last = attempts[:10], attempts[10:]
        return {
            "processes": pids,
            "attempts": attempts,
            "shared": all(a["status"] == 401 for a in first)
            and all(a["status"] == 429 for a in last)
            and len({a["process"] for a in first}) == len(pids),
        }


def _write_ciphertext(path: Path, content_size: int) -> None:
    """A real attachment stream (secretstream, Padmé padding) of `content_size` zero bytes."""
    block = bytes(1 << 20)

    def content() -> Any:
        left = content_size
        while left > 0:
            piece = block[: min(left, len(block))]
            left -= len(piece)
            yield piece

    with path.open("wb") as handle:
        for chunk in encrypt_stream(new_attachment_key(), content(), content_size):
            handle.write(chunk)


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    # Blocking reads of a page-cached file: this loop has nothing else to do meanwhile.
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk


async def _read_events(
    socket: aiohttp.ClientWebSocketResponse, events: asyncio.Queue[tuple[float, dict[str, Any]]]
) -> None:
    async for message in socket:
        if message.type is not aiohttp.WSMsgType.TEXT:
            break
        event = json.loads(message.data)
        if event.get("topic") == "case.created":
            events.put_nowait((time.perf_counter(), event))


async def _drain(events: asyncio.Queue[tuple[float, dict[str, Any]]], quiet: float) -> None:
    """Let events of earlier work arrive and drop them, until `quiet` seconds pass quietly."""
    while True:
        try:
            await asyncio.wait_for(events.get(), quiet)
        except TimeoutError:
            return


async def _pinned_sessions(
    gateway: str, port: int, pids: list[int], *, per_process: int, tries: int = 64
) -> dict[int, list[tuple[aiohttp.ClientSession, int]]]:
    """Client sessions of one kept-alive connection each from a local port of our choosing,
    sorted by the worker that accepted it, until every worker has `per_process` of them
    (the kernel spreads new connections over the workers)."""
    pinned: dict[int, list[tuple[aiohttp.ClientSession, int]]] = {pid: [] for pid in pids}
    for _ in range(tries):
        if all(len(group) >= per_process for group in pinned.values()):
            break
        local_port = free_port()
        client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=1, keepalive_timeout=300, local_addr=("127.0.0.1", local_port)
            ),
            timeout=TIMEOUT,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        async with client.get(gateway + "/healthz") as response:
            await response.read()
        pid = serving_pid_of_connection(port, local_port, pids)
        if pid is not None and len(pinned[pid]) < per_process:
            pinned[pid].append((client, local_port))
        else:
            await client.close()
    missing = [pid for pid, group in pinned.items() if len(group) < per_process]
    if missing:
        raise RuntimeError(f"no connection landed on processes {missing}")
    return pinned


async def serve_jobs() -> None:
    generator = LoadGenerator()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        job = json.loads(line)
        try:
            result = await generator.run(job)
        except Exception as failure:  # Reported to the orchestrator, which decides.  # noqa: BLE001
            result = {"kind": job.get("kind"), "failed": f"{type(failure).__name__}: {failure}"}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(serve_jobs())
