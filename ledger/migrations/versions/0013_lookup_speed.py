"""Client lookup without reading every client:

- `ix_client_id_lower`: `find_client` matches `lower(id)` beside the name; without it that side of the OR read
  every client.
- `ix_client_name_trgm_gist` (PostgreSQL): the names nearest a name that matched none, in trigram distance, read
  in that order from the index (`closest_clients`). On lower(name), so that the planner never takes it for
  name_key's equality or LIKE. SQLite ranks candidates from its FTS5 trigram table instead.
- `ix_client_name_trgm` without GIN's pending list (fastupdate off): clients added in a batch waited there, unsorted,
  until a vacuum, and every lookup by a part of a name read all of them (at 100k new clients, 14 ms instead of
  0.6 ms). Client rows are few; each insert now goes into the index itself.

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
        op.execute("ALTER INDEX ix_client_name_trgm SET (fastupdate = off)")
        op.execute("SELECT gin_clean_pending_list('ix_client_name_trgm')")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("ALTER INDEX ix_client_name_trgm RESET (fastupdate)")
        op.execute("DROP INDEX ix_client_name_trgm_gist")
    op.drop_index("ix_client_id_lower", table_name="client")
