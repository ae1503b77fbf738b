"""What the import's fast paths (payments.py, invoices.py) share.

A fast path turns an ordinary row's text straight into an insert tuple, checking each distinct text once with the
general path's own rules and remembering the result in its stored form. It compares rows that already exist in
their stored form too, so a re-import of unchanged rows converts nothing. Anything else goes to the general path,
which also words the errors: a fast path never decides an error and never accepts what the general path refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, NoReturn

from ledger.bulk import RowShape, TableWriter
from ledger.csv_import import reader
from ledger.errors import ImportRowError
from ledger.unit import Unit, statement

# Rows held before an executemany (or COPY): enough to amortize the call, little enough memory (a batch of
# 50,000 payments held 7 MiB more at the import's peak than one of 10,000, for no time measured).
BATCH = 10_000
# Remembered texts per import: far more than a ledger's distinct days or types; amounts past this are parsed.
MEMO_LIMIT = 200_000
PROGRESS_EVERY = 10_000

# The general path for a row the fast path does not take: a new row's values by column, or None (a blank line,
# an unchanged or edited row). It raises the import's error for an invalid row.
Careful = Callable[[list[str]], dict[str, Any] | None]
Progress = Callable[[int], None]


def stored_rows(
    unit: Unit, table: str, key: str, columns: Sequence[str], only: Collection[str] | None = None
) -> dict[str, tuple[int, tuple]]:
    """A table's rows by `key`: (row id, the values of `columns` as the driver returns them); NULL keys left out.
    With `only`, just the rows with those keys (read by the key's unique index, a few hundred a statement)."""
    return {row[0]: (row[1], row[2:]) for row in keyed_rows(unit, table, key, columns, only)}


def keyed_rows(
    unit: Unit, table: str, key: str, columns: Sequence[str], only: Collection[str] | None = None
) -> Iterator[tuple]:
    """(key, id, *columns) of a table's rows, as `stored_rows` reads them, one at a time."""
    select = f"SELECT {key}, id, {', '.join(columns)} FROM {table} WHERE {key} IS NOT NULL"
    if only is None:
        yield from unit.each(statement(select))
        return
    keys = sorted(only)
    for start in range(0, len(keys), _KEYS_PER_READ):
        chunk = keys[start : start + _KEYS_PER_READ]
        yield from unit.rows(statement(f"{select} AND {key} IN ({', '.join('?' * len(chunk))})"), chunk)


_KEYS_PER_READ = 500


class BatchedLoad:
    """One pass over a CSV file, new rows written in file order in batches of one shape (plain or all columns).

    `plain` rows have only the columns an ordinary row fills; `all` rows, from the general path, every column
    (a NULL among them is bound, which is slower, so ordinary rows leave those columns out). The key (`key`
    in the file, the first column of both shapes in the table) is unique in the table. `existing` holds the
    table's rows by key, each compared in its stored form: all columns but the key, in `all` order.

    A key repeated in the file: `seen` holds the keys of existing rows and of the general path's rows, which
    the general path checks as it reads them. New ordinary rows are not remembered (a set of a million keys costs
    8% of the import at a million rows): the table's unique key refuses a repeat when its batch is written, and the
    error is found by reading the file again, so it names the same row as the general path would (`flush`,
    `refuse`).
    """

    def __init__(
        self,
        writer: TableWriter,
        plain: Sequence[str],
        every: Sequence[str],
        existing: dict[str, tuple[int, tuple]],
        table: reader.CsvTable,
        key: str,
    ) -> None:
        self.writer, self.existing, self.table, self.key = writer, existing, table, key
        self.plain, self.all = writer.shape(plain), writer.shape(every)
        self.seen: set[str] = set()
        self.unchanged = 0

    def stored_form(self, values: dict[str, Any]) -> tuple:
        """A row's values as the database keeps them, to compare with `existing`."""
        return self.all.bound(tuple(values[name] for name in self.all.columns))[1:]

    def flush(self, shape: RowShape, batch: list[tuple]) -> list[tuple]:
        """Write `batch` and start a new one; a key that repeats an earlier row's is the import's error."""
        try:
            self.writer.write(shape, batch)
        except self.writer.integrity_error:
            repeat = reader.first_repeat(self.table.directory, self.table.spec, self.key)
            if repeat is None:
                raise
            raise repeat from None
        return []

    def refuse(self, refused: ImportRowError, values: list[str], shape: RowShape, batch: list[tuple]) -> NoReturn:
        """Raise a row's error, unless an earlier repeated key comes first, as the general path would report it.

        The rows before it are written first (a repeat among them is the error), then the row's own key is checked
        against the new rows (the general path checks that before anything else in the row).
        """
        self.flush(shape, batch)
        key = values[self.table.index[self.key]].strip() if len(values) == self.table.width else ""
        # A key that cannot be stored (a control character, too long) is not in the database: its own error stands.
        storable = key.isprintable() and len(key) <= reader.MAX_LENGTH.get(self.key, len(key))
        if key and storable and key not in self.existing and self.writer.holds(self.plain.columns[0], key):
            first = reader.first_line(self.table.directory, self.table.spec, self.key, key)
            raise reader.repeated(self.table.spec, refused.line, self.key, key, first) from None
        raise refused

    def general(
        self, careful: Careful, values: list[str], shape: RowShape, batch: list[tuple]
    ) -> dict[str, Any] | None:
        """The general path for one row (`careful`), its error raised by `refuse`."""
        try:
            return careful(values)
        except ImportRowError as refused:
            self.refuse(refused, values, shape, batch)
