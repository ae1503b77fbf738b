"""Join the scans, QuickBooks sync and approvals branches into one line of history.

Revision ID: 0005_merge_features
Revises: 0002_scans, 0003_qb_sync, 0004_approvals
"""

from __future__ import annotations

revision = "0005_merge_features"
down_revision = ("0002_scans", "0003_qb_sync", "0004_approvals")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
