"""SIGTERM to a real `tipline serve` process: what is in flight finishes, then it exits 0.

On the services backend the gateway runs two worker processes sharing the port, so the
signal also travels from the parent to the workers.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.crypto.encoding import b64encode, canonical_json
from gateway.crypto.pow import parse_challenge, solve
from gateway.crypto.stream import encrypt_stream, new_attachment_key
from gateway.web.shutdown import GRACE_SECONDS
from tests.cli.test_serve import clean_environment, free_port, status_of
from tests.fixtures import services

START_BUDGET_SECONDS = 20.0


@dataclass
class ServedGateway:
    process: subprocess.Popen[str]
    port: int
    blob_dir: Path

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)

    def proof_header(self) -> str:
        connection = self.connection()
        try:
            connection.request("GET", "/api/v1/pow?purpose=submit")
            response = connection.getresponse()
            assert response.status == 200
            challenge = parse_challenge(json.loads(response.read()))
        finally:
            connection.close()
        return b64encode(canonical_json(solve(challenge).to_json()))

    def terminate_and_wait(self, seconds: float) -> tuple[int, float, str]:
        """SIGTERM; the exit code, how long the exit took and what the gateway logged."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=seconds)
        return self.process.returncode, time.monotonic() - started, stderr


@pytest.fixture
def served(
    tmp_path: Path, database_backend: str, database_url: str, redis_prefix: str | None
) -> Iterator[ServedGateway]:
    port = free_port()
    env = clean_environment(tmp_path) | {
        "TIPLINE_DATA_DIR": str(tmp_path / "data"),
        "TIPLINE_DATABASE_URL": database_url,
        "TIPLINE_POW_DIFFICULTY": "4",
        "TIPLINE_LOG_FORMAT": "json",
    }
    if redis_prefix is not None:
        env |= {
            "TIPLINE_REDIS_URL": services.REDIS_URL,
            "TIPLINE_REDIS_KEY_PREFIX": redis_prefix,
            "TIPLINE_WORKERS": "2",
        }
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + START_BUDGET_SECONDS
        while status_of(f"http://127.0.0.1:{port}/readyz") != 200:
            assert process.poll() is None, "the gateway exited during start-up"
            assert time.monotonic() < deadline, "the gateway did not become ready"
            time.sleep(0.1)
        yield ServedGateway(process, port, tmp_path / "data" / "blobs")
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=20)


def blob_files(blob_dir: Path) -> list[Path]:
    return [path for path in blob_dir.rglob("*") if path.is_file()] if blob_dir.exists() else []


def test_sigterm_during_an_upload_lets_it_finish_and_the_gateway_exits_0_within_the_grace(
    served: ServedGateway,
) -> None:
    content = os.urandom(300_000)
    ciphertext = b"".join(encrypt_stream(new_attachment_key(), [content], len(content)))
    upload = served.connection()
    upload.putrequest("POST", "/api/v1/reporter/attachments")
    upload.putheader("Content-Type", "application/octet-stream")
    upload.putheader("Content-Length", str(len(ciphertext)))
    upload.putheader("X-Tipline-Proof", served.proof_header())
    upload.endheaders()
    upload.send(ciphertext[:65536])
    deadline = time.monotonic() + 10
    while not any(path.name.startswith(".partial-") for path in blob_files(served.blob_dir)):
        assert time.monotonic() < deadline, "the upload never reached the blob store"
        time.sleep(0.02)

    started = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    # The rest arrives over the next two seconds, well inside the grace.
    for offset in range(65536, len(ciphertext), 16384):
        time.sleep(0.1)
        upload.send(ciphertext[offset : offset + 16384])
    response = upload.getresponse()
    answer = json.loads(response.read())
    _, stderr = served.process.communicate(timeout=GRACE_SECONDS + 10)
    took = time.monotonic() - started

    assert response.status == 201, answer
    assert answer["size"] == len(ciphertext)
    assert served.process.returncode == 0, stderr[-2000:]
    assert took < GRACE_SECONDS
    assert '"event":"shutdown_drained"' in stderr
    assert [path.stat().st_size for path in blob_files(served.blob_dir)] == [len(ciphertext)]


def test_sigterm_with_nothing_in_flight_exits_0_at_once(served: ServedGateway) -> None:
    exit_code, took, stderr = served.terminate_and_wait(GRACE_SECONDS + 10)

    assert exit_code == 0, stderr[-2000:]
    assert took < 3
