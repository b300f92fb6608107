"""Who a message must be wrapped for, and the check that it is wrapped for nobody else.

PROTOCOL.md: a new tip goes to every vetted `triage` investigator, the `recovery` key if
the directory has one, and the reporter's own key. Every later message on a case goes to
every vetted investigator on the case, the `recovery` key, and the reporter. A message
wrapped for any other key, or missing one of these, is refused whole.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

from gateway.crypto.directory import RECOVERY, TRIAGE, Member, VettedSet
from gateway.crypto.keys import key_id
from gateway.domain.errors import RecipientNotVetted
from gateway.store import Transaction
from gateway.store.records import AccountStatus, Recipient, RecipientKind


@dataclass(frozen=True, slots=True)
class RecipientRule:
    """The exact key ids a message must carry, and the vetted members behind them."""

    required_kids: frozenset[bytes]
    members: tuple[Member, ...]

    def check(self, envelope_kids: frozenset[bytes]) -> None:
        """Refuse unless the envelope is wrapped for exactly the required keys."""
        if envelope_kids - self.required_kids:
            raise RecipientNotVetted(
                "The message is wrapped for a key that is not a vetted recipient of it."
            )
        if self.required_kids - envelope_kids:
            raise RecipientNotVetted(
                "The message is missing a required recipient; fetch the directory again."
            )


def _with_reporter(members: Iterable[Member], reporter_public_key: bytes) -> RecipientRule:
    chosen = tuple(members)
    kids = {member.enc_kid for member in chosen} | {key_id(reporter_public_key)}
    return RecipientRule(required_kids=frozenset(kids), members=chosen)


def for_new_tip(vetted: VettedSet, reporter_public_key: bytes) -> RecipientRule:
    return _with_reporter(
        (m for m in vetted.members if m.roles & {TRIAGE, RECOVERY}), reporter_public_key
    )


def for_case_message(
    vetted: VettedSet, investigators_on_case: Iterable[str], reporter_public_key: bytes
) -> RecipientRule:
    """Later messages: the case's investigators who are still vetted, recovery, the reporter."""
    on_case = set(investigators_on_case)
    return _with_reporter(
        (m for m in vetted.members if m.investigator_id in on_case or RECOVERY in m.roles),
        reporter_public_key,
    )


def for_internal_note(vetted: VettedSet, investigators_on_case: Iterable[str]) -> RecipientRule:
    """Internal notes: like a case message, without the reporter."""
    on_case = set(investigators_on_case)
    members = tuple(
        m for m in vetted.members if m.investigator_id in on_case or RECOVERY in m.roles
    )
    return RecipientRule(required_kids=frozenset(m.enc_kid for m in members), members=members)


def receiving_investigators(rule: RecipientRule) -> tuple[str, ...]:
    """The investigator ids that get an inbox row (the recovery key never logs in)."""
    return tuple(m.investigator_id for m in rule.members if RECOVERY not in m.roles)


async def accounts_of(
    tx: Transaction, rules: Collection[RecipientRule]
) -> Mapping[str, AccountStatus]:
    """The accounts of the rules' investigators that have one, by directory id (one query)."""
    wanted: dict[UUID, None] = {}
    for rule in rules:
        for investigator_id in receiving_investigators(rule):
            try:
                wanted[UUID(investigator_id)] = None
            except ValueError:
                continue  # the directory only records account ids, but trust nothing stored
    return {str(account.id): account for account in await tx.investigators.statuses(list(wanted))}


def recipient_rows(
    rule: RecipientRule, reporter_public_key: bytes, accounts: Mapping[str, AccountStatus]
) -> list[Recipient]:
    """The index of keys a message is wrapped for (after `rule.check` proved them exact)."""
    rows = [Recipient(key_id=key_id(reporter_public_key), kind=RecipientKind.REPORTER)]
    for member in rule.members:
        if RECOVERY in member.roles:
            rows.append(Recipient(key_id=member.enc_kid, kind=RecipientKind.RECOVERY))
            continue
        account = accounts.get(member.investigator_id)
        rows.append(
            Recipient(
                key_id=member.enc_kid,
                kind=RecipientKind.INVESTIGATOR,
                investigator_id=None if account is None else account.id,
            )
        )
    return rows
