"""The whole loop across two live gateway processes sharing one PostgreSQL and one Redis.

A reporter submits through the first process; an investigator whose live socket is held by
the second process sees the case arrive, reads it, asks a question; the reporter reads the
question with the pickup code, the client verifying the investigator's signature against
the signed directory, and answers; the investigator reads the answer. Only the public
clients are used: everything the server sees is what a real deployment would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from gateway.client.admin import (
    AdminClient,
    create_organisation_key_file,
    open_organisation_key_file,
)
from gateway.client.investigator import (
    InvestigatorClient,
    prepare_enrollment,
    submit_enrollment,
)
from gateway.client.reporter import ReporterClient, TipDraft
from gateway.client.transport import Transport
from gateway.config import new_secret_text
from gateway.crypto import totp
from gateway.crypto.encoding import b64encode
from tests.fixtures import services
from tests.fixtures.broker import delete_redis_keys, require_redis
from tests.fixtures.database import (
    create_postgres_database,
    drop_postgres_database,
    run_outside_loop,
)
from tests.fixtures.ports import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

START_BUDGET_SECONDS = 20.0
EVENT_WAIT_SECONDS = 15.0
PASSPHRASE = "a long passphrase only alice knows"


def is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=1) as answer:  # noqa: S310 - loopback
            return bool(answer.status == 200)
    except OSError:
        return False


@dataclass
class Hotline:
    first: str
    second: str
    org_key_file: Path


@pytest.fixture
def two_gateways(tmp_path: Path) -> Iterator[Hotline]:
    if "services" not in services.BACKENDS:
        pytest.skip("this run covers the embedded backends only (TIPLINE_TEST_BACKENDS)")
    run_outside_loop(require_redis())
    name = f"tipline_test_{services.RUN_ID}_loop"
    database_url = run_outside_loop(create_postgres_database(name))
    prefix = services.redis_prefix("whole-loop")
    org_key_file = tmp_path / "organisation.key"
    org_key = create_organisation_key_file(org_key_file, "organisation passphrase")
    secrets = {}
    for secret in ("pepper", "audit"):
        path = tmp_path / secret
        path.write_text(new_secret_text() + "\n")
        path.chmod(0o600)
        secrets[secret] = str(path)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    base_env.update(
        TIPLINE_DATABASE_URL=database_url,
        TIPLINE_REDIS_URL=services.REDIS_URL,
        TIPLINE_REDIS_KEY_PREFIX=prefix,
        TIPLINE_SERVER_PEPPER_FILE=secrets["pepper"],
        TIPLINE_AUDIT_KEY_FILE=secrets["audit"],
        TIPLINE_ORG_PUBLIC_KEY=b64encode(org_key.public),
        TIPLINE_POW_DIFFICULTY="4",
        TIPLINE_LOG_LEVEL="warning",
    )
    subprocess.run(
        [sys.executable, "-m", "gateway", "db", "upgrade"],
        env=base_env | {"TIPLINE_DATA_DIR": str(tmp_path / "migrate")},
        check=True,
        capture_output=True,
        timeout=60,
    )
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[BinaryIO] = []
    urls = []
    try:
        for index in (1, 2):
            port = free_port()
            log = (tmp_path / f"gateway-{index}.log").open("wb")
            logs.append(log)
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gateway", "serve", "--port", str(port)],
                    env=base_env | {"TIPLINE_DATA_DIR": str(tmp_path / f"data-{index}")},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + START_BUDGET_SECONDS
        while not all(is_ready(url) for url in urls):
            assert time.monotonic() < deadline, "the gateways did not become ready"
            assert all(process.poll() is None for process in processes)
            time.sleep(0.1)
        yield Hotline(urls[0], urls[1], org_key_file)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        for log in logs:
            log.close()
        run_outside_loop(delete_redis_keys(prefix))
        run_outside_loop(drop_postgres_database(name))


async def vet_alice(hotline: Hotline, org_key: Any) -> bytes:
    """Invite, enroll and vet a triage investigator through the first gateway; her TOTP secret."""
    async with AdminClient(hotline.first, org_key) as admin:
        invite = await admin.create_invite(["triage"])
        draft = await asyncio.to_thread(prepare_enrollment, "alice", PASSPHRASE)
        async with Transport(hotline.first) as transport:
            await submit_enrollment(
                transport,
                draft,
                invite=str(invite["token"]),
                display_name="Alice",
                totp_code=totp.code_at(draft.totp_secret, time.time()),
            )
        (pending,) = await admin.enrollments()
        await admin.record(admin.vetting_entry(await admin.directory(), pending))
    return draft.totp_secret


async def collect_events(client: InvestigatorClient, into: asyncio.Queue[dict[str, Any]]) -> None:
    async for event in client.events():
        await into.put(event)


async def next_event(queue: asyncio.Queue[dict[str, Any]], topic: str) -> dict[str, Any]:
    while True:
        event = await asyncio.wait_for(queue.get(), EVENT_WAIT_SECONDS)
        if event.get("topic") == topic:
            return event


async def test_a_tip_travels_the_whole_loop_across_two_gateway_processes(
    two_gateways: Hotline,
) -> None:
    org_key = open_organisation_key_file(two_gateways.org_key_file, "organisation passphrase")
    totp_secret = await vet_alice(two_gateways, org_key)

    # Alice works on the SECOND process; the step her enrollment spent is not reused.
    alice = InvestigatorClient(two_gateways.second, org_public_key=org_key.public)
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    listener: asyncio.Task[None] | None = None
    try:
        await alice.login(
            "alice", PASSPHRASE, totp.code_for_step(totp_secret, totp.step_at(time.time()) + 1)
        )
        listener = asyncio.create_task(collect_events(alice, events))
        assert (await next_event(events, "ready"))["topic"] == "ready"

        async with Transport(two_gateways.first) as transport:
            reporter = ReporterClient(transport, org_key.public)
            submission = await reporter.submit(
                TipDraft(body="A girl of about 15 is brought to the flat above the bakery.")
            )

            created = await next_event(events, "case.created")
            case_id = str(created["case_id"])
            thread = await alice.open_case(case_id)
            assert thread.messages[0].body == (
                "A girl of about 15 is brought to the flat above the bakery."
            )

            await alice.ask(case_id, "Which street is the bakery in?")

            seen = await reporter.open_case(submission.code)
            question = seen.messages[-1]
            assert question.kind == "followup"
            assert question.content.body == "Which street is the bakery in?"
            assert question.author == "Alice"  # verified against the signed directory
            assert seen.withheld == ()

            await reporter.reply(seen, "Kerkstraat, opposite the church.")

        await next_event(events, "message.created")
        answered = await alice.open_case(case_id)
        assert answered.messages[-1].body == "Kerkstraat, opposite the church."
        assert answered.messages[-1].kind == "reply"
    finally:
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        await alice.close()
