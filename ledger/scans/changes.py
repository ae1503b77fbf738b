"""What changed in the ledger since a detector last read it, by monotonic ids.

Every ledger write leaves a new row with a new id: a payment (import, apply, QuickBooks sync), a reversal, a
credit, an invoice, or a `history` entry (every edit by a re-import and every operation). So "what changed" is
the rows above the watermark of each source table, and their invoices and clients are what to re-evaluate.
Reading them uses the primary keys only: the cost follows the number of changes, not the ledger's size.

Ids must be settled before a watermark may pass them: on PostgreSQL a transaction can take id 100, and commit
after another one took 101, so "max id seen" is not safe by itself. `settled_positions` takes a brief SHARE
lock (which waits for in-flight writers of those tables to finish) to read ids below which nothing can still
appear. If writers hold the tables longer than a moment (a big import), the scan proceeds without moving its
watermarks, and re-reads those changes next time: never a missed change, only repeated work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from ledger.db import Database
from ledger.scans.driver import Driver, Spelt

log = logging.getLogger(__name__)

SOURCES = ("payment", "reversal", "credit", "invoice", "history")
Positions = Mapping[str, int]

_LOCK_TIMEOUT = "100ms"  # below PostgreSQL's deadlock_timeout (1s): we give up before a writer could be hurt
_LOCK_ATTEMPTS = 3


MAX_IDS_SQL = "SELECT " + ", ".join(f"(SELECT COALESCE(MAX(id), 0) FROM {source})" for source in SOURCES)
_MAX_IDS = text(MAX_IDS_SQL)


def max_ids(connection: Connection | Session) -> dict[str, int]:
    """The highest id of every source table, in one round trip."""
    return positions_of(connection.execute(_MAX_IDS).one())


def positions_of(row: Sequence[Any]) -> dict[str, int]:
    """`MAX_IDS_SQL`'s row by source."""
    return {source: int(value) for source, value in zip(SOURCES, row, strict=True)}


def settled_positions(db: Database) -> dict[str, int] | None:
    """Ids at or below which every row is committed (or rolled back for good); None if not known right now.

    SQLite serializes writers and hands out ids in commit order, so its snapshot's max ids are settled; the
    caller reads them inside its snapshot. PostgreSQL needs the lock described in the module docstring.
    """
    if db.is_sqlite:
        return None
    for attempt in range(_LOCK_ATTEMPTS):
        try:
            with db.engine.connect() as connection, connection.begin():
                connection.execute(text(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"))
                connection.execute(text(f"LOCK TABLE {', '.join(SOURCES)} IN SHARE MODE"))
                return max_ids(connection)
        except DBAPIError as busy:  # lock timeout (busy writers) or no privilege to lock: fall back safely
            log.debug("scan watermarks not advanced this time (attempt %d): %s", attempt + 1, busy.orig)
            time.sleep(0.02 * (attempt + 1))
    return None


class Changes:
    """The invoices and clients that rows above a set of watermarks touch, read when a detector asks.

    Detectors whose watermarks agree (the usual case: they all stored together last time) share one read; the
    keys come back deduplicated by the database, so Python sees each changed invoice or client once.
    """

    def __init__(self, driver: Driver) -> None:
        self._driver = driver
        self._read: dict[tuple[tuple[str, int], ...], tuple[set[int], set[str]]] = {}

    def invoices_since(self, positions: Positions) -> set[int]:
        return self._keys_since(positions)[0]

    def clients_since(self, positions: Positions) -> set[str]:
        return self._keys_since(positions)[1]

    def _keys_since(self, positions: Positions) -> tuple[set[int], set[str]]:
        since = tuple((source, int(positions.get(source, 0))) for source in SOURCES)
        if since not in self._read:
            self._read[since] = _changed_keys(self._driver, dict(since))
        return self._read[since]


# Every source's rows above its watermark, in one statement, reduced to the distinct invoices and clients they
# touch: a thousand new payments on 250 invoices come back as a few hundred (invoice, client) pairs, each table's
# new rows read once. The keys are grouped as expressions (`+ 0`, `|| ''`) on purpose: grouped by the bare column,
# SQLite would walk that column's whole index in order instead of reading only the new rows by id and sorting them.
# A new or reversed payment changes its client's credit only when it is a credit application (else its client is
# NULL here); any other change to a client's credit (an edited kind or amount, a moved payment) is an edit, and
# every edit is in `history`. A re-import can move a payment to another invoice (or a credit to another client):
# the old one changed too, and its id is only in the edit's "before".
_WALLET_CLIENT = "CASE WHEN p.kind = 'AccountCredit' OR p.kind IS NULL THEN p.client_id || '' END"
# (source, its id, its rows, the invoice it touches, the client it touches)
_TOUCHES = (
    ("payment", "p.id", "payment p", "p.invoice_id + 0", _WALLET_CLIENT),
    ("reversal", "r.id", "reversal r JOIN payment p ON p.id = r.payment_id", "p.invoice_id + 0", _WALLET_CLIENT),
    ("credit", "c.id", "credit c", "CAST(NULL AS BIGINT)", "c.client_id || ''"),
    ("invoice", "i.id", "invoice i", "i.id + 0", "i.client_id || ''"),
    ("history", "h.id", "history h", "h.invoice_id + 0", "h.client_id || ''"),
)


def _moved_from(dialect: str, key: str, as_type: str) -> str:
    """The invoice or client an edit moved its row from, out of the entry's `before` JSON."""
    if dialect == "sqlite":
        return f"CAST(json_extract(h.before, '$.{key}') AS {as_type})"
    return f"CAST(h.before ->> '{key}' AS {as_type})"


def _changed_keys_sql(dialect: str) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    parts = [
        f"SELECT {invoice} AS invoice_id, {client} AS client_id FROM {rows} WHERE {row_id} > {mark} "
        f"GROUP BY {invoice}, {client}"
        for _source, row_id, rows, invoice, client in _TOUCHES
    ]
    moved = f"{_moved_from(dialect, 'invoice_id', 'BIGINT')}, {_moved_from(dialect, 'client_id', 'VARCHAR')}"
    parts.append(f"SELECT {moved} FROM history h WHERE h.id > {mark} AND h.before IS NOT NULL")
    return " UNION ".join(parts)


_CHANGED_KEYS = Spelt(_changed_keys_sql("sqlite"), _changed_keys_sql("postgresql"))
# The watermark each of its placeholders takes, in order.
_CHANGED_KEYS_SINCE = [source for source, *_ in _TOUCHES] + ["history"]


def _changed_keys(driver: Driver, since: dict[str, int]) -> tuple[set[int], set[str]]:
    """The distinct invoices and clients touched above `since`."""
    rows = driver.rows(_CHANGED_KEYS, [since[source] for source in _CHANGED_KEYS_SINCE])
    invoices = {int(invoice) for invoice, _ in rows if invoice is not None}
    clients = {str(client) for _, client in rows if client is not None}
    return invoices, clients
