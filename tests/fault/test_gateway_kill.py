"""`kill -9` of a gateway process in the middle of a burst of tips and uploads.

A `201` means durable: every tip that got one is read back by its pickup code from the
restarted gateway, attachments included. The kill leaves no half-written case behind (the
case, its tip, its inbox rows and its event are one unit of work), and whatever uploads it
cut off are removed by the gateway's own sweep once their time has passed, so that every
blob file left belongs to an attachment of a case.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from tests.fault.checks import (
    PARTIAL_PREFIX,
    blob_files,
    case_count,
    half_written_cases,
    orphan_blobs,
    read_back,
    sweep_a_day_later,
    upload_state,
)
from tests.fault.deployment import Deployment
from tests.fault.traffic import Accepted, Reporters, TipPlan, wait_for

pytestmark = pytest.mark.slow  # real processes, outages of seconds


def upload_half_way(blob_dir: Path) -> bool:
    return any(p.name.startswith(PARTIAL_PREFIX) for p in blob_files(blob_dir))


async def test_kill_9_during_a_burst_loses_no_accepted_tip_and_leaves_no_orphan_upload(
    deployment: Deployment, tmp_path: Path
) -> None:
    gateway = deployment.gateway()
    await deployment.start(gateway)
    reporters = Reporters(
        [gateway.url],
        deployment.organisation.public_key,
        concurrency=3,
        # Every other tip carries a photo; every fifth streams a larger file slowly, so an
        # upload is half-way in when the process dies.
        plan=TipPlan(attach_every=2, attachment_bytes=150_000, slow_every=5),
    )
    stop = asyncio.Event()
    burst = asyncio.create_task(reporters.run(stop))
    database = await deployment.database()
    try:
        await wait_for(
            "six accepted tips and an upload half-way in",
            lambda: len(reporters.accepted) >= 6 and upload_half_way(deployment.blob_dir),
            within=60,
            poll=0.02,
        )
        in_flight = reporters.in_flight
        started = time.monotonic()
        gateway.kill9()
        stop.set()
        await asyncio.wait_for(burst, 30)
        accepted = reporters.accepted
        left_by_kill = await upload_state(database, deployment.blob_dir)

        await deployment.start(gateway)
        restarted = time.monotonic() - started

        problems = await read_back(
            gateway.url,
            deployment.organisation.public_key,
            accepted,
            tmp_path / "read-back",
            session=reporters.observer.session,
        )
        assert problems == [], problems
        assert await half_written_cases(database) == []
        cases = await case_count(database)
        # A tip whose 201 the kill cut off may exist too; none that got its 201 is missing.
        assert cases >= len(accepted)

        swept = await sweep_a_day_later(deployment.settings)
        assert await orphan_blobs(database, deployment.blob_dir) == []
        assert left_by_kill.partial_files >= 1, "the kill should have cut an upload short"
        assert swept.stalled >= 1
        assert swept.partial_files >= 1

        after = await reporters.submit_one(gateway.url)
        assert isinstance(after, Accepted), after
        print(
            f"\nkill -9: {len(accepted)} tips accepted before the kill "
            f"({sum(bool(t.attachments) for t in accepted)} with attachments), "
            f"{in_flight} submissions in flight, {reporters.counts()['broken']} ended without an "
            f"answer; "
            f"{cases} cases stored; restart + ready in {restarted:.1f} s; "
            f"left by the kill: {left_by_kill}; swept a day later: {swept}"
        )
    finally:
        stop.set()
        burst.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await burst
        await reporters.close()
        await database.close()
