"""The benchmark harness runs end to end at tiny size, so that it cannot rot unnoticed.

Real processes, as in a benchmark: `tipline serve --workers 2` on PostgreSQL + Redis, both
ceiling servers and the load generator, a few requests of every workload and two tiny
scale steps. Nothing here is a timing assertion: only that every part ran and reported,
and that what the harness checks for itself (cases in the database, the shared login
throttle, events across processes) came out right.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.bench.run import PRESETS, run_workloads
from tests.bench.stats import percentile, summarise, table

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    lines: list[str] = []
    return run_workloads(PRESETS["smoke"], say=lines.append)


def test_every_workload_and_both_ceilings_report_throughput_latency_and_memory(
    report: dict[str, Any],
) -> None:
    results = report["results"]
    for name in (
        "W1 submit, --workers 2",
        "W2 pickup",
        "W3 inbox (list 50 + open 1)",
        "HTTP ceiling (4 clients)",
        "ingest ceiling (4 clients)",
    ):
        result = results[name]
        assert result["error_count"] == 0, (name, result["errors"])
        assert result["count"] > 0
        assert result["throughput_per_s"] > 0
        assert result["p50_ms"] <= result["p99_ms"]
        assert result["peak_rss_mib"] > 0
    assert {"vs_http", "vs_ingest"} <= set(results["W1 submit, --workers 2"])
    attachment = results["W4 attachment (256 KiB)"]
    assert attachment["upload_mb_per_s"] > 0
    assert attachment["download_mb_per_s"] > 0
    assert results["Argon2id (client side, per code)"]["p50_ms"] > 0


def test_the_database_holds_every_accepted_tip_exactly_once(report: dict[str, Any]) -> None:
    database = report["results"]["W1 submit, --workers 2"]["database"]

    assert database["accepted"] == PRESETS["smoke"].submit_requests
    assert (database["lost"], database["duplicated"]) == (0, 0)
    assert database["consistent"], database


def test_the_login_throttle_and_live_events_are_shared_by_both_processes(
    report: dict[str, Any],
) -> None:
    throttle = report["results"]["login throttle shared across processes"]
    live = report["results"]["W5 live event (201 -> socket, other process)"]

    assert throttle["shared"], throttle["attempts"]
    assert len(throttle["processes"]) == 2
    assert live["error_count"] == 0, live["errors"]
    assert live["count"] >= 1  # at least one tip answered by the other process arrived
    assert live["socket_process"] in live["processes"]


def test_the_scale_steps_seed_and_measure_each_size(report: dict[str, Any]) -> None:
    steps = report["scale"]["steps"]

    assert [step["cases"] for step in steps] == [20, 40]
    for step in steps:
        assert step["w2"]["error_count"] == step["w3"]["error_count"] == 0
        assert step["w2"]["count"] > 0
        assert step["w3"]["count"] > 0


def test_the_report_prints_as_a_table() -> None:
    rows = [{"workload": "W1", "p50_ms": 1.5, "p99_ms": None}]

    printed = table(rows, [("workload", "workload"), ("p50_ms", "p50"), ("p99_ms", "p99")])

    assert printed.splitlines()[0].split() == ["workload", "p50", "p99"]
    assert printed.splitlines()[2].split() == ["W1", "1.50", "-"]


def test_percentiles_are_nearest_rank_and_summaries_count_every_sample() -> None:
    samples = [float(n) for n in range(1, 101)]

    assert (percentile(samples, 0.5), percentile(samples, 0.99)) == (50.0, 99.0)
    summary = summarise([s / 1000 for s in samples], elapsed=2.0)
    assert (summary["count"], summary["throughput_per_s"], summary["p99_ms"]) == (100, 50.0, 99.0)
