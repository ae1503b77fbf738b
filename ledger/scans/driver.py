"""A scan's statements on the driver's cursor, inside the Session's transaction.

Through SQLAlchemy each statement costs its execution context, result metadata and per-value processing: for the
short, scoped statements of an incremental scan, several times the database's own work. So the scan runs plain SQL
on the same connection (and so the same transaction) instead, and stores values as SQLAlchemy stores them (on
SQLite: UTC times as text, JSON as text), so the ORM reads them back the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from ledger.unit import Statement, list_parameter, stored_time

# A statement spelt for each database (the unit's `Statement`), see `spelt`.
Spelt = Statement


def spelt(sqlite: str) -> Spelt:
    """SQLite's statement (`?` parameters, lists through `json_each(?)`, `? /* json */` for a JSON value) and the
    same for psycopg (`%s`, `= ANY(%s)`, `CAST(%s AS JSON)`)."""
    postgresql = sqlite.replace("IN (SELECT value FROM json_each(?))", "= ANY(%s)").replace("?", "%s")
    return Statement(sqlite, postgresql.replace("%s /* json */", "CAST(%s AS JSON)"))


class Driver:
    """The session's connection's cursor, with the conversions a scan's values need."""

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        self.sqlite = connection.dialect.name == "sqlite"
        self._cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def rows(self, statement: Spelt, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(statement.sqlite if self.sqlite else statement.postgresql, params)
        return self._cursor.fetchall()

    def named_rows(self, sql: str, params: Mapping[str, Any]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        """`sql`, spelt for this driver with named parameters: its column names, and its rows."""
        self._cursor.execute(sql, params)
        return tuple(column[0] for column in self._cursor.description), self._cursor.fetchall()

    def executemany(self, statement: Spelt, rows: Sequence[Sequence[Any]]) -> int:
        """Run `statement` once per row; how many rows it changed in all (both drivers sum them)."""
        self._cursor.executemany(statement.sqlite if self.sqlite else statement.postgresql, rows)
        return self._cursor.rowcount

    def listed(self, values: Sequence[Any]) -> Any:
        """A list as one parameter (`IN (SELECT value FROM json_each(?))`, or `= ANY(%s)`)."""
        return list_parameter(values, self.sqlite)

    def time(self, value: datetime) -> Any:
        """An aware time as SQLAlchemy stores it (SQLite: UTC text with microseconds)."""
        return stored_time(value, self.sqlite)

    @staticmethod
    def json(value: Any) -> str:
        return json.dumps(value)
