"""Writes issued straight through the database driver, for the ledger's hottest write (applying credit).

Through a SQLAlchemy Session every statement costs about 0.1 ms of Python bookkeeping (execution context, events,
result metadata), and the Session its own setup and teardown: for a write of eight short statements that is
several times SQLite's own work. A `DriverWrite` runs plain SQL on the pooled driver connection in one short
transaction (`Database.driver_write`), and converts the few values that are not plain (aware times, dates, JSON)
the way SQLAlchemy stores them, so what it writes reads back the same through the ORM.

The hottest read (a client's balance, for `/credit balance`) runs the same way (`Database.driver_read`): a
`DriverRead` converts what it reads back into the values the ORM would have returned (aware times, dates).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any


@dataclass(frozen=True)
class Statement:
    """One SQL statement, spelled for each database."""

    sqlite: str
    postgresql: str


def statement(sql: str, row_lock: str = "") -> Statement:
    """`sql` with `?` for its parameters; `row_lock` is the locking clause PostgreSQL appends.

    SQLite needs no row locks: a driver write begins IMMEDIATE, so it holds the database's write lock throughout.
    """
    return Statement(sql, sql.replace("?", "%s") + (f" {row_lock}" if row_lock else ""))


class DriverRead:
    """A driver cursor inside one transaction, with the conversions of read values SQLAlchemy would have made."""

    def __init__(self, cursor: Any, is_sqlite: bool) -> None:
        self._cursor = cursor
        self.is_sqlite = is_sqlite

    def execute(self, sql: Statement, params: Sequence[Any]) -> None:
        self._cursor.execute(sql.sqlite if self.is_sqlite else sql.postgresql, params)

    def row(self, sql: Statement, params: Sequence[Any]) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        self.execute(sql, params)
        return self._cursor.fetchone()

    def one(self, sql: Statement, params: Sequence[Any]) -> tuple[Any, ...]:
        """The row a statement must return (a locked row by id, an insert's RETURNING)."""
        row = self.row(sql, params)
        if row is None:
            raise LookupError(f"no row from {sql.sqlite!r}")
        return row

    def column(self, sql: Statement, params: Sequence[Any]) -> list[Any]:
        """The first column of every row of a query."""
        self.execute(sql, params)
        return [row[0] for row in self._cursor.fetchall()]

    def rows(self, sql: Statement, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        self.execute(sql, params)
        return self._cursor.fetchall()

    # --- values out -----------------------------------------------------------------------------------

    def read_json(self, value: Any) -> Any:
        """SQLite returns JSON columns as text; psycopg has already parsed them."""
        return json.loads(value) if isinstance(value, str) else value

    def read_time(self, value: Any) -> datetime | None:
        """An aware UTC time, from SQLite's text (stored without an offset, as UTC) or PostgreSQL's timestamptz."""
        if value is None:
            return None
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment.astimezone(UTC)

    def read_day(self, value: Any) -> date:
        """A date, from SQLite's ISO text or PostgreSQL's date."""
        return date.fromisoformat(value) if isinstance(value, str) else value


class DriverWrite(DriverRead):
    """A driver cursor inside one write transaction, with the value conversions SQLAlchemy would have made."""

    # --- values in ------------------------------------------------------------------------------------

    def time(self, value: datetime) -> Any:
        """An aware time: on SQLite UTC text in SQLAlchemy's format (microseconds always), else the value."""
        if not self.is_sqlite:
            return value
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def day(self, value: date) -> Any:
        return value.isoformat() if self.is_sqlite else value

    def json(self, value: Any) -> str | None:
        """JSON text; PostgreSQL casts the untyped parameter to the column's json type."""
        return None if value is None else json.dumps(value)
