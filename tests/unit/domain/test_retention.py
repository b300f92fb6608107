"""Retention rules: which rule makes a case due, counted from the right moment, or none."""

from __future__ import annotations

import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.retention import RetentionRules, case_key_prefix
from gateway.store.records import Case, CaseStatus

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def case(status: CaseStatus, *, active_days_ago: float, ended_days_ago: float | None) -> Case:
    return Case(
        id=uuid.uuid4(),
        locator_hash=os.urandom(32),
        reporter_public_key=os.urandom(32),
        status=status,
        urgent=False,
        created_at=NOW - timedelta(days=400),
        updated_at=NOW,
        last_activity_at=NOW - timedelta(days=active_days_ago),
        last_message_seq=1,
        assignee_id=None,
        acknowledged_at=None,
        acknowledged_by=None,
        escalation_level=0,
        next_escalation_at=None,
        consent=None,
        consent_updated_at=None,
        closed_at=None if ended_days_ago is None else NOW - timedelta(days=ended_days_ago),
    )


RULES = RetentionRules.from_days(closed=30, idle=90, withdrawn=0)


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        (case(CaseStatus.CLOSED, active_days_ago=40, ended_days_ago=30), "closed"),
        (case(CaseStatus.CLOSED, active_days_ago=40, ended_days_ago=29.99), None),
        (case(CaseStatus.WITHDRAWN, active_days_ago=1, ended_days_ago=0), "withdrawn"),
        (case(CaseStatus.INVESTIGATING, active_days_ago=90, ended_days_ago=None), "idle"),
        (case(CaseStatus.REFERRED, active_days_ago=89.9, ended_days_ago=None), None),
        # Closed recently but untouched for long: the idle rule still applies.
        (case(CaseStatus.CLOSED, active_days_ago=100, ended_days_ago=1), "idle"),
    ],
)
def test_each_rule_counts_from_its_own_moment(subject: Case, reason: str | None) -> None:
    assert RULES.reason(subject, NOW) == reason


def test_a_rule_switched_off_never_applies() -> None:
    rules = RetentionRules.from_days(closed=None, idle=None, withdrawn=None)
    old = case(CaseStatus.CLOSED, active_days_ago=5000, ended_days_ago=5000)

    assert rules.reason(old, NOW) is None
    assert rules.reason(replace(old, status=CaseStatus.WITHDRAWN), NOW) is None


def test_a_cases_broker_keys_share_one_prefix_of_its_own() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()

    assert case_key_prefix(first) == f"case:{first}:"
    assert not case_key_prefix(first).startswith(case_key_prefix(second))
