"""Bulk inserts for the import and the sync: executemany of plain tuples, no per-row ORM work.

SQLAlchemy's Core insert builds parameters row by row through its compiler; for a million rows that costs more
than the database's own work. Here each column's bind processor (the conversion SQLAlchemy itself applies, e.g.
dates to text on SQLite) is looked up once and applied in a tight loop, and a caller that already holds values
in their bound form (the import's fast paths) skips even that. Columns missing from `bulk_insert`'s rows get their
scalar defaults; a column whose default is computed (a time, say) must be given by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, Table, literal, select
from sqlmodel import Session

_BATCH = 50_000
# Below this many rows, dropping and building the indexes again saves nothing measurable (2,000 payments into an
# empty ledger); at 5,000 it is a little faster, at 10,000 it saves a sixth of the payments' insert.
_REBUILD_MIN = 5_000

Converter = Callable[[Any], Any]
# (position, converter) of the columns whose values need converting, the others passed as they are.
Active = list[tuple[int, Converter]]


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

    def __init__(self, session: Session, table: Table, constants: Mapping[str, Any], expected_rows: int) -> None:
        self.table = table
        self._connection = session.connection()
        self._dialect = self._connection.dialect
        self._constants = dict(constants)
        self._expected = expected_rows
        self._fixed = tuple(_bound_constant(table.c[name], value, self._dialect) for name, value in constants.items())
        self._is_postgres = self._dialect.name == "postgresql"
        self._cursor: Any = None
        self.written = 0
        # What the driver raises when a row breaks a constraint (a repeated unique key, say).
        self.integrity_error: type[Exception] = self._dialect.dbapi.IntegrityError

    def __enter__(self) -> TableWriter:
        self._rebuild = _secondary_indexes_rebuilt(self._connection, self.table, self._expected)
        self._rebuild.__enter__()
        self._cursor = self._connection.connection.dbapi_connection.cursor()
        return self

    def __exit__(self, *failure: Any) -> None:
        self._cursor.close()
        self._rebuild.__exit__(*failure)

    def converter(self, column: str) -> Converter:
        """The conversion SQLAlchemy applies to a value of `column` before the driver sees it (or none)."""
        convert = self.table.c[column].type.dialect_impl(self._dialect).bind_processor(self._dialect)
        return convert if convert is not None else _unchanged

    def shape(self, columns: Sequence[str]) -> RowShape:
        """The statement for rows of `columns` (then the writer's constants), and how to bind their values."""
        quote = self._dialect.identifier_preparer.quote
        names = [*columns, *self._constants]
        listed = ", ".join(quote(name) for name in names)
        if self._is_postgres:
            statement = f"COPY {self.table.name} ({listed}) FROM STDIN"
        else:
            values = ["?"] * len(columns) + [_sql_literal(value) for value in self._fixed]
            statement = f"INSERT INTO {self.table.name} ({listed}) VALUES ({', '.join(values)})"
        converters = [self.table.c[name].type.dialect_impl(self._dialect).bind_processor(self._dialect)
                      for name in columns]  # fmt: skip
        active = [(position, _memoized(convert)) for position, convert in enumerate(converters) if convert]
        return RowShape(tuple(columns), statement, active)

    def holds(self, column: str, value: Any) -> bool:
        """Whether a row of the table (one written in this transaction, say) has `value` in `column`."""
        found = select(literal(1)).select_from(self.table).where(self.table.c[column] == value).limit(1)
        return self._connection.execute(found).first() is not None

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


def bulk_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows given as dicts of Python values, all with the same keys; missing columns get their defaults."""
    if not rows:
        return
    given = [column.name for column in table.columns if column.name in rows[0]]
    defaults = {column.name: _scalar_default(column) for column in table.columns if column.name not in rows[0]}
    constants = {name: value for name, value in defaults.items() if value is not None}
    # itemgetter of one key returns the value itself, of several a tuple: always make it a tuple.
    pick = itemgetter(*given) if len(given) > 1 else (lambda row: (row[given[0]],))
    with TableWriter(session, table, constants, len(rows)) as writer:
        shape = writer.shape(given)
        for start in range(0, len(rows), _BATCH):
            writer.write(shape, [shape.bound(pick(row)) for row in rows[start : start + _BATCH]])


@contextmanager
def _secondary_indexes_rebuilt(connection: Any, table: Table, adding: int) -> Iterator[None]:
    """SQLite, a load larger than the table: drop its plain indexes, insert, build them again (in the transaction).

    Building an index once from sorted keys is several times cheaper than updating it row by row in random order;
    on a small addition to a large table it is not, so only loads at least as large as the table do it. Unique
    indexes stay, so a duplicate is still refused by the row that brings it.
    """
    plain = [index for index in table.indexes if not index.unique]
    if connection.dialect.name != "sqlite" or adding < _REBUILD_MIN or not plain:
        yield
        return
    existing = connection.exec_driver_sql(f"SELECT count(*) FROM {table.name}").scalar_one()
    if adding < existing:
        yield
        return
    for index in plain:
        index.drop(connection)
    yield
    for index in plain:
        index.create(connection)


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


def _bound_constant(column: Column, value: Any, dialect: Any) -> Any:
    convert = column.type.dialect_impl(dialect).bind_processor(dialect)
    return value if value is None or convert is None else convert(value)


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


def _scalar_default(column: Column) -> Any:
    default = column.default
    if default is None:
        if not column.nullable and not column.primary_key:
            raise ValueError(f"bulk insert into {column.table.name} needs a value for {column.name}")
        return None
    if not default.is_scalar:  # type: ignore[attr-defined]
        raise ValueError(f"bulk insert into {column.table.name} needs a value for {column.name} (computed default)")
    return default.arg  # type: ignore[attr-defined]
