"""approval_usage: the gated writes done without a second admin, for the rolling 24-hour approval sum per client

Revision ID: 0009_approval_usage
Revises: 0007_payment_client_kind_project
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009_approval_usage"
down_revision = "0007_payment_client_kind_project"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approval_usage",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["client.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_approval_usage_client_action_at", "approval_usage", ["client_id", "action", "at"])


def downgrade() -> None:
    op.drop_index("ix_approval_usage_client_action_at", table_name="approval_usage")
    op.drop_table("approval_usage")
