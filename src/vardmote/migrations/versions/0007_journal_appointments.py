"""journal appointments: the FHIR Appointments journal systems booked, each linked to its meeting

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vardmote.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal_appointments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("meeting_id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("clinician_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("meeting_sequence", sa.Integer(), nullable=False),
        sa.Column("identifiers", sa.JSON(), nullable=False),
        sa.Column("created_at", vardmote.db.UtcDateTime(), nullable=False),
        sa.Column("updated_at", vardmote.db.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["api_clients.id"], name=op.f("fk_journal_appointments_client_id_api_clients")
        ),
        sa.ForeignKeyConstraint(
            ["clinician_id"], ["users.id"], name=op.f("fk_journal_appointments_clinician_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_journal_appointments_meeting_id_meetings")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_journal_appointments_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_appointments")),
        sa.UniqueConstraint("meeting_id", name=op.f("uq_journal_appointments_meeting_id")),
    )
    with op.batch_alter_table("journal_appointments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journal_appointments_client_id"), ["client_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_journal_appointments_clinician_id"), ["clinician_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_journal_appointments_patient_id"), ["patient_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("journal_appointments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_appointments_patient_id"))
        batch_op.drop_index(batch_op.f("ix_journal_appointments_clinician_id"))
        batch_op.drop_index(batch_op.f("ix_journal_appointments_client_id"))
    op.drop_table("journal_appointments")
