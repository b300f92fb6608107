"""New tips, written in groups: tips that arrive together share one unit of work.

Why: a tip's own rows are a handful of inserts, but the unit of work around them (taking a
connection, BEGIN, reading the directory's head, COMMIT and its flush to disk) costs several
times as much, and a campaign or a news story brings tips by the hundred per second. So
tips queue here and one writer takes every tip that is waiting, checks each against the
directory read in that unit, writes them all with one statement per table, and commits
(group commit). A reporter's 201 still comes only after the commit that holds their tip,
and a lone tip on a quiet gateway waits for no company: it is written at once, alone.
While one group is being written, a second writer starts only once `COMPANY` tips are
waiting; fewer wait for the first writer to come back for them, so that tips trickling in
during a write go out together instead of each in a unit of its own (under a steady flood
of 32 clients that took the mean group from 10 tips, a fifth of them alone, to 14).

What stays each tip's own:
- Refusals. A tip not wrapped for exactly the vetted recipients, or whose pickup code is in
  use, gets its own answer; the others in its group are written.
- Attachments. A tip that claims uploads is written in a group of its own, because the
  claim can refuse it after its rows were written, and that refusal must roll back only it.
- Failures. A group that fails for any reason other than an outage or a refusal that holds
  for every tip (no directory, nobody vetted) is tried again tip by tip, so one bad tip
  cannot sink its neighbours. In an outage every tip of the group gets the 503 it would
  have got alone.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from gateway.crypto.directory import TRIAGE, VettedSet
from gateway.crypto.keys import key_id
from gateway.domain import events, recipients
from gateway.domain.attachments import link_to_case
from gateway.domain.directory import DirectoryBook
from gateway.domain.emergency import sound_alarm
from gateway.domain.errors import Conflict, GatewayError, InvalidInput, NoRecipients
from gateway.domain.hotline import EmergencyRules
from gateway.domain.recipients import RecipientRule
from gateway.domain.reporter_access import ReporterStatus
from gateway.store import Database, DatabaseUnavailable, Transaction
from gateway.store.records import (
    AccountStatus,
    Case,
    InvestigatorStatus,
    Message,
    MessageKind,
    NewCase,
)

logger = logging.getLogger("gateway.domain.tip_intake")

# Enough to amortise a unit of work many times over; small enough that one group's
# statements stay short (a group of 64 tips for 5 recipients is ~700 rows).
MAX_GROUP: Final = 64
# Groups written at once. A group spends most of its time waiting (for the database, and
# for the event loop between its statements); a second one in flight meanwhile keeps tips
# moving. More would mostly shrink the groups.
MAX_WRITERS: Final = 2
# The tips that must be waiting before a writer starts a group while another is in flight
# (a quarter of the largest group; see the module docstring).
COMPANY: Final = 16


@dataclass(frozen=True, slots=True)
class NewTip:
    """A tip whose shape, envelope and proof of work were checked (domain/reporting.py)."""

    locator_hash: bytes = field(repr=False)
    reporter_public_key: bytes
    urgent: bool
    envelope: bytes = field(repr=False)
    envelope_kids: frozenset[bytes]
    attachment_ids: tuple[uuid.UUID, ...]
    received_at: datetime


@dataclass(frozen=True, slots=True)
class WrittenTip:
    case_id: uuid.UUID
    status: ReporterStatus
    inboxes: int


@dataclass(frozen=True, slots=True)
class _Waiting:
    tip: NewTip
    answer: asyncio.Future[WrittenTip]


class TipIntake:
    """Writes new tips in groups (see the module docstring); one per process."""

    def __init__(
        self,
        database: Database,
        directory: DirectoryBook,
        emergencies: EmergencyRules,
        *,
        max_group: int = MAX_GROUP,
        max_writers: int = MAX_WRITERS,
    ) -> None:
        if max_group < 1 or max_writers < 1:
            raise ValueError("a group holds at least one tip, and one writer at least writes")
        self._database = database
        self._directory = directory
        self._emergencies = emergencies
        self._max_group = max_group
        self._max_writers = max_writers
        self._waiting: deque[_Waiting] = deque()
        self._writers: set[asyncio.Task[None]] = set()

    async def submit(self, tip: NewTip) -> WrittenTip:
        """Write the tip (with whichever tips are waiting too); returns once it is committed."""
        answer: asyncio.Future[WrittenTip] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(tip, answer))
        if self._another_writer_helps():
            writer = asyncio.create_task(self._write_while_waiting(), name="tip-intake")
            self._writers.add(writer)
        return await answer

    async def close(self) -> None:
        """Let the writers finish what they hold (requests waiting for them are still open)."""
        if self._writers:
            await asyncio.gather(*(asyncio.shield(writer) for writer in list(self._writers)))

    async def _write_while_waiting(self) -> None:
        writer = asyncio.current_task()
        try:
            while self._waiting and (len(self._writers) == 1 or self._another_writer_helps(1)):
                group = self._next_group()
                if group:
                    await self._write_group(group)
        finally:
            # No await between the loop's last check and here: a tip queued meanwhile is
            # impossible, and the next submit starts a new writer.
            if writer is not None:
                self._writers.discard(writer)
            if not self._writers:
                for waiting in self._waiting:  # only when cancelled mid-way
                    waiting.answer.cancel()
                self._waiting.clear()

    def _another_writer_helps(self, leaving: int = 0) -> bool:
        """Whether one more writer (besides `leaving` ones done with their group) should
        take the tips waiting: always when none is writing; otherwise only when enough are
        waiting to be worth a group of their own, so that a second writer does not write
        lone tips while the first one's group is in flight (which costs a unit each)."""
        writing = len(self._writers) - leaving
        if writing == 0:
            return True
        return writing < self._max_writers and len(self._waiting) >= COMPANY

    def _next_group(self) -> list[_Waiting]:
        group: list[_Waiting] = []
        while self._waiting and len(group) < self._max_group:
            waiting = self._waiting[0]
            if waiting.answer.done():
                # Its request was cancelled before the tip was written: write nothing.
                self._waiting.popleft()
                continue
            if waiting.tip.attachment_ids and group:
                break  # it starts the next group, alone
            group.append(self._waiting.popleft())
            if waiting.tip.attachment_ids:
                break
        return group

    async def _write_group(self, group: list[_Waiting]) -> None:
        try:
            answers = await self._write(group)
        except (DatabaseUnavailable, GatewayError) as failure:
            # An outage, or a refusal that is everybody's (no directory, nobody vetted), or
            # the refusal of a group of one.
            for waiting in group:
                _settle(waiting, failure)
        except asyncio.CancelledError:
            for waiting in group:
                waiting.answer.cancel()
            raise
        except Exception as failure:  # noqa: BLE001 - handed to each tip's request, or split
            if len(group) == 1:
                _settle(group[0], failure)
                return
            logger.warning(
                "tip_group_split", extra={"tips": len(group), "error_type": type(failure).__name__}
            )
            for waiting in group:
                await self._write_group([waiting])
        else:
            for waiting, answer in zip(group, answers, strict=True):
                _settle(waiting, answer)
            # One line per group, not per tip: under a flood per-tip lines cost CPU and say
            # nothing the access log does not.
            written = [answer for answer in answers if isinstance(answer, WrittenTip)]
            logger.info(
                "tips_received",
                extra={
                    "tips": len(written),
                    "refused": len(answers) - len(written),
                    "attachments": sum(len(waiting.tip.attachment_ids) for waiting in group),
                    "inboxes": sum(answer.inboxes for answer in written),
                },
            )

    async def _write(self, group: Sequence[_Waiting]) -> list[WrittenTip | GatewayError]:
        answers: list[WrittenTip | GatewayError] = []
        # Most groups only read the directory and the accounts and write the new rows: a
        # plain unit does that for a fraction of the CPU. Uploads to claim and alarms to
        # sound need the full one.
        plain = not any(waiting.tip.attachment_ids or waiting.tip.urgent for waiting in group)
        unit = self._database.plain_transaction() if plain else self._database.transaction()
        async with unit as tx:
            # Read in the group's own unit: every tip is checked against the directory
            # that holds when its rows are written.
            vetted = await self._directory.vetted(tx)
            if not vetted.with_role(TRIAGE):
                raise NoRecipients
            rules: list[RecipientRule | GatewayError] = [
                _rule_or_refusal(vetted, waiting.tip) for waiting in group
            ]
            accounts = await recipients.accounts_of(
                tx, [rule for rule in rules if isinstance(rule, RecipientRule)]
            )
            new_cases: list[NewCase] = []
            for waiting, rule in zip(group, rules, strict=True):
                if isinstance(rule, RecipientRule):
                    new_cases.append(_new_case(waiting.tip, rule, accounts))
            written = iter(await tx.new_cases.write(new_cases))
            opened = iter(new_cases)
            for waiting, rule in zip(group, rules, strict=True):
                if isinstance(rule, GatewayError):
                    answers.append(rule)
                    continue
                new_case = next(opened)
                if not next(written):
                    # Codes carry ~90 bits: only a deliberate re-use lands here, and whoever
                    # re-uses a code could look the case up with it anyway.
                    answers.append(
                        Conflict("This pickup code is in use; start again with a new code.")
                    )
                    continue
                await self._complete(tx, vetted, waiting.tip, new_case.case)
                answers.append(
                    WrittenTip(
                        case_id=new_case.case.id,
                        status=ReporterStatus.RECEIVED,
                        inboxes=len(new_case.inboxes),
                    )
                )
        return answers

    async def _complete(self, tx: Transaction, vetted: VettedSet, tip: NewTip, case: Case) -> None:
        """What only some tips need, in the same unit: uploads to claim, an alarm to sound."""
        await link_to_case(tx, tip.attachment_ids, case_id=case.id, new_case=True)
        if tip.urgent:
            # An accepted emergency always has its alarm and its escalation timer.
            await sound_alarm(tx, self._emergencies, vetted, case, at=tip.received_at)


def _rule_or_refusal(vetted: VettedSet, tip: NewTip) -> RecipientRule | GatewayError:
    """Who the tip must be wrapped for, or why it is refused (answered to that tip alone)."""
    if key_id(tip.reporter_public_key) in vetted.enc_kids:
        # The reporter key is derived from the pickup code; an investigator's key there
        # would make every follow-up readable by whoever chose it.
        return InvalidInput("The reporter key must be the one derived from the pickup code.")
    rule = recipients.for_new_tip(vetted, tip.reporter_public_key)
    try:
        rule.check(tip.envelope_kids)
    except GatewayError as refusal:
        return refusal
    return rule


def _new_case(tip: NewTip, rule: RecipientRule, accounts: Mapping[str, AccountStatus]) -> NewCase:
    at = tip.received_at
    # The tip is the case's first message.
    case = Case.opened(
        case_id=uuid.uuid4(),
        locator_hash=tip.locator_hash,
        reporter_public_key=tip.reporter_public_key,
        urgent=tip.urgent,
        at=at,
        messages=1,
    )
    message = Message(
        id=uuid.uuid4(),
        case_id=case.id,
        seq=1,
        kind=MessageKind.TIP,
        author_id=None,
        visible_to_reporter=True,
        envelope=tip.envelope,
        size=len(tip.envelope),
        created_at=at,
    )
    # Only vetted people with a working account get the case in their inbox.
    receiving = [accounts.get(person) for person in recipients.receiving_investigators(rule)]
    inboxes = tuple(
        dict.fromkeys(
            account.id
            for account in receiving
            if account is not None and account.status is InvestigatorStatus.ACTIVE
        )
    )
    return NewCase(
        case=case,
        tip=message,
        recipients=tuple(recipients.recipient_rows(rule, tip.reporter_public_key, accounts)),
        inboxes=inboxes,
        event_topic=events.CASE_CREATED,
        event_payload=events.event_payload(case_id=case.id, at=at, urgent=tip.urgent),
    )


def _settle(waiting: _Waiting, outcome: WrittenTip | BaseException) -> None:
    if waiting.answer.done():
        return  # its request was cancelled while the group was written
    if isinstance(outcome, BaseException):
        waiting.answer.set_exception(outcome)
    else:
        waiting.answer.set_result(outcome)
