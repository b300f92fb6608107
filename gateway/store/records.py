"""Plain, frozen records that the store hands out; nothing of SQLAlchemy leaves the store.

The domain layer imports these records and enums; it never sees a session or a model.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeAlias
from uuid import UUID

from gateway.store.errors import InvalidCursor

JSONValue: TypeAlias = str | int | float | bool | list["JSONValue"] | dict[str, "JSONValue"] | None
JSONObject: TypeAlias = dict[str, JSONValue]


class CaseStatus(StrEnum):
    NEW = "new"
    TRIAGE = "triage"
    INVESTIGATING = "investigating"
    REFERRED = "referred"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class ConsentState(StrEnum):
    REQUESTED = "requested"
    GIVEN = "given"
    REFUSED = "refused"


class MessageKind(StrEnum):
    TIP = "tip"
    FOLLOWUP = "followup"
    REPLY = "reply"
    NOTE = "note"
    CONSENT_REQUEST = "consent_request"
    CONSENT_ANSWER = "consent_answer"


class RecipientKind(StrEnum):
    REPORTER = "reporter"
    INVESTIGATOR = "investigator"
    RECOVERY = "recovery"


class AttachmentState(StrEnum):
    UPLOADING = "uploading"
    COMPLETE = "complete"


class InvestigatorStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REVOKED = "revoked"


class EnrollmentStatus(StrEnum):
    PENDING = "pending"
    VETTED = "vetted"
    REJECTED = "rejected"


class DirectoryEntryKind(StrEnum):
    ADD = "add"
    REVOKE = "revoke"


@dataclass(frozen=True, slots=True)
class Case:
    id: UUID
    locator_hash: bytes
    reporter_public_key: bytes
    status: CaseStatus
    urgent: bool
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    last_message_seq: int
    assignee_id: UUID | None
    acknowledged_at: datetime | None
    acknowledged_by: UUID | None
    escalation_level: int
    next_escalation_at: datetime | None
    consent: ConsentState | None
    consent_updated_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def opened(
        cls,
        *,
        case_id: UUID,
        locator_hash: bytes,
        reporter_public_key: bytes,
        urgent: bool,
        at: datetime,
        messages: int = 0,
        next_escalation_at: datetime | None = None,
    ) -> Case:
        """A case as it is opened: status new, nobody assigned or acknowledging, `messages`
        stored with it so far."""
        return cls(
            id=case_id,
            locator_hash=locator_hash,
            reporter_public_key=reporter_public_key,
            status=CaseStatus.NEW,
            urgent=urgent,
            created_at=at,
            updated_at=at,
            last_activity_at=at,
            last_message_seq=messages,
            assignee_id=None,
            acknowledged_at=None,
            acknowledged_by=None,
            escalation_level=0,
            next_escalation_at=next_escalation_at,
            consent=None,
            consent_updated_at=None,
            closed_at=None,
        )


@dataclass(frozen=True, slots=True)
class Recipient:
    """One key a message is wrapped for (the key id is BLAKE2b-128 of the public key)."""

    key_id: bytes
    kind: RecipientKind
    investigator_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Message:
    id: UUID
    case_id: UUID
    seq: int
    kind: MessageKind
    author_id: UUID | None
    visible_to_reporter: bool
    envelope: bytes
    size: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class InboxCursor:
    """Where the next inbox page starts: strictly after this (added_at, case_id) pair."""

    added_at: datetime
    case_id: UUID

    def encode(self) -> str:
        raw = f"{self.added_at.astimezone(UTC).isoformat()}|{self.case_id.hex}".encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, token: str) -> InboxCursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            added, case = base64.urlsafe_b64decode(padded.encode("ascii")).decode().split("|")
            added_at = datetime.fromisoformat(added)
            case_id = UUID(hex=case)
        except (ValueError, UnicodeError, binascii.Error) as error:
            raise InvalidCursor("the cursor is not one this server handed out") from error
        if added_at.tzinfo is None:
            raise InvalidCursor("the cursor is not one this server handed out")
        return cls(added_at=added_at, case_id=case_id)


@dataclass(frozen=True, slots=True)
class InboxItem:
    case: Case
    added_at: datetime
    last_seen_at: datetime | None

    @property
    def unread(self) -> bool:
        return self.last_seen_at is None or self.case.last_activity_at > self.last_seen_at


@dataclass(frozen=True, slots=True)
class InboxPage:
    items: Sequence[InboxItem]
    next_cursor: InboxCursor | None


@dataclass(frozen=True, slots=True)
class Attachment:
    id: UUID
    case_id: UUID | None  # None: uploaded for a tip not sent yet, claimed by that tip
    uploaded_by: UUID | None
    blob_key: str
    size_bytes: int
    state: AttachmentState
    created_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Investigator:
    id: UUID
    username: str
    display_name: str
    status: InvestigatorStatus
    roles: tuple[str, ...]
    enc_public_key: bytes
    sig_public_key: bytes
    auth_salt: bytes
    kdf_params: Mapping[str, JSONValue]
    auth_key_hash: bytes
    key_bundle: bytes
    totp_secret_sealed: bytes
    on_duty: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """Just whether an investigator has an account and in which state (a light read)."""

    id: UUID
    status: InvestigatorStatus


@dataclass(frozen=True, slots=True)
class Invite:
    id: UUID
    token_hash: bytes
    roles: tuple[str, ...]
    created_by: UUID | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True, slots=True)
class Enrollment:
    id: UUID
    invite_id: UUID
    investigator_id: UUID
    status: EnrollmentStatus
    submitted_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    seq: int
    entry_bytes: bytes
    signature: bytes
    entry_hash: bytes
    kind: DirectoryEntryKind
    investigator_id: UUID
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class AuditLink:
    """What a new audit entry must chain onto: its sequence number and the tail's hash."""

    seq: int
    prev_hash: bytes | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    recorded_at: datetime
    actor_id: UUID | None
    action: str
    case_id: UUID | None
    details: Mapping[str, JSONValue]
    prev_hash: bytes
    entry_hash: bytes


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    topic: str
    payload: Mapping[str, JSONValue]
    case_id: UUID | None
    created_at: datetime
    available_at: datetime
    attempts: int
    last_error: str | None
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class PurgedCase:
    """What a retention purge removed from the database, and the blobs left to delete."""

    case_id: UUID
    messages: int
    attachments: int
    blob_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NewCase:
    """A case a tip opens, with everything written with it (`NewCaseRepository.write`).

    `case.last_message_seq` and `tip.seq` are 1: the tip is the case's first message.
    """

    case: Case
    tip: Message
    recipients: tuple[Recipient, ...]
    inboxes: tuple[UUID, ...]
    event_topic: str
    event_payload: Mapping[str, JSONValue]


def field_values(record: Any) -> dict[str, Any]:
    """A record's fields by name, for a Core insert.

    Not `dataclasses.asdict`: that deep-copies every value (each UUID, each envelope),
    which cost a tenth of the gateway's CPU per tip under load.
    """
    record_type = type(record)
    names = _FIELD_NAMES.get(record_type)
    if names is None:
        names = _FIELD_NAMES[record_type] = tuple(f.name for f in dataclasses.fields(record))
    return {name: getattr(record, name) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
