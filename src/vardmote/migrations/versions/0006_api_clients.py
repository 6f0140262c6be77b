"""api clients: journal systems, their access tokens and used assertions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vardmote.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("jwks", sa.Text(), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", vardmote.db.UtcDateTime(), nullable=False),
        sa.Column("revoked_at", vardmote.db.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_api_clients_client_id")),
        sa.UniqueConstraint("name", name=op.f("uq_api_clients_name")),
    )
    op.create_table(
        "api_access_tokens",
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("created_at", vardmote.db.UtcDateTime(), nullable=False),
        sa.Column("expires_at", vardmote.db.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_clients.id"],
            name=op.f("fk_api_access_tokens_client_id_api_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_api_access_tokens")),
    )
    with op.batch_alter_table("api_access_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_access_tokens_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_access_tokens_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "api_used_assertions",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", vardmote.db.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_clients.id"],
            name=op.f("fk_api_used_assertions_client_id_api_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_api_used_assertions")),
    )
    with op.batch_alter_table("api_used_assertions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_used_assertions_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_used_assertions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_used_assertions_expires_at"))
    op.drop_table("api_used_assertions")
    with op.batch_alter_table("api_access_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_access_tokens_expires_at"))
        batch_op.drop_index(batch_op.f("ix_api_access_tokens_client_id"))
    op.drop_table("api_access_tokens")
    op.drop_table("api_clients")
