"""Scans: scan_finding (findings and their alert state), scan_watermark (per detector), scan_slot (scheduler)

Revision ID: 0002_scans
Revises: 0001_initial
Create Date: 2026-11-25 13:24:12.839395
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002_scans"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scan_finding",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=250), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("invoice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("invoice_number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("payment_ids", sa.JSON(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("first_seen", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("changed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("closed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("acknowledged_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("alert_state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("alert_claim", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("alert_claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("alert_attempt", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("alert_attempted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("alert_channel", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("alert_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fingerprint", "occurrence", name="uq_scan_finding_occurrence"),
    )
    with op.batch_alter_table("scan_finding", schema=None) as batch_op:
        batch_op.create_index("ix_scan_finding_alert", ["alert_state"], unique=False)
        batch_op.create_index("ix_scan_finding_alert_ts", ["alert_ts"], unique=False)
        batch_op.create_index(
            "ix_scan_finding_live_scope",
            ["kind", "scope"],
            unique=False,
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )
        batch_op.create_index(
            "ux_scan_finding_live",
            ["fingerprint"],
            unique=True,
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )

    op.create_table(
        "scan_slot",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("job", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("slot", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("instance", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job", "slot", name="uq_scan_slot_job_slot"),
    )
    op.create_table(
        "scan_watermark",
        sa.Column("detector", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("positions", sa.JSON(), nullable=False),
        sa.Column("config", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("scanned_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("detector"),
    )


def downgrade() -> None:
    op.drop_table("scan_watermark")
    op.drop_table("scan_slot")
    with op.batch_alter_table("scan_finding", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_scan_finding_live",
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )
        batch_op.drop_index(
            "ix_scan_finding_live_scope",
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )
        batch_op.drop_index("ix_scan_finding_alert_ts")
        batch_op.drop_index("ix_scan_finding_alert")

    op.drop_table("scan_finding")
