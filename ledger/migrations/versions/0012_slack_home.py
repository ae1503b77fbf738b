"""Indexes for Slack's forms and home tab: client names by any part (typeahead), clients by unapplied credit,
QuickBooks sync by time.

- Client names by any part of them, as `find_client` matches: PostgreSQL's pg_trgm GIN index serves
  `name_key LIKE '%part%'`; SQLite's FTS5 trigram table `client_name_trigram` (kept by triggers on `client`) does the
  same. Both answer a three-letter part without reading every client. Names by their start: SQLite's unique index
  on name_key; PostgreSQL's `ix_client_name_prefix` on name_key COLLATE "C" (bytewise, as a range needs).
- `ix_client_unapplied`: the clients holding the most unapplied credit, read in order from the index.
- `ix_qb_txn_synced_at`: the QuickBooks connection's last sync, read from the end of the index.

Revision ID: 0012_slack_home
Revises: 0011_credit_operations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_slack_home"
down_revision = "0011_credit_operations"
branch_labels = None
depends_on = None

_SQLITE_TRIGRAM = [
    "CREATE VIRTUAL TABLE client_name_trigram USING fts5(name_key, client_id UNINDEXED, tokenize='trigram')",
    "INSERT INTO client_name_trigram (rowid, name_key, client_id) SELECT rowid, name_key, id FROM client",
    "CREATE TRIGGER client_name_trigram_insert AFTER INSERT ON client BEGIN "
    "INSERT INTO client_name_trigram (rowid, name_key, client_id) VALUES (new.rowid, new.name_key, new.id); END",
    "CREATE TRIGGER client_name_trigram_update AFTER UPDATE OF name_key, id ON client BEGIN "
    "UPDATE client_name_trigram SET name_key = new.name_key, client_id = new.id WHERE rowid = old.rowid; END",
    "CREATE TRIGGER client_name_trigram_delete AFTER DELETE ON client BEGIN "
    "DELETE FROM client_name_trigram WHERE rowid = old.rowid; END",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for sql in _SQLITE_TRIGRAM:
            op.execute(sql)
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_client_name_trgm ON client USING gin (name_key gin_trgm_ops)")
        op.execute('CREATE INDEX ix_client_name_prefix ON client ((name_key COLLATE "C"))')
    op.create_index("ix_client_unapplied", "client", [sa.text("(credits_issued_minor - credits_applied_minor)")])
    op.create_index("ix_qb_txn_synced_at", "qb_txn", ["synced_at"])


def downgrade() -> None:
    op.drop_index("ix_qb_txn_synced_at", table_name="qb_txn")
    op.drop_index("ix_client_unapplied", table_name="client")
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER client_name_trigram_{trigger}")
        op.execute("DROP TABLE client_name_trigram")
    else:
        op.execute("DROP INDEX ix_client_name_prefix")
        op.execute("DROP INDEX ix_client_name_trgm")
