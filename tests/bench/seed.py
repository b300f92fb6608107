"""Realistic rows for the scale runs: cases as years of tips leave them, written by the store's
bulk seeder (`gateway.store.seeding`, COPY on PostgreSQL).

Every case has a locator derived from the run's seed and its index, so the load generator
can look up any of them (W2) without storing a million locators; its hash is the gateway's
real keyed hash (`derive_subkey(pepper, "locator")`). Tips are real envelopes of the 4 KiB
bucket sealed for the four triage investigators and a reporter key; to keep seeding fast
a pool of sealed tips (each with its own reporter key) is reused across cases, which
changes no row size and no index shape. Case `i` is `i/total` of three years old: growing
the population adds older cases behind the same newest ones, as years of tips pile up
(older ones mostly closed; retention is off for the benchmark).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import UUID

from gateway.crypto.envelope import seal
from gateway.crypto.hashing import blake2b
from gateway.crypto.keys import X25519KeyPair, key_id
from gateway.crypto.message import MessageContent
from gateway.crypto.pickup import Locator, locator_lookup_key
from gateway.domain.keys import derive_subkey
from gateway.store import Database
from gateway.store.records import CaseStatus, Recipient, RecipientKind
from gateway.store.seeding import SeedCase, refresh_statistics, seed_cases

SPAN: Final = timedelta(days=3 * 365)
TEMPLATES: Final = 512
# A tip body that pads into the 4 KiB envelope bucket (as W1 submits).
TIP_BODY_CHARS: Final = 2900


@dataclass(frozen=True)
class Triage:
    investigator_id: UUID
    enc_public_key: bytes


def seeded_locator(seed: bytes, index: int) -> bytes:
    """The locator of seeded case `index`: the load generator derives the same bytes."""
    return blake2b(index.to_bytes(8, "big"), size=32, key=seed)


def tip_text(rng: random.Random | None = None) -> str:
    chooser = rng or random.Random(secrets.randbits(64))
    alphabet = "abcdefghijklmnopqrstuvwxyz      .,"
    return "".join(chooser.choice(alphabet) for _ in range(TIP_BODY_CHARS))


def _templates(
    triage: Sequence[Triage], count: int, rng: random.Random, now: datetime
) -> list[tuple[bytes, bytes, list[Recipient]]]:
    """(reporter public key, stored envelope, recipient rows) for `count` sealed tips."""
    made = []
    for _ in range(count):
        reporter = X25519KeyPair.generate()
        envelope = seal(
            MessageContent(kind="tip", body=tip_text(rng), created=int(now.timestamp())),
            recipients=[*(person.enc_public_key for person in triage), reporter.public],
            case=None,
        )
        recipients = [Recipient(key_id=key_id(reporter.public), kind=RecipientKind.REPORTER)]
        recipients += [
            Recipient(
                key_id=key_id(person.enc_public_key),
                kind=RecipientKind.INVESTIGATOR,
                investigator_id=person.investigator_id,
            )
            for person in triage
        ]
        made.append((reporter.public, envelope.encode(), recipients))
    return made


def _status(age: timedelta, rng: random.Random) -> CaseStatus:
    draw = rng.random()
    if age > timedelta(days=90):
        return CaseStatus.CLOSED if draw < 0.85 else CaseStatus.REFERRED
    if age > timedelta(days=14):
        return CaseStatus.INVESTIGATING if draw < 0.5 else CaseStatus.CLOSED
    return CaseStatus.NEW if draw < 0.6 else CaseStatus.TRIAGE


def seed_rows(
    *,
    count: int,
    seed: bytes,
    pepper: bytes,
    triage: Sequence[Triage],
    start_index: int = 0,
    total: int | None = None,
    now: datetime | None = None,
) -> Iterator[SeedCase]:
    """Cases `start_index` .. `start_index + count - 1` of a population of `total`, newest first."""
    total = total or start_index + count
    now = now or datetime.now(UTC)
    rng = random.Random(seed + start_index.to_bytes(8, "big"))
    templates = _templates(triage, min(TEMPLATES, count), rng, now)
    lookup_key = derive_subkey(pepper, "locator")
    inboxes = [person.investigator_id for person in triage]
    for index in range(start_index, start_index + count):
        at = now - SPAN * (index / total)
        reporter_key, envelope, recipients = templates[index % len(templates)]
        yield SeedCase(
            locator_hash=locator_lookup_key(Locator(seeded_locator(seed, index)), lookup_key),
            reporter_public_key=reporter_key,
            envelope=envelope,
            recipients=recipients,
            inboxes=inboxes,
            at=at,
            status=_status(now - at, rng),
            urgent=rng.random() < 0.05,
        )


async def grow_to(
    database: Database,
    *,
    have: int,
    want: int,
    total: int,
    seed: bytes,
    pepper: bytes,
    triage: Sequence[Triage],
    now: datetime,
) -> int:
    """Seed cases `have` .. `want - 1` and refresh the planner's statistics; returns `want`."""
    if want > have:
        await seed_cases(
            database,
            seed_rows(
                count=want - have,
                seed=seed,
                pepper=pepper,
                triage=triage,
                start_index=have,
                total=total,
                now=now,
            ),
        )
        await refresh_statistics(database)
    return want
