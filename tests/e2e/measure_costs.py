"""Measure what protocol v1 costs in headless Chromium (Debian's), with the gateway's own pages.

Run: .venv/bin/python -m tests.e2e.measure_costs   (about a minute; prints a Markdown table)

Not a test: figures go into docs/BROWSER.md. Proof of work is measured at the configured
default difficulty (gateway/config.py) and below it; each solve is one fresh challenge.
"""

from __future__ import annotations

import asyncio
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway.config import load_settings
from gateway.crypto import pow
from gateway.crypto.directory import Directory, sign_entry
from gateway.crypto.encoding import b64encode
from gateway.crypto.keys import Ed25519KeyPair, InvestigatorKeys
from tests.e2e.browser import chromium, live_gateway, open_page, setup_problems
from tests.fixtures.app import make_settings

POW_RUNS = {12: 10, 16: 8, 18: 8}


def hundred_entry_directory(org: Ed25519KeyPair) -> dict[str, Any]:
    directory = Directory.empty(org.public)
    for n in range(100):
        keys = InvestigatorKeys.generate()
        entry = directory.add_entry(
            investigator_id=f"person-{n}",
            name=f"Person {n}",
            roles=["investigator", "triage"],
            enc_pk=keys.enc.public,
            sig_pk=keys.sig.public,
            not_after=2_000_000_000,
        )
        directory = directory.extend(sign_entry(org, entry))
    return directory.to_json()


async def measure() -> dict[str, Any]:
    org = Ed25519KeyPair.generate()
    key = bytes(32)
    now = int(time.time())
    challenges = [
        [
            pow.issue_challenge(key, purpose="submit", difficulty=bits, now=now).to_json()
            for _ in range(runs)
        ]
        for bits, runs in POW_RUNS.items()
    ]
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        settings = make_settings(
            tmp, f"sqlite+aiosqlite:///{tmp}/gateway.sqlite3", redis_prefix=None
        )
        async with live_gateway(settings) as gateway, chromium() as browser:
            page = await open_page(
                browser, gateway.url("/e2e/costs.html"), wait_for="window.costsReady"
            )
            results: dict[str, Any] = await page.evaluate(
                "(input) => window.measureCosts(input)",
                {
                    "orgPk": b64encode(org.public),
                    "powChallenges": challenges,
                    "directory": hundred_entry_directory(org),
                },
            )
            results["chromium"] = browser.version
    return results


def main() -> int:
    problems = setup_problems()
    if problems:
        print("cannot measure: " + "; ".join(problems), file=sys.stderr)
        return 1
    default_difficulty = load_settings(None, {}).pow_difficulty
    results = asyncio.run(measure())
    print(
        f"Chromium {results.pop('chromium')} headless, {platform.machine()}, "
        f"configured proof-of-work difficulty {default_difficulty} bits"
    )
    print("| operation | browser |")
    print("| --- | --- |")
    for name, value in results.items():
        print(f"| {name} | {value:.3f} |" if value < 10 else f"| {name} | {value:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
