"""Bulk inserts for the import and the sync: one executemany of plain tuples, no per-row ORM work.

SQLAlchemy's Core insert builds parameters row by row through its compiler; for a million rows that costs more
than the database's own work. Here each column's bind processor (the conversion SQLAlchemy itself applies, e.g.
dates to text on SQLite) is looked up once and applied in a tight loop. Columns missing from the rows get their
scalar defaults; a column whose default is computed (a time, say) must be given by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Column, Table
from sqlmodel import Session

_BATCH = 50_000

Converter = Callable[[Any], Any] | None
# (position, converter) of the columns whose values need converting, the others passed as they are.
Active = list[tuple[int, Callable[[Any], Any]]]


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
    keys = [column.name for column in given]
    fixed = tuple(defaults[column.name] for column in defaulted)
    if dialect.name == "postgresql":
        _copy_rows(connection, table, names, rows, keys, fixed, active)
        return
    for start in range(0, len(rows), _BATCH):
        batch = [_as_tuple(row, keys, fixed, active) for row in rows[start : start + _BATCH]]
        connection.exec_driver_sql(statement, batch)  # type: ignore[arg-type]


def _copy_rows(
    connection: Any,
    table: Table,
    names: str,
    rows: Sequence[dict[str, Any]],
    keys: list[str],
    fixed: tuple[Any, ...],
    active: Active,
) -> None:
    """PostgreSQL: COPY FROM STDIN, which is many times faster than row-by-row INSERTs for a large import."""
    cursor = connection.connection.dbapi_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(_as_tuple(row, keys, fixed, active))


def _as_tuple(row: dict[str, Any], keys: list[str], fixed: tuple[Any, ...], active: Active) -> tuple:
    values = [row[key] for key in keys]
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
