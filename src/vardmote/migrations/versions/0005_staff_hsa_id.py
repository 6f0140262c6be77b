"""staff hsa-id and how a session was signed in

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hsa_id", sa.String(length=40), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_users_hsa_id"), ["hsa_id"])
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("signed_in_with", sa.String(length=20), nullable=False, server_default="password")
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_column("signed_in_with")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_hsa_id"), type_="unique")
        batch_op.drop_column("hsa_id")
