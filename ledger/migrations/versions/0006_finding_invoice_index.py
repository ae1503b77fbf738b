"""Index the open findings by invoice number (every balance and invoice reply asks for them).

Revision ID: 0006_finding_invoice_index
Revises: 0005_merge_features
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_finding_invoice_index"
down_revision = "0005_merge_features"
branch_labels = None
depends_on = None

_LIVE = sa.text("closed_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_scan_finding_live_invoice",
        "scan_finding",
        ["invoice_number"],
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_scan_finding_live_invoice", table_name="scan_finding")
