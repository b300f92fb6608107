"""The database schema as typed SQLAlchemy models; the migrations must build exactly this.

Deliberately absent, on every table: IP addresses, user agents, pickup codes, locators in
clear, passphrases and any plaintext. Content exists here only as opaque client ciphertext.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gateway.store.column_types import UTCDateTime
from gateway.store.records import (
    AttachmentState,
    CaseStatus,
    ConsentState,
    DirectoryEntryKind,
    EnrollmentStatus,
    InvestigatorStatus,
    JSONValue,
    MessageKind,
    RecipientKind,
)

# Stable constraint names on both databases, so that migrations can name what they drop.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid alias), not a BIGINT one.
SequenceNumber = BigInteger().with_variant(Integer(), "sqlite")


def _enum_values(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]


def enum_column(enum: type[StrEnum], name: str) -> Enum:
    """A portable enum: VARCHAR plus a CHECK constraint (no native PostgreSQL type to migrate)."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,  # room to add a value later with only the CHECK constraint changing
        values_callable=_enum_values,
        validate_strings=True,
    )


def exact_length(column: str, size: int) -> CheckConstraint:
    return CheckConstraint(f"length({column}) = {size}", name=f"{column}_length")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class InvestigatorRow(Base):
    __tablename__ = "investigators"
    __table_args__ = (
        exact_length("enc_public_key", 32),
        exact_length("sig_public_key", 32),
    )

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    status: Mapped[InvestigatorStatus] = mapped_column(
        enum_column(InvestigatorStatus, "investigator_status")
    )
    roles: Mapped[list[str]] = mapped_column(JSON)
    enc_public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sig_public_key: Mapped[bytes] = mapped_column(LargeBinary)
    auth_salt: Mapped[bytes] = mapped_column(LargeBinary)
    kdf_params: Mapped[dict[str, JSONValue]] = mapped_column(JSON)
    auth_key_hash: Mapped[bytes] = mapped_column(LargeBinary)
    key_bundle: Mapped[bytes] = mapped_column(LargeBinary)
    totp_secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    on_duty: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (
        exact_length("locator_hash", 32),
        exact_length("reporter_public_key", 32),
        Index("ix_cases_status_closed_at", "status", "closed_at"),
    )

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    locator_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    reporter_public_key: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[CaseStatus] = mapped_column(enum_column(CaseStatus, "case_status"))
    urgent: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_message_seq: Mapped[int] = mapped_column(Integer)
    assignee_id: Mapped[UUID | None] = mapped_column(Uuid, ForeignKey("investigators.id"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[UUID | None] = mapped_column(Uuid, ForeignKey("investigators.id"))
    escalation_level: Mapped[int] = mapped_column(Integer)
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    consent: Mapped[ConsentState | None] = mapped_column(enum_column(ConsentState, "consent"))
    consent_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    case_id: Mapped[UUID] = mapped_column(Uuid, ForeignKey("cases.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind, "message_kind"))
    author_id: Mapped[UUID | None] = mapped_column(Uuid, ForeignKey("investigators.id"))
    visible_to_reporter: Mapped[bool] = mapped_column(Boolean)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MessageRecipientRow(Base):
    __tablename__ = "message_recipients"
    __table_args__ = (
        PrimaryKeyConstraint("message_id", "key_id"),
        exact_length("key_id", 16),
    )

    message_id: Mapped[UUID] = mapped_column(Uuid, ForeignKey("messages.id"))
    key_id: Mapped[bytes] = mapped_column(LargeBinary)
    investigator_id: Mapped[UUID | None] = mapped_column(
        Uuid, ForeignKey("investigators.id"), index=True
    )
    recipient_kind: Mapped[RecipientKind] = mapped_column(
        enum_column(RecipientKind, "recipient_kind")
    )


class InboxEntryRow(Base):
    __tablename__ = "inbox_entries"
    __table_args__ = (
        PrimaryKeyConstraint("investigator_id", "case_id"),
        # Newest first, with the case id as the tie-breaker of the keyset cursor.
        Index("ix_inbox_entries_newest", "investigator_id", "added_at", "case_id"),
    )

    investigator_id: Mapped[UUID] = mapped_column(Uuid, ForeignKey("investigators.id"))
    case_id: Mapped[UUID] = mapped_column(Uuid, ForeignKey("cases.id"), index=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AttachmentRow(Base):
    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_state_created_at", "state", "created_at"),)

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    # None while a new tip's upload waits for the tip that claims it (see the repository).
    case_id: Mapped[UUID | None] = mapped_column(Uuid, ForeignKey("cases.id"), index=True)
    uploaded_by: Mapped[UUID | None] = mapped_column(Uuid, ForeignKey("investigators.id"))
    blob_key: Mapped[str] = mapped_column(String(255), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[AttachmentState] = mapped_column(enum_column(AttachmentState, "attachment_state"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InviteRow(Base):
    __tablename__ = "invites"
    __table_args__ = (exact_length("token_hash", 32),)

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    roles: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[UUID | None] = mapped_column(Uuid, ForeignKey("investigators.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EnrollmentRow(Base):
    __tablename__ = "enrollments"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    invite_id: Mapped[UUID] = mapped_column(Uuid, ForeignKey("invites.id"), unique=True)
    investigator_id: Mapped[UUID] = mapped_column(Uuid, ForeignKey("investigators.id"), index=True)
    status: Mapped[EnrollmentStatus] = mapped_column(
        enum_column(EnrollmentStatus, "enrollment_status"), index=True
    )
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DirectoryEntryRow(Base):
    __tablename__ = "directory_entries"
    __table_args__ = (
        exact_length("signature", 64),
        exact_length("entry_hash", 32),
    )

    seq: Mapped[int] = mapped_column(SequenceNumber, primary_key=True, autoincrement=False)
    entry_bytes: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    kind: Mapped[DirectoryEntryKind] = mapped_column(
        enum_column(DirectoryEntryKind, "directory_entry_kind")
    )
    # No foreign key: the recovery key and revoked people are listed without an account row.
    investigator_id: Mapped[UUID] = mapped_column(Uuid, index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEntryRow(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        exact_length("prev_hash", 32),
        exact_length("entry_hash", 32),
    )

    seq: Mapped[int] = mapped_column(SequenceNumber, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # No foreign keys: the audit trail must outlive purged cases and stay verifiable alone.
    actor_id: Mapped[UUID | None] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[UUID | None] = mapped_column(Uuid, index=True)
    details: Mapped[dict[str, JSONValue]] = mapped_column(JSON)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary)
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "delivered_at", "available_at"),)

    id: Mapped[int] = mapped_column(SequenceNumber, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, JSONValue]] = mapped_column(JSON)
    # No foreign key, but indexed: a purge removes the case's notifications with it.
    case_id: Mapped[UUID | None] = mapped_column(Uuid, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(64))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
