"""Records handed out by the store: inbox cursors and read state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.store import InvalidCursor
from gateway.store.records import Case, CaseStatus, InboxCursor, InboxItem
from tests.unit.store.builders import T0


@given(
    added_at=st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    case_id=st.uuids(),
)
def test_a_cursor_survives_the_trip_through_a_url(added_at: datetime, case_id: uuid.UUID) -> None:
    cursor = InboxCursor(added_at=added_at, case_id=case_id)
    token = cursor.encode()
    assert token.isascii()
    assert all(char.isalnum() or char in "-_" for char in token)
    assert InboxCursor.decode(token) == cursor


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not a cursor",
        "%%%%",
        "MjAyNi0wMy0wMVQwOTozMDowMCswMDowMHxub3QtYS11dWlk",  # a date and "not-a-uuid"
        InboxCursor(added_at=T0, case_id=uuid.uuid4()).encode()[:-3],
        # A time without a zone.
        "MjAyNi0wMy0wMVQwOTozMDowMHw2ZjZjYTNkYjRmNDk0MDE1OTEwMDVmMmVkOGFjMjFkZQ",
    ],
)
def test_a_forged_or_damaged_cursor_is_refused(token: str) -> None:
    with pytest.raises(InvalidCursor):
        InboxCursor.decode(token)


def _case_active_at(moment: datetime) -> Case:
    return Case(
        id=uuid.uuid4(),
        locator_hash=bytes(32),
        reporter_public_key=bytes(32),
        status=CaseStatus.NEW,
        urgent=False,
        created_at=T0,
        updated_at=moment,
        last_activity_at=moment,
        last_message_seq=2,
        assignee_id=None,
        acknowledged_at=None,
        acknowledged_by=None,
        escalation_level=0,
        next_escalation_at=None,
        consent=None,
        consent_updated_at=None,
        closed_at=None,
    )


def test_an_inbox_item_is_unread_when_the_case_moved_after_it_was_last_seen() -> None:
    case = _case_active_at(T0 + timedelta(minutes=5))
    assert InboxItem(case=case, added_at=T0, last_seen_at=None).unread
    assert InboxItem(case=case, added_at=T0, last_seen_at=T0).unread
    assert not InboxItem(case=case, added_at=T0, last_seen_at=T0 + timedelta(minutes=5)).unread
