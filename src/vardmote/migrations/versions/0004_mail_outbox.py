"""mail outbox

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 04:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vardmote.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", vardmote.db.UtcDateTime(), nullable=False),
        sa.Column("claimed_until", vardmote.db.UtcDateTime(), nullable=True),
        sa.Column("claim", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.String(length=60), nullable=True),
        sa.Column("created_at", vardmote.db.UtcDateTime(), nullable=False),
        sa.Column("sent_at", vardmote.db.UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_mail_outbox_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["meeting_recipients.id"],
            name=op.f("fk_mail_outbox_recipient_id_meeting_recipients"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_outbox_meeting_id"), ["meeting_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mail_outbox_recipient_id"), ["recipient_id"], unique=False)
        batch_op.create_index(
            "ix_mail_outbox_state_next_attempt_at", ["state", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_outbox_state_next_attempt_at")
        batch_op.drop_index(batch_op.f("ix_mail_outbox_recipient_id"))
        batch_op.drop_index(batch_op.f("ix_mail_outbox_meeting_id"))

    op.drop_table("mail_outbox")
