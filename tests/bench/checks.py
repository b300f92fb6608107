"""What the database holds after a submit run: every accepted tip exactly once, nothing else.

A `201` promises the case, its tip, an inbox row for each active triage investigator and a
`case.created` outbox row, all committed together; the counts before and after a run must
differ by exactly the number of `201`s (nothing lost, nothing duplicated).
"""

from __future__ import annotations

from typing import Any

import asyncpg

COUNTS = {
    "cases": "SELECT count(*) FROM cases",
    "tips": "SELECT count(*) FROM messages WHERE kind = 'tip'",
    "inbox_entries": "SELECT count(*) FROM inbox_entries",
    "case_created_events": "SELECT count(*) FROM outbox WHERE topic = 'case.created'",
    "cases_without_one_tip": (
        "SELECT count(*) FROM cases c WHERE (SELECT count(*) FROM messages m"
        " WHERE m.case_id = c.id AND m.kind = 'tip') <> 1"
    ),
}


async def count_rows(dsn: str) -> dict[str, int]:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        return {name: int(await connection.fetchval(query)) for name, query in COUNTS.items()}
    finally:
        await connection.close()


def compare(
    before: dict[str, int], after: dict[str, int], *, accepted: int, inboxes_per_case: int
) -> dict[str, Any]:
    """Lost and duplicated cases of a run that got `accepted` 201s."""
    added = {name: after[name] - before[name] for name in COUNTS}
    expected = {
        "cases": accepted,
        "tips": accepted,
        "inbox_entries": accepted * inboxes_per_case,
        "case_created_events": accepted,
        "cases_without_one_tip": 0,
    }
    return {
        "accepted": accepted,
        "added": added,
        "lost": max(0, accepted - added["cases"]),
        "duplicated": max(0, added["cases"] - accepted),
        "consistent": added == expected,
    }
