"""qbo_connection, qbo_auth_state, qbo_memo_action: the live QuickBooks Online connection (issue 15)

Revision ID: 0010_qbo_connection
Revises: 0009_approval_usage
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010_qbo_connection"
down_revision = "0009_approval_usage"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString
_TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "qbo_connection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", _TEXT(length=16), nullable=False),
        sa.Column("realm_id", _TEXT(length=32), nullable=True),
        sa.Column("access_token", sa.Text(), nullable=True),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("access_expires_at", _TIME(), nullable=True),
        sa.Column("refresh_expires_at", _TIME(), nullable=True),
        sa.Column("token_version", sa.BigInteger(), nullable=False),
        sa.Column("connected_at", _TIME(), nullable=True),
        sa.Column("connected_by", _TEXT(length=120), nullable=True),
        sa.Column("changed_since", _TIME(), nullable=True),
        sa.Column("last_poll_at", _TIME(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", _TIME(), nullable=True),
        sa.Column("alerted_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "qbo_auth_state",
        sa.Column("state", _TEXT(length=64), nullable=False),
        sa.Column("actor", _TEXT(length=120), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("expires_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("state"),
    )
    op.create_table(
        "qbo_memo_action",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("request_key", _TEXT(length=200), nullable=False),
        sa.Column("client_id", _TEXT(length=64), nullable=False),
        sa.Column("invoice_number", _TEXT(length=64), nullable=False),
        sa.Column("qb_invoice_id", _TEXT(length=32), nullable=False),
        sa.Column("source", _TEXT(length=16), nullable=False),
        sa.Column("qb_credit_memo_id", _TEXT(length=32), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", _TEXT(length=3), nullable=False),
        sa.Column("actor", _TEXT(length=120), nullable=False),
        sa.Column("approved_by", _TEXT(length=120), nullable=True),
        sa.Column("status", _TEXT(length=16), nullable=False),
        sa.Column("qb_payment_id", _TEXT(length=32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("sent_at", _TIME(), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["client.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_key"),
    )
    op.create_index("ix_qbo_memo_action_client_id", "qbo_memo_action", ["client_id"])


def downgrade() -> None:
    op.drop_index("ix_qbo_memo_action_client_id", table_name="qbo_memo_action")
    op.drop_table("qbo_memo_action")
    op.drop_table("qbo_auth_state")
    op.drop_table("qbo_connection")
