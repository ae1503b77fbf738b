"""Bulk inserts for the import and the sync: one executemany of plain tuples, no per-row ORM work.

SQLAlchemy's Core insert builds parameters row by row through its compiler; for a million rows that costs more
than the database's own work. Here each column's bind processor (the conversion SQLAlchemy itself applies, e.g.
dates to text on SQLite) is looked up once and applied in a tight loop. Columns missing from the rows get their
scalar defaults; a column whose default is computed (a time, say) must be given by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, Table
from sqlmodel import Session

_BATCH = 50_000
_REBUILD_MIN = 50_000

Converter = Callable[[Any], Any] | None
# (position, converter) of the columns whose values need converting, the others passed as they are.
Active = list[tuple[int, Callable[[Any], Any]]]
# Takes a row's values out of its dict, in column order.
Pick = Callable[[dict[str, Any]], Any]


def bulk_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    given = [column for column in table.columns if column.name in rows[0]]
    defaults = {column.name: _scalar_default(column) for column in table.columns if column.name not in rows[0]}
    defaulted = [column for column in table.columns if defaults.get(column.name) is not None]
    columns = given + defaulted
    converters = [_memoized(column.type.dialect_impl(dialect).bind_processor(dialect)) for column in columns]
    active = [(position, convert) for position, convert in enumerate(converters) if convert is not None]
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(dialect.identifier_preparer.quote(column.name) for column in columns)
    statement = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join(mark for _ in columns)})"
    # itemgetter of one key returns the value itself, of several a tuple: always make it a tuple.
    keys = [column.name for column in given]
    pick = itemgetter(*keys) if len(keys) > 1 else (lambda row: (row[keys[0]],))
    fixed = tuple(defaults[column.name] for column in defaulted)
    if dialect.name == "postgresql":
        _copy_rows(connection, table, names, rows, pick, fixed, active)
        return
    with _secondary_indexes_rebuilt(connection, table, len(rows)):
        for start in range(0, len(rows), _BATCH):
            batch = [_as_tuple(row, pick, fixed, active) for row in rows[start : start + _BATCH]]
            connection.exec_driver_sql(statement, batch)  # type: ignore[arg-type]


@contextmanager
def _secondary_indexes_rebuilt(connection: Any, table: Table, adding: int) -> Iterator[None]:
    """SQLite, a load larger than the table: drop its plain indexes, insert, build them again (in the transaction).

    Building an index once from sorted keys is several times cheaper than updating it row by row in random order;
    on a small addition to a large table it is not, so only loads at least as large as the table do it. Unique
    indexes stay, so a duplicate is still refused by the row that brings it.
    """
    plain = [index for index in table.indexes if not index.unique]
    if adding < _REBUILD_MIN or not plain:
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


def _copy_rows(
    connection: Any,
    table: Table,
    names: str,
    rows: Sequence[dict[str, Any]],
    pick: Pick,
    fixed: tuple[Any, ...],
    active: Active,
) -> None:
    """PostgreSQL: COPY FROM STDIN, which is many times faster than row-by-row INSERTs for a large import."""
    cursor = connection.connection.dbapi_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(_as_tuple(row, pick, fixed, active))


def _as_tuple(
    row: dict[str, Any], pick: Callable[[dict[str, Any]], Any], fixed: tuple[Any, ...], active: Active
) -> tuple:
    values = list(pick(row))
    values.extend(fixed)
    for position, convert in active:
        value = values[position]
        if value is not None:
            values[position] = convert(value)
    return tuple(values)


def _memoized(convert: Converter) -> Converter:
    """Dates and times repeat a lot in a ledger (a day's payments share their date): convert each value once."""
    if convert is None:
        return None
    seen: dict[Any, Any] = {}

    def converted(value: Any) -> Any:
        if not isinstance(value, date):  # JSON documents and the like are not worth remembering
            return convert(value)
        result = seen.get(value)
        if result is None:
            result = seen[value] = convert(value)
        return result

    return converted


def _scalar_default(column: Column) -> Any:
    default = column.default
    if default is None:
        if not column.nullable and not column.primary_key:
            raise ValueError(f"bulk insert into {column.table.name} needs a value for {column.name}")
        return None
    if not default.is_scalar:  # type: ignore[attr-defined]
        raise ValueError(f"bulk insert into {column.table.name} needs a value for {column.name} (computed default)")
    return default.arg  # type: ignore[attr-defined]
