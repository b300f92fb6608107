"""`python -m tests.bench`: the workloads (W1-W5 with ceilings) or the scale run.

    python -m tests.bench run [--preset full|quick|smoke] [--workloads w1,w2,...]
                              [--attachment-mib N] [--repeat N] [--backend services|embedded]
                              [--json FILE]
    python -m tests.bench scale [--sizes 10000,100000,1000000] [--repeat N] [--json FILE]

Needs PostgreSQL and Redis (TIPLINE_TEST_POSTGRES_DSN, TIPLINE_TEST_REDIS_URL as for the
tests); creates and drops its own database and Redis prefix. See docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from tests.bench.run import PRESETS, WORKLOADS, print_report, run_scale, run_workloads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="W1-W5 against tipline serve, with both ceilings")
    run.add_argument("--preset", choices=sorted(PRESETS), default="full")
    run.add_argument("--workloads", default=",".join(WORKLOADS))
    run.add_argument("--attachment-mib", type=int, help="W4 size (default: 1024 in full)")
    run.add_argument("--backend", choices=("services", "embedded"), default="services")
    run.add_argument("--no-workers", action="store_true", help="skip the --workers 2 part")
    run.add_argument("--profile", type=Path, help="py-spy each measured job into this folder")
    scale = commands.add_parser("scale", help="W2 and W3 latency at 10k, 100k, 1M cases")
    scale.add_argument("--preset", choices=sorted(PRESETS), default="full")
    scale.add_argument("--sizes", default="10000,100000,1000000")
    for command in (run, scale):
        command.add_argument("--repeat", type=int, help="measurements per workload (median)")
        command.add_argument("--seconds", type=float, help="time limit of each measurement")
        command.add_argument("--json", type=Path, help="also write the report here")
    arguments = parser.parse_args(argv)

    plan = PRESETS[arguments.preset]
    if arguments.repeat:
        plan = replace(plan, repeat=arguments.repeat)
    if arguments.seconds:
        plan = replace(plan, seconds=arguments.seconds)
    if arguments.command == "run":
        workloads = tuple(name.strip().lower() for name in arguments.workloads.split(","))
        unknown = set(workloads) - set(WORKLOADS)
        if unknown:
            parser.error(f"unknown workloads: {sorted(unknown)}")
        plan = replace(plan, workloads=workloads, backend=arguments.backend)
        if arguments.attachment_mib:
            plan = replace(plan, attachment_bytes=arguments.attachment_mib * 2**20)
        if arguments.no_workers:
            plan = replace(plan, two_workers=False)
        if arguments.profile:
            plan = replace(plan, profile_dir=str(arguments.profile))
        report = run_workloads(plan, say=_say)
    else:
        sizes = [int(size) for size in arguments.sizes.split(",")]
        # Latency, not saturation: few clients, so that queueing does not hide the database.
        plan = replace(plan, pickup_clients=4, inbox_clients=4)
        report = run_scale(plan, sizes, say=_say)
    print_report(report)
    if arguments.json:
        arguments.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


_STARTED = time.monotonic()


def _say(text: str) -> None:
    print(f"[{time.monotonic() - _STARTED:7.1f} s] {text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
