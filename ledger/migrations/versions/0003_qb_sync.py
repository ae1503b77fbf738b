"""QuickBooks Online sync: qb_txn (entities seen, by type and Id), qb_txn_payment, qb_overpayment

Revision ID: 0003_qb_sync
Revises: 0001_initial
Create Date: 2026-11-25 13:17:15.535112
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003_qb_sync"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qb_overpayment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("qb_payment_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("qb_txn_date", sa.Date(), nullable=False),
        sa.Column("seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("qb_payment_id"),
    )
    with op.batch_alter_table("qb_overpayment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qb_overpayment_client_id"), ["client_id"], unique=False)

    op.create_table(
        "qb_txn",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("entity_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("qbo_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("sync_token", sa.BigInteger(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("invoice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("qb_updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("synced_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client.id"],
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoice.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entity_type", "qbo_id", name="uq_qb_txn_entity"),
    )
    with op.batch_alter_table("qb_txn", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qb_txn_status"), ["status"], unique=False)

    op.create_table(
        "qb_txn_payment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("qb_txn_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payment.id"],
        ),
        sa.ForeignKeyConstraint(
            ["qb_txn_id"],
            ["qb_txn.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("payment_id"),
    )
    with op.batch_alter_table("qb_txn_payment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qb_txn_payment_qb_txn_id"), ["qb_txn_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("qb_txn_payment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qb_txn_payment_qb_txn_id"))

    op.drop_table("qb_txn_payment")
    with op.batch_alter_table("qb_txn", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qb_txn_status"))

    op.drop_table("qb_txn")
    with op.batch_alter_table("qb_overpayment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qb_overpayment_client_id"))

    op.drop_table("qb_overpayment")
