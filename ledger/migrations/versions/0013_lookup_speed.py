"""Client lookup without reading every client:

- `ix_client_id_lower`: `find_client` matches `lower(id)` beside the name; without it that side of the OR read
  every client.
- `ix_client_name_trgm_gist` (PostgreSQL): the names nearest a name that matched none, in trigram distance, read
  in that order from the index (`closest_clients`). On lower(name), so that the planner never takes it for
  name_key's equality or LIKE. SQLite ranks candidates from its FTS5 trigram table instead.

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
    if op.get_bind().dialect.name != "sqlite":
        op.execute("CREATE INDEX ix_client_name_trgm_gist ON client USING gist (lower(name) gist_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP INDEX ix_client_name_trgm_gist")
    op.drop_index("ix_client_id_lower", table_name="client")
