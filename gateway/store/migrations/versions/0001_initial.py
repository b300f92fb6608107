"""The initial schema: cases, messages, inboxes, investigators, directory, audit, outbox.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-28

Written from Alembic's autogenerate output and reviewed by hand. Types are spelled out
here (not imported from the models) so that this revision never changes after release.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    # gateway.store.column_types.UTCDateTime stores through this type on both databases.
    return sa.DateTime(timezone=True)


def _sequence_number() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _exact_length(column: str, size: int, table: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"length({column}) = {size}", name=f"ck_{table}_{column}_length")


def upgrade() -> None:
    op.create_table(
        "investigators",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column(
            "status",
            _enum("investigator_status", "pending", "active", "revoked"),
            nullable=False,
        ),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("enc_public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sig_public_key", sa.LargeBinary(), nullable=False),
        sa.Column("auth_salt", sa.LargeBinary(), nullable=False),
        sa.Column("kdf_params", sa.JSON(), nullable=False),
        sa.Column("auth_key_hash", sa.LargeBinary(), nullable=False),
        sa.Column("key_bundle", sa.LargeBinary(), nullable=False),
        sa.Column("totp_secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("last_login_at", _utc(), nullable=True),
        _exact_length("enc_public_key", 32, "investigators"),
        _exact_length("sig_public_key", 32, "investigators"),
        sa.PrimaryKeyConstraint("id", name="pk_investigators"),
        sa.UniqueConstraint("username", name="uq_investigators_username"),
    )

    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("locator_hash", sa.LargeBinary(), nullable=False),
        sa.Column("reporter_public_key", sa.LargeBinary(), nullable=False),
        sa.Column(
            "status",
            _enum(
                "case_status",
                "new",
                "triage",
                "investigating",
                "referred",
                "closed",
                "withdrawn",
            ),
            nullable=False,
        ),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("last_activity_at", _utc(), nullable=False),
        sa.Column("last_message_seq", sa.Integer(), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("acknowledged_at", _utc(), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("next_escalation_at", _utc(), nullable=True),
        sa.Column("consent", _enum("consent", "requested", "given", "refused"), nullable=True),
        sa.Column("consent_updated_at", _utc(), nullable=True),
        sa.Column("closed_at", _utc(), nullable=True),
        _exact_length("locator_hash", 32, "cases"),
        _exact_length("reporter_public_key", 32, "cases"),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["investigators.id"],
            name="fk_cases_acknowledged_by_investigators",
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["investigators.id"], name="fk_cases_assignee_id_investigators"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.UniqueConstraint("locator_hash", name="uq_cases_locator_hash"),
    )
    op.create_index("ix_cases_last_activity_at", "cases", ["last_activity_at"])
    op.create_index("ix_cases_next_escalation_at", "cases", ["next_escalation_at"])
    op.create_index("ix_cases_status_closed_at", "cases", ["status", "closed_at"])

    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            _enum(
                "message_kind",
                "tip",
                "followup",
                "reply",
                "note",
                "consent_request",
                "consent_answer",
            ),
            nullable=False,
        ),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("visible_to_reporter", sa.Boolean(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["investigators.id"], name="fk_messages_author_id_investigators"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_messages_case_id_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint("case_id", "seq", name="uq_messages_case_id_seq"),
    )

    op.create_table(
        "message_recipients",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("key_id", sa.LargeBinary(), nullable=False),
        sa.Column("investigator_id", sa.Uuid(), nullable=True),
        sa.Column(
            "recipient_kind",
            _enum("recipient_kind", "reporter", "investigator", "recovery"),
            nullable=False,
        ),
        _exact_length("key_id", 16, "message_recipients"),
        sa.ForeignKeyConstraint(
            ["investigator_id"],
            ["investigators.id"],
            name="fk_message_recipients_investigator_id_investigators",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_message_recipients_message_id_messages"
        ),
        sa.PrimaryKeyConstraint("message_id", "key_id", name="pk_message_recipients"),
    )
    op.create_index(
        "ix_message_recipients_investigator_id", "message_recipients", ["investigator_id"]
    )

    op.create_table(
        "inbox_entries",
        sa.Column("investigator_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("added_at", _utc(), nullable=False),
        sa.Column("last_seen_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_inbox_entries_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["investigator_id"],
            ["investigators.id"],
            name="fk_inbox_entries_investigator_id_investigators",
        ),
        sa.PrimaryKeyConstraint("investigator_id", "case_id", name="pk_inbox_entries"),
    )
    op.create_index("ix_inbox_entries_case_id", "inbox_entries", ["case_id"])
    op.create_index(
        "ix_inbox_entries_newest", "inbox_entries", ["investigator_id", "added_at", "case_id"]
    )

    op.create_table(
        "attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), nullable=True),
        sa.Column("blob_key", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("state", _enum("attachment_state", "uploading", "complete"), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("completed_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_attachments_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["investigators.id"], name="fk_attachments_uploaded_by_investigators"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_attachments"),
        sa.UniqueConstraint("blob_key", name="uq_attachments_blob_key"),
    )
    op.create_index("ix_attachments_case_id", "attachments", ["case_id"])
    op.create_index("ix_attachments_state_created_at", "attachments", ["state", "created_at"])

    op.create_table(
        "invites",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("used_at", _utc(), nullable=True),
        _exact_length("token_hash", 32, "invites"),
        sa.ForeignKeyConstraint(
            ["created_by"], ["investigators.id"], name="fk_invites_created_by_investigators"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_invites"),
        sa.UniqueConstraint("token_hash", name="uq_invites_token_hash"),
    )

    op.create_table(
        "enrollments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("invite_id", sa.Uuid(), nullable=False),
        sa.Column("investigator_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            _enum("enrollment_status", "pending", "vetted", "rejected"),
            nullable=False,
        ),
        sa.Column("submitted_at", _utc(), nullable=False),
        sa.Column("decided_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["investigator_id"],
            ["investigators.id"],
            name="fk_enrollments_investigator_id_investigators",
        ),
        sa.ForeignKeyConstraint(
            ["invite_id"], ["invites.id"], name="fk_enrollments_invite_id_invites"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_enrollments"),
        sa.UniqueConstraint("invite_id", name="uq_enrollments_invite_id"),
    )
    op.create_index("ix_enrollments_investigator_id", "enrollments", ["investigator_id"])
    op.create_index("ix_enrollments_status", "enrollments", ["status"])

    op.create_table(
        "directory_entries",
        sa.Column("seq", _sequence_number(), autoincrement=False, nullable=False),
        sa.Column("entry_bytes", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(), nullable=False),
        sa.Column("kind", _enum("directory_entry_kind", "add", "revoke"), nullable=False),
        sa.Column("investigator_id", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", _utc(), nullable=False),
        _exact_length("signature", 64, "directory_entries"),
        _exact_length("entry_hash", 32, "directory_entries"),
        sa.PrimaryKeyConstraint("seq", name="pk_directory_entries"),
        sa.UniqueConstraint("entry_hash", name="uq_directory_entries_entry_hash"),
    )
    op.create_index(
        "ix_directory_entries_investigator_id", "directory_entries", ["investigator_id"]
    )

    op.create_table(
        "audit_entries",
        sa.Column("seq", _sequence_number(), autoincrement=False, nullable=False),
        sa.Column("recorded_at", _utc(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(), nullable=False),
        _exact_length("prev_hash", 32, "audit_entries"),
        _exact_length("entry_hash", 32, "audit_entries"),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_entries"),
        sa.UniqueConstraint("entry_hash", name="uq_audit_entries_entry_hash"),
    )
    op.create_index("ix_audit_entries_case_id", "audit_entries", ["case_id"])

    op.create_table(
        "outbox",
        sa.Column("id", _sequence_number(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("available_at", _utc(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("delivered_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_case_id", "outbox", ["case_id"])
    op.create_index("ix_outbox_due", "outbox", ["delivered_at", "available_at"])


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes with it.
    for table in (
        "outbox",
        "audit_entries",
        "directory_entries",
        "enrollments",
        "invites",
        "attachments",
        "inbox_entries",
        "message_recipients",
        "messages",
        "cases",
        "investigators",
    ):
        op.drop_table(table)
