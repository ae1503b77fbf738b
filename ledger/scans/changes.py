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
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, bindparam, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from ledger.db import Database
from ledger.tables import HistoryEntry

log = logging.getLogger(__name__)

SOURCES = ("payment", "reversal", "credit", "invoice", "history")
Positions = Mapping[str, int]

_LOCK_TIMEOUT = "100ms"  # below PostgreSQL's deadlock_timeout (1s): we give up before a writer could be hurt
_LOCK_ATTEMPTS = 3


def max_ids(connection: Connection | Session) -> dict[str, int]:
    """The highest id of every source table, in one round trip."""
    highest = ", ".join(f"(SELECT COALESCE(MAX(id), 0) FROM {source})" for source in SOURCES)
    row = connection.execute(text(f"SELECT {highest}")).one()
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


@dataclass
class Changes:
    """Rows above the watermarks, reduced to the invoices and clients they touch, tagged with (source, id)."""

    invoices: list[tuple[str, int, int]] = field(default_factory=list)  # (source, row id, invoice id)
    clients: list[tuple[str, int, str]] = field(default_factory=list)  # (source, row id, client id)

    def invoices_since(self, positions: Positions) -> set[int]:
        return {invoice for source, row, invoice in self.invoices if row > positions.get(source, 0)}

    def clients_since(self, positions: Positions) -> set[str]:
        return {client for source, row, client in self.clients if row > positions.get(source, 0)}


# Every source's rows above its watermark, in one statement, reduced to what `Changes` asks of them: for each
# invoice (or client) a source touched, the highest id that touched it ("touched above a watermark" is "the
# highest id is above it"). So a thousand new payments on 250 invoices come back as 250 rows, not a thousand.
# The keys are grouped as expressions (`+ 0`, `|| ''`) on purpose: grouped by the bare column, SQLite would
# walk that column's whole index in order instead of reading only the new rows by id and sorting them.
# A new or reversed payment changes its client's credit only when it is a credit application; any other change
# to a client's credit (an edited kind or amount, a moved payment) is an edit, and every edit is in `history`.
_WALLET = " AND (p.kind = 'AccountCredit' OR p.kind IS NULL)"
_REVERSED = "reversal r JOIN payment p ON p.id = r.payment_id"
_NO_INVOICE, _NO_CLIENT = "CAST(NULL AS BIGINT)", "CAST(NULL AS VARCHAR)"
# (source, its id, its rows, the invoice or the client it touches, condition)
_TOUCHES = (
    ("payment", "p.id", "payment p", "p.invoice_id + 0", None, ""),
    ("payment", "p.id", "payment p", None, "p.client_id || ''", _WALLET),
    ("reversal", "r.id", _REVERSED, "p.invoice_id + 0", None, ""),
    ("reversal", "r.id", _REVERSED, None, "p.client_id || ''", _WALLET),
    ("credit", "c.id", "credit c", None, "c.client_id || ''", ""),
    ("invoice", "i.id", "invoice i", "i.id + 0", None, ""),
    ("invoice", "i.id", "invoice i", None, "i.client_id || ''", ""),
)
_CHANGED_KEYS = text(
    " UNION ALL ".join(
        f"SELECT '{source}', MAX({row_id}), {invoice or _NO_INVOICE}, {client or _NO_CLIENT} FROM {rows} "
        f"WHERE {row_id} > :{source}{only} GROUP BY {invoice or client}"
        for source, row_id, rows, invoice, client, only in _TOUCHES
    )
)
_HISTORY = select(HistoryEntry.id, HistoryEntry.invoice_id, HistoryEntry.client_id, HistoryEntry.before).where(
    HistoryEntry.id > bindparam("since")  # type: ignore[operator]
)


def load_changes(session: Session, since: Positions) -> Changes:
    """Everything above `since` (the lowest watermark of any detector, per source)."""
    changes = Changes()
    connection = session.connection()
    for source, row_id, invoice_id, client_id in connection.execute(_CHANGED_KEYS, dict(since)):
        _add(changes, source, row_id, invoice_id, client_id)
    for row_id, invoice_id, client_id, before in connection.execute(_HISTORY, {"since": since["history"]}):
        # A re-import can move a payment to another invoice (or a credit to another client): the old one
        # changed too, and its id is only in the edit's "before".
        moved_from = before if isinstance(before, dict) else {}
        _add(changes, "history", row_id, invoice_id, client_id)
        _add(changes, "history", row_id, moved_from.get("invoice_id"), moved_from.get("client_id"))
    return changes


def _add(changes: Changes, source: str, row_id: int, invoice_id: int | None, client_id: str | None) -> None:
    if invoice_id is not None:
        changes.invoices.append((source, int(row_id), int(invoice_id)))
    if client_id is not None:
        changes.clients.append((source, int(row_id), str(client_id)))
