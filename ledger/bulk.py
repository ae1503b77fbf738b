"""Bulk inserts for the import: executemany of plain tuples (PostgreSQL: COPY), no per-row ORM work.

Everything runs on a unit of work's driver connection (ledger/unit.py), so an import of a SQLite file runs on a plain
unit without SQLAlchemy (issue 14). Values are bound as the units bind them, the way SQLAlchemy stores them: on
SQLite dates as ISO text and times as UTC text with microseconds; psycopg takes both as they are. A caller that
already holds values in their bound form (the import's fast paths) skips even that. Columns missing from
`bulk_insert`'s rows are NULL, or the table's default: the caller gives the others as constants.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

from ledger.unit import Unit, statement

_BATCH = 50_000
# Below this many rows, dropping and building the indexes again saves nothing measurable (2,000 payments into an
# empty ledger); at 5,000 it is a little faster, at 10,000 it saves a sixth of the payments' insert.
_REBUILD_MIN = 5_000
# A table's plain indexes, as SQLite keeps them (the unique ones and those of UNIQUE constraints are left alone).
_PLAIN_INDEXES = statement(
    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql LIKE 'CREATE INDEX %'"
)

Converter = Callable[[Any], Any]
# (position, converter) of the columns whose values need converting, the others passed as they are.
Active = list[tuple[int, Converter]]


def sqlite_value(value: Any) -> Any:
    """A Python value as SQLite stores it through SQLAlchemy: a date as ISO text, a time as UTC text with
    microseconds (a time without a zone is UTC already: SQLite keeps none), anything else as it is."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(" ", "microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def binder(unit: Unit) -> Converter:
    """How `unit` binds a Python value (see `sqlite_value`; psycopg takes dates and times as they are)."""
    return sqlite_value if unit.is_sqlite else _unchanged


@dataclass(frozen=True)
class RowShape:
    """One INSERT (or COPY) for tuples of `columns`, in that order; the writer adds its constant columns."""

    columns: tuple[str, ...]
    statement: str
    active: Active

    def bound(self, values: Sequence[Any]) -> tuple:
        """Python values (dates, aware times) as the driver takes them, the way SQLAlchemy would bind them."""
        row = list(values)
        for position, convert in self.active:
            value = row[position]
            if value is not None:
                row[position] = convert(value)
        return tuple(row)


class TableWriter:
    """Writes tuples into one table in batches: SQLite executemany, PostgreSQL COPY.

    Binding parameters is a large part of pysqlite's executemany for short rows, so constant columns (the same
    value on every row, e.g. `created_by`) are written into the SQLite statement as literals instead, and callers
    leave columns that are NULL on most rows out of their common shape: pysqlite looks every bound `None` up in
    its adapter registry (two NULLs cost a quarter of a payment's insert). Use as a context manager, saying how
    many rows will come (an upper bound is fine): a load at least as large as the table drops the table's plain
    indexes and builds them again at the end (see `_secondary_indexes_rebuilt`).
    """

    def __init__(self, unit: Unit, table: str, constants: Mapping[str, Any], expected_rows: int) -> None:
        self.unit, self.table = unit, table
        self._constants = dict(constants)
        self._expected = expected_rows
        # How a value is bound for the driver (the fast paths convert each distinct date once with it).
        self.bind = binder(unit)
        self._fixed = tuple(self.bind(value) for value in constants.values())
        self._is_postgres = not unit.is_sqlite
        self._cursor: Any = None
        self.written = 0
        # What the driver raises when a row breaks a constraint (a repeated unique key, say).
        self.integrity_error: type[Exception] = sqlite3.IntegrityError if unit.is_sqlite else _psycopg_integrity()

    def __enter__(self) -> TableWriter:
        self._rebuild = _secondary_indexes_rebuilt(self.unit, self.table, self._expected)
        self._rebuild.__enter__()
        self._cursor = self.unit.cursor()
        return self

    def __exit__(self, *failure: Any) -> None:
        self._cursor.close()
        self._rebuild.__exit__(*failure)

    def shape(self, columns: Sequence[str]) -> RowShape:
        """The statement for rows of `columns` (then the writer's constants), and how to bind their values."""
        listed = ", ".join([*columns, *self._constants])
        if self._is_postgres:
            statement = f"COPY {self.table} ({listed}) FROM STDIN"
            active: Active = []
        else:
            values = ["?"] * len(columns) + [_sql_literal(value) for value in self._fixed]
            statement = f"INSERT INTO {self.table} ({listed}) VALUES ({', '.join(values)})"
            # Which column holds a date or a time is seen from the values: each position converts its own, once
            # for each distinct date.
            active = [(position, _memoized(sqlite_value)) for position in range(len(columns))]
        return RowShape(tuple(columns), statement, active)

    def holds(self, column: str, value: Any) -> bool:
        """Whether a row of the table (one written in this transaction, say) has `value` in `column`."""
        found = statement(f"SELECT 1 FROM {self.table} WHERE {column} = ? LIMIT 1")
        return self.unit.row(found, (value,)) is not None

    def write(self, shape: RowShape, rows: Sequence[tuple]) -> None:
        """Insert `rows`, already in their bound form (`RowShape.bound`), in the order given."""
        if not rows:
            return
        if self._is_postgres:
            with self._cursor.copy(shape.statement) as copy:
                for row in rows:
                    copy.write_row(row + self._fixed)
        else:
            self._cursor.executemany(shape.statement, rows)
        self.written += len(rows)


def bulk_insert(unit: Unit, table: str, rows: Sequence[dict[str, Any]], constants: Mapping[str, Any]) -> None:
    """Insert rows given as dicts of Python values, all with the same keys, and `constants` on every row; columns
    in neither are NULL or the table's default."""
    if not rows:
        return
    given = list(rows[0])
    # itemgetter of one key returns the value itself, of several a tuple: always make it a tuple.
    pick = itemgetter(*given) if len(given) > 1 else (lambda row: (row[given[0]],))
    with TableWriter(unit, table, constants, len(rows)) as writer:
        shape = writer.shape(given)
        for start in range(0, len(rows), _BATCH):
            writer.write(shape, [shape.bound(pick(row)) for row in rows[start : start + _BATCH]])


@contextmanager
def _secondary_indexes_rebuilt(unit: Unit, table: str, adding: int) -> Iterator[None]:
    """SQLite, a load larger than the table: drop its plain indexes, insert, build them again (in the transaction).

    Building an index once from sorted keys is several times cheaper than updating it row by row in random order;
    on a small addition to a large table it is not, so only loads at least as large as the table do it. Unique
    indexes stay, so a duplicate is still refused by the row that brings it. The indexes are built again from
    SQLite's own text of them.
    """
    if not unit.is_sqlite or adding < _REBUILD_MIN:
        yield
        return
    plain = unit.rows(_PLAIN_INDEXES, (table,))
    if not plain or adding < unit.one(statement(f"SELECT count(*) FROM {table}"))[0]:
        yield
        return
    for name, _sql in plain:
        unit.execute(statement(f"DROP INDEX {name}"))
    yield
    for _name, sql in plain:
        unit.execute(statement(sql))


def _unchanged(value: Any) -> Any:
    return value


def _memoized(convert: Converter) -> Converter:
    """Dates and times repeat a lot in a ledger (a day's payments share their date): convert each value once."""
    seen: dict[Any, Any] = {}

    def converted(value: Any) -> Any:
        if not isinstance(value, date):  # JSON documents and the like are not worth remembering
            return convert(value)
        result = seen.get(value)
        if result is None:
            result = seen[value] = convert(value)
        return result

    return converted


def _sql_literal(value: Any) -> str:
    """A constant written into the SQLite statement: only the plain types whose literal form is unambiguous."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for a constant {type(value).__name__}")


def _psycopg_integrity() -> type[Exception]:
    import psycopg

    return psycopg.IntegrityError
