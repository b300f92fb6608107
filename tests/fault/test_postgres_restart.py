"""PostgreSQL stopped and started again while reporters keep submitting.

While the database is away, every request that needs it is answered at once with
`503 unavailable` and `Retry-After` (nothing hangs, nothing else breaks), `/readyz` says
503, and as soon as the database is back the same gateway process accepts tips again: no
restart, no operator. Every tip that got a `201`, before or after, reads back by its code.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from tests.fault.checks import half_written_cases, read_back
from tests.fault.deployment import Deployment
from tests.fault.traffic import Reporters, TipPlan, probe, wait_for

pytestmark = pytest.mark.slow  # real processes, outages of seconds

OUTAGE_SECONDS = 4.0
# A refused connection or a server shutting down answers in milliseconds; this bound leaves
# room for a loaded test machine while staying far below any client's patience.
FAIL_FAST_SECONDS = 2.0
RECOVERY_BUDGET_SECONDS = 15.0


async def test_a_postgresql_restart_gets_fast_503s_and_the_gateway_recovers_by_itself(
    deployment: Deployment, tmp_path: Path
) -> None:
    gateway = deployment.gateway()
    await deployment.start(gateway)
    pid = gateway.pid
    reporters = Reporters(
        [gateway.url],
        deployment.organisation.public_key,
        concurrency=3,
        plan=TipPlan(attach_every=3, attachment_bytes=100_000),
    )
    stop = asyncio.Event()
    session = reporters.observer.session
    traffic = asyncio.gather(
        reporters.run(stop), probe(session, gateway.url + "/readyz", stop, every=0.2)
    )
    database = await deployment.database()
    try:
        await wait_for("four accepted tips", lambda: len(reporters.accepted) >= 4, within=60)
        down_at = time.time()
        await asyncio.to_thread(deployment.postgres.stop, "fast")
        stopped_at = time.time()
        await asyncio.sleep(OUTAGE_SECONDS)
        accepted_before_up = len(reporters.accepted)
        restart_at = time.time()
        await asyncio.to_thread(deployment.postgres.start)
        up_at = time.time()
        await wait_for(
            "three tips accepted after the restart",
            lambda: sum(t.at > up_at for t in reporters.accepted) >= 3,
            within=RECOVERY_BUDGET_SECONDS + 30,
        )
        stop.set()
        await asyncio.wait_for(traffic, 60)

        # The same process recovered: no restart, no operator.
        assert gateway.alive
        assert gateway.pid == pid
        # From the moment the stop began until the database accepted connections again:
        # everything answered, quickly, with a 503 or (where no database is needed) a 200.
        during = reporters.observer.between(down_at, up_at)
        assert {e.status for e in during} <= {200, 503}, during
        slowest = max(e.seconds for e in during)
        assert slowest < FAIL_FAST_SECONDS, f"a request took {slowest:.2f} s during the outage"
        unavailable = [e for e in during if e.status == 503 and e.path.startswith("/api/")]
        assert [e for e in unavailable if not (e.retry_after and int(e.retry_after) >= 1)] == []
        # While it was down for certain: no tip, no case, and readiness says so.
        down = reporters.observer.between(stopped_at, restart_at)
        api = [e for e in down if e.path.startswith("/api/")]
        assert sum(e.status == 503 for e in api) >= 3, "the outage was not felt"
        assert not [e for e in api if e.method == "POST" and e.status != 503]
        assert {e.status for e in down if e.path == "/readyz"} == {503}
        assert {(o.status, o.code) for o in reporters.refused} <= {(503, "unavailable")}
        assert not reporters.broken, reporters.broken

        first_after = min(t.at for t in reporters.accepted if t.at > up_at)
        recovered_in = first_after - up_at
        assert recovered_in < RECOVERY_BUDGET_SECONDS
        problems = await read_back(
            gateway.url,
            deployment.organisation.public_key,
            reporters.accepted,
            tmp_path / "read-back",
            session=session,
        )
        assert problems == [], problems
        assert await half_written_cases(database) == []
        print(
            f"\nPostgreSQL restart: {reporters.counts()}; {accepted_before_up} accepted before "
            f"it came back; during the {OUTAGE_SECONDS:.0f} s outage {len(during)} requests, "
            f"{len(unavailable)} answered 503, slowest answer {slowest * 1000:.0f} ms; first "
            f"tip accepted {recovered_in:.2f} s after PostgreSQL was back (same process)"
        )
    finally:
        stop.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(traffic, 30)
        await reporters.close()
        await database.close()
        if not deployment.postgres.running:
            await asyncio.to_thread(deployment.postgres.start)
