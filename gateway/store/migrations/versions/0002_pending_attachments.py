"""Attachments may belong to no case yet: a tip's files are uploaded before the tip exists.

Revision ID: 0002_pending_attachments
Revises: 0001_initial
Create Date: 2026-11-28

A reporter's client uploads a new tip's encrypted attachments first (their ids and keys
travel inside the tip's envelope), so an upload is recorded with no case until the tip
that lists it claims it. Unclaimed uploads are swept after a bounded time.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_pending_attachments"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.alter_column("case_id", existing_type=sa.Uuid(), nullable=True)


def downgrade() -> None:
    # Uploads that no case claimed cannot exist in the old schema; their blobs become
    # orphans that the blob folder's operator may delete (ciphertext only).
    op.execute(sa.text("DELETE FROM attachments WHERE case_id IS NULL"))
    with op.batch_alter_table("attachments") as batch:
        batch.alter_column("case_id", existing_type=sa.Uuid(), nullable=False)
