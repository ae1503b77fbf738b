"""Credits expiring soon without reading every credit entry:

- `ix_credit_expires_on`: the `credit_expiring` detector runs in every scan (it follows today's date, not changed
  ids) and picks the clients with a grant expiring within the warning window; without the index that range read
  every entry of the credit table (grants, refunds, expiries, transfers), each scan.

Revision ID: 0014_credit_expiry_index
Revises: 0013_lookup_speed
"""

from __future__ import annotations

from alembic import op

revision = "0014_credit_expiry_index"
down_revision = "0013_lookup_speed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_credit_expires_on", "credit", ["expires_on"])


def downgrade() -> None:
    op.drop_index("ix_credit_expires_on", table_name="credit")
