"""The reporter rules that need no storage: what a reporter is told, what a body must be."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime

import pytest

from gateway.crypto.directory import Member, VettedSet
from gateway.crypto.encoding import JsonObject, b64encode
from gateway.crypto.envelope import seal
from gateway.crypto.errors import Malformed, UnsupportedVersion
from gateway.crypto.keys import X25519KeyPair, key_id
from gateway.crypto.message import MessageContent
from gateway.domain import recipients
from gateway.domain.errors import InvalidInput
from gateway.domain.recipients import recipient_rows
from gateway.domain.reporter_access import ReporterStatus, reporter_status
from gateway.domain.reporting import ReplySubmission, TipSubmission
from gateway.store.records import CaseStatus, Investigator, InvestigatorStatus, RecipientKind


def test_a_reporter_is_told_only_received_in_progress_or_closed() -> None:
    shown = {status: reporter_status(status) for status in CaseStatus}
    assert set(shown.values()) <= set(ReporterStatus)
    assert shown[CaseStatus.NEW] is ReporterStatus.RECEIVED
    # A hand-over to the police is not something to show on the reporter's screen.
    assert shown[CaseStatus.REFERRED] is ReporterStatus.IN_PROGRESS
    assert shown[CaseStatus.CLOSED] is ReporterStatus.CLOSED


def _tip_body(**changes: object) -> JsonObject:
    reporter = X25519KeyPair.generate()
    envelope = seal(
        MessageContent(kind="tip", body="x", created=int(time.time())),
        recipients=[reporter.public],
        case=None,
    )
    body: JsonObject = {
        "v": 1,
        "locator": b64encode(os.urandom(32)),
        "reporter_pk": b64encode(reporter.public),
        "urgent": False,
        "envelope": envelope.to_json(),
    }
    body.update(changes)  # type: ignore[arg-type]
    return body


def test_a_well_formed_tip_body_parses_with_its_upload_ids() -> None:
    upload = uuid.uuid4()
    tip = TipSubmission.from_json(_tip_body(attachments=[str(upload)], urgent=True))
    assert tip.attachment_ids == (upload,)
    assert tip.urgent is True
    assert tip.envelope.kind == "tip"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"v": 2}, UnsupportedVersion),
        ({"attachments": ["not-an-id"]}, Malformed),
        ({"attachments": [str(uuid.uuid4()).upper()]}, Malformed),
        ({"attachments": [str(uuid.UUID(int=1))] * 2}, Malformed),
        ({"attachments": [str(uuid.uuid4()) for _ in range(65)]}, Malformed),
        ({"urgent": 1}, Malformed),
        ({"reporter_pk": b64encode(os.urandom(31))}, Malformed),
        ({"extra": True}, Malformed),
        # The proof of work travels in the X-Tipline-Proof header, never in the body.
        ({"pow": {"challenge": "", "mac": "", "nonce": ""}}, Malformed),
    ],
)
def test_a_tip_body_that_is_not_exactly_right_is_refused(
    changes: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        TipSubmission.from_json(_tip_body(**changes))


def test_a_reporter_message_is_a_reply_and_a_consent_answer_is_sent_where_it_is_recorded() -> None:
    reporter = X25519KeyPair.generate()

    def envelope_of(kind: str) -> dict[str, object]:
        return seal(
            MessageContent(kind=kind, body="x", created=1),
            recipients=[reporter.public],
            case=None if kind == "tip" else "c-1",
        ).to_json()

    reply = ReplySubmission.from_json({"v": 1, "envelope": envelope_of("reply")})
    assert (reply.envelope.kind, reply.attachment_ids) == ("reply", ())
    with pytest.raises(Malformed, match="pow"):  # the proof travels in X-Tipline-Proof
        ReplySubmission.from_json({"v": 1, "envelope": envelope_of("reply"), "pow": {}})
    with pytest.raises(InvalidInput, match="reporter/consent"):
        ReplySubmission.from_json({"v": 1, "envelope": envelope_of("consent_answer")})
    with pytest.raises(InvalidInput, match="kind reply"):
        ReplySubmission.from_json({"v": 1, "envelope": envelope_of("tip")})


def _member(investigator_id: str, *roles: str) -> Member:
    return Member(
        investigator_id=investigator_id,
        name=investigator_id,
        roles=frozenset(roles),
        enc_pk=X25519KeyPair.generate().public,
        sig_pk=os.urandom(32),
        not_after=2**40,
        seq=1,
    )


def test_recipient_rows_name_the_reporter_the_recovery_key_and_investigators_with_accounts() -> (
    None
):
    with_account = _member(str(uuid.uuid4()), "triage")
    without_account = _member(str(uuid.uuid4()), "triage")
    recovery = _member(str(uuid.uuid4()), "recovery")
    vetted = VettedSet(at=0, members=(with_account, without_account, recovery))
    reporter = X25519KeyPair.generate().public
    rule = recipients.for_new_tip(vetted, reporter)

    account = Investigator(
        id=uuid.UUID(with_account.investigator_id),
        username="anna",
        display_name="Anna",
        status=InvestigatorStatus.ACTIVE,
        roles=("triage",),
        enc_public_key=with_account.enc_pk,
        sig_public_key=with_account.sig_pk,
        auth_salt=bytes(16),
        kdf_params={},
        auth_key_hash=bytes(32),
        key_bundle=b"",
        totp_secret_sealed=b"",
        on_duty=False,
        created_at=datetime.now(UTC),
        last_login_at=None,
    )

    rows = recipient_rows(rule, reporter, {with_account.investigator_id: account})

    by_kid = {row.key_id: row for row in rows}
    assert set(by_kid) == rule.required_kids
    assert by_kid[key_id(reporter)].kind is RecipientKind.REPORTER
    assert by_kid[recovery.enc_kid].kind is RecipientKind.RECOVERY
    assert by_kid[with_account.enc_kid].investigator_id == account.id
    assert by_kid[without_account.enc_kid].investigator_id is None
    assert by_kid[without_account.enc_kid].kind is RecipientKind.INVESTIGATOR
