"""Webhook alarms: exactly the documented content-free fields, signed so a receiver can check."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.webhooks import (
    BODY_FIELDS,
    ESCALATION_EVENT,
    alarm_payload,
    body_bytes,
    signature_header,
    signature_is_valid,
)

SECRET = b"s" * 32
NOW = 1_790_000_000


def _body() -> bytes:
    moment = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    return body_bytes(
        alarm_payload(
            event=ESCALATION_EVENT,
            case_id=uuid.UUID(int=7),
            level=2,
            at=moment,
            reported_at=moment - timedelta(minutes=25),
            next_escalation_at=moment + timedelta(minutes=15),
        )
    )


def test_an_alarm_names_the_case_its_urgency_its_step_and_times_and_nothing_else() -> None:
    body = json.loads(_body())

    assert set(body) == BODY_FIELDS
    assert body == {
        "v": 1,
        "event": "case.escalated",
        "case_id": "00000000-0000-0000-0000-000000000007",
        "urgency": "emergency",
        "level": 2,
        "at": "2026-09-01T12:00:00Z",
        "reported_at": "2026-09-01T11:35:00Z",
        "next_escalation_at": "2026-09-01T12:15:00Z",
    }


def test_the_body_is_canonical_json() -> None:
    assert (
        _body() == json.dumps(json.loads(_body()), sort_keys=True, separators=(",", ":")).encode()
    )


def test_an_unknown_alarm_event_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown alarm event"):
        alarm_payload(
            event="case.created",
            case_id=uuid.uuid4(),
            level=0,
            at=datetime.now(UTC),
            reported_at=datetime.now(UTC),
            next_escalation_at=None,
        )


def test_a_receiver_accepts_the_signature_of_the_exact_body_under_the_secret() -> None:
    header = signature_header(SECRET, _body(), timestamp=NOW)

    assert header.startswith(f"t={NOW},v1=")
    assert signature_is_valid(SECRET, _body(), header, now=NOW + 60)


@pytest.mark.parametrize(
    "change",
    ["body", "secret", "timestamp", "stale", "garbage"],
)
def test_a_receiver_refuses_any_change_and_stale_signatures(change: str) -> None:
    body, secret, header, now = (
        _body(),
        SECRET,
        signature_header(SECRET, _body(), timestamp=NOW),
        NOW,
    )
    if change == "body":
        body = body.replace(b'"level":2', b'"level":3')
    elif change == "secret":
        secret = b"t" * 32
    elif change == "timestamp":
        header = header.replace(f"t={NOW}", f"t={NOW + 1}")
    elif change == "stale":
        now = NOW + 301
    else:
        header = "v1=deadbeef"

    assert not signature_is_valid(secret, body, header, now=now)
