"""credit operations: partial reversals, transfers between clients, refunds, write-offs, expiry

Revision ID: 0011_credit_operations
Revises: 0010_qbo_connection

- credit.kind (grant, revocation, transfer_in/out, refund, write_off, reinstated, expiry), credit.expires_on and
  credit.transfer_id; existing "revokes:N" entries become kind "revocation".
- client.next_expiry_on: the earliest expiry of the wallet's unexpired credits.
- reversal.amount_minor (NULL: the whole payment) and reversal.remainder_payment_id (the application that carries
  what a partial reversal left), with a check that a reversal gives back a positive amount.
- credit_transfer and credit_refund.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011_credit_operations"
down_revision = "0010_qbo_connection"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _text(length: int) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "credit_transfer",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("from_client_id", _text(64), nullable=False),
        sa.Column("to_client_id", _text(64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_by", _text(120), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["from_client_id"], ["client.id"]),
        sa.ForeignKeyConstraint(["to_client_id"], ["client.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_credit_transfer_from_client_id", "credit_transfer", ["from_client_id"])
    op.create_index("ix_credit_transfer_to_client_id", "credit_transfer", ["to_client_id"])
    with op.batch_alter_table("credit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", _text(16), nullable=False, server_default="grant"))
        batch_op.add_column(sa.Column("expires_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("transfer_id", _ID, nullable=True))
        batch_op.create_foreign_key("fk_credit_transfer_id", "credit_transfer", ["transfer_id"], ["id"])
        batch_op.create_index("ix_credit_transfer_id", ["transfer_id"])
    op.execute("UPDATE credit SET kind = 'revocation' WHERE external_id LIKE 'revokes:%'")
    op.create_table(
        "credit_refund",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("credit_id", _ID, nullable=False),
        sa.Column("client_id", _text(64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", _text(3), nullable=False),
        sa.Column("reference", _text(64), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("follow_status", _text(16), nullable=False),
        sa.Column("created_by", _text(120), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["client.id"]),
        sa.ForeignKeyConstraint(["credit_id"], ["credit.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("credit_id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index("ix_credit_refund_client_id", "credit_refund", ["client_id"])
    op.create_index("ix_credit_refund_follow_status", "credit_refund", ["follow_status"])
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_expiry_on", sa.Date(), nullable=True))
    with op.batch_alter_table("reversal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("amount_minor", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("remainder_payment_id", _ID, nullable=True))
        batch_op.create_foreign_key("fk_reversal_remainder_payment", "payment", ["remainder_payment_id"], ["id"])
        batch_op.create_unique_constraint("uq_reversal_remainder_payment_id", ["remainder_payment_id"])
        batch_op.create_check_constraint("ck_reversal_amount", "amount_minor IS NULL OR amount_minor > 0")


def downgrade() -> None:
    with op.batch_alter_table("reversal", schema=None) as batch_op:
        batch_op.drop_constraint("ck_reversal_amount", type_="check")
        batch_op.drop_constraint("uq_reversal_remainder_payment_id", type_="unique")
        batch_op.drop_constraint("fk_reversal_remainder_payment", type_="foreignkey")
        batch_op.drop_column("remainder_payment_id")
        batch_op.drop_column("amount_minor")
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_column("next_expiry_on")
    op.drop_index("ix_credit_refund_follow_status", table_name="credit_refund")
    op.drop_index("ix_credit_refund_client_id", table_name="credit_refund")
    op.drop_table("credit_refund")
    with op.batch_alter_table("credit", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_transfer_id")
        batch_op.drop_constraint("fk_credit_transfer_id", type_="foreignkey")
        batch_op.drop_column("transfer_id")
        batch_op.drop_column("expires_on")
        batch_op.drop_column("kind")
    op.drop_index("ix_credit_transfer_to_client_id", table_name="credit_transfer")
    op.drop_index("ix_credit_transfer_from_client_id", table_name="credit_transfer")
    op.drop_table("credit_transfer")
