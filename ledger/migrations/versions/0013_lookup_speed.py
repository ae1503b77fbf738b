"""Clients by id in any case from an index: `find_client` matches `lower(id)` beside the name, and without this
index that side of its OR read every client.

Revision ID: 0013_lookup_speed
Revises: 0012_slack_home
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_lookup_speed"
down_revision = "0012_slack_home"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_client_id_lower", "client", [sa.text("lower(id)")])


def downgrade() -> None:
    op.drop_index("ix_client_id_lower", table_name="client")
