"""Reading the import's CSV files: headers, rows, and typed fields, each error naming file, line and column.

The format is ../shared/docs/import-format.md. Unknown columns are an error, because a typo in a header must
not silently drop a column of data.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

from ledger.errors import ImportRowError, InvalidAmount
from ledger.money import parse_amount
from ledger.text import control_character


@dataclass(frozen=True)
class TableSpec:
    file: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


CLIENTS = TableSpec("clients.csv", ("client_id", "name"), ("currency", "qb_customer_id"))
PROJECTS = TableSpec("projects.csv", ("project_id", "client_id", "name"))
INVOICES = TableSpec(
    "invoices.csv",
    ("invoice_number", "client_id", "issued_on", "total"),
    ("project_id", "posted_to_qb_at", "qb_invoice_id", "updated_at"),
)
CREDITS = TableSpec("credits.csv", ("credit_id", "client_id", "amount", "issued_on"), ("reason", "expires_on"))
PAYMENTS = TableSpec(
    "payments.csv",
    ("payment_id", "invoice_number", "type", "amount", "received_on"),
    ("created_at", "updated_at", "project_id"),
)


# The ledger's column sizes (ledger/tables.py): longer text is refused here, never cut or left to the database.
MAX_LENGTH = {"client_id": 64, "project_id": 64, "invoice_number": 64, "credit_id": 64, "payment_id": 64,
              "qb_customer_id": 64, "qb_invoice_id": 64, "name": 200, "currency": 3, "type": 16}  # fmt: skip

# Parsed dates by their text: a ledger has few distinct days and many rows.
_DAYS: dict[str, date] = {}


def parse_day(text: str) -> date:
    """A `YYYY-MM-DD` date; ValueError, saying what is wrong with it, otherwise."""
    day = _DAYS.get(text)
    if day is not None:
        return day
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise ValueError(f"“{text}” is not a date in the form YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"“{text}” is not a real date") from None
    if len(_DAYS) < 100_000:
        _DAYS[text] = day
    return day


class Row:
    """One data row: its line number and fields by column name ('' for an absent optional column)."""

    __slots__ = ("_index", "_spec", "line", "values")

    def __init__(self, spec: TableSpec, index: dict[str, int], line: int, values: list[str]) -> None:
        self._spec, self._index, self.line, self.values = spec, index, line, values

    def optional(self, column: str) -> str:
        position = self._index.get(column)
        return "" if position is None else self._fits(column, self.values[position].strip())

    def required(self, column: str) -> str:
        value = self.values[self._index[column]].strip()
        if not value:
            raise self.error(column, f"{column} is required but empty")
        return self._fits(column, value)

    def _fits(self, column: str, value: str) -> str:
        limit = MAX_LENGTH.get(column)
        if limit is not None and len(value) > limit:
            raise self.error(column, f"{column} is {len(value)} characters long; at most {limit} fit")
        control = control_character(value, free_text=column not in MAX_LENGTH)
        if control is not None:
            raise self.error(column, f"{column} contains a control character ({control}); remove it")
        return value

    def error(self, column: str | None, why: str) -> ImportRowError:
        return ImportRowError(self._spec.file, self.line, column, why)

    def amount(self, column: str, currency: str) -> int:
        text = self.required(column)
        try:
            return parse_amount(text, currency)
        except InvalidAmount as refused:
            raise self.error(column, refused.message.rstrip(".")) from None

    def day(self, column: str) -> date:
        return self._parse_day(column, self.required(column))

    def optional_time(self, column: str) -> datetime | None:
        text = self.optional(column)
        return self._parse_time(column, text) if text else None

    def _parse_day(self, column: str, text: str) -> date:
        try:
            return parse_day(text)
        except ValueError as refused:
            raise self.error(column, str(refused)) from None

    def _parse_time(self, column: str, text: str) -> datetime:
        if len(text) < 16 or text[10] not in "T ":
            raise self.error(column, f"“{text}” is not an ISO 8601 time such as 2026-10-05T14:30:00Z")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self.error(column, f"“{text}” is not an ISO 8601 time such as 2026-10-05T14:30:00Z") from None
        # No zone means UTC (the format says so).
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class CsvTable:
    """One open CSV file: its header's column positions and its data rows as raw lists of text.

    `rows` is the csv reader itself, for the import's fast paths; it also yields blank lines and rows of the wrong
    width, which `checked` skips or refuses. `rows.line_num` is the line of the row last read.
    """

    def __init__(self, spec: TableSpec, handle: TextIO, directory: Path) -> None:
        self.spec, self.directory = spec, directory
        self.rows = csv.reader(handle, strict=True)
        self.index = _header_index(spec, next(self.rows, None))
        self.width = len(self.index)

    def checked(self, values: list[str]) -> bool:
        """False for a blank line (skipped); an error for a row whose width differs from the header's."""
        if not values or (len(values) == 1 and not values[0].strip()):
            return False
        if len(values) != self.width:
            raise ImportRowError(
                self.spec.file, self.rows.line_num, None,
                f"the row has {len(values)} fields but the header has {self.width}",
            )  # fmt: skip
        return True

    def row(self, values: list[str]) -> Row:
        """The row last read, for reading by column name."""
        return Row(self.spec, self.index, self.rows.line_num, values)


@contextmanager
def open_table(directory: Path, spec: TableSpec) -> Iterator[CsvTable | None]:
    """`spec.file` in `directory`, open for reading (None when absent); errors of encoding and quoting name the file."""
    path = directory / spec.file
    if not path.exists():
        yield None
        return
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            yield CsvTable(spec, handle, directory)
    except UnicodeDecodeError:
        raise ImportRowError(spec.file, None, None, "the file is not UTF-8 text") from None
    except csv.Error as broken:
        raise ImportRowError(spec.file, None, None, f"the file is not valid CSV ({broken})") from None


def read_table(directory: Path, spec: TableSpec) -> Iterator[Row]:
    """The rows of `spec.file` in `directory`; nothing when the file is absent."""
    with open_table(directory, spec) as table:
        if table is None:
            return
        for values in table.rows:
            if table.checked(values):
                yield table.row(values)


def repeated(spec: TableSpec, line: int | None, column: str, value: str, first: int | None) -> ImportRowError:
    """The error for a row whose id (in `column`) an earlier row, on line `first`, already has."""
    return ImportRowError(spec.file, line, column, f"“{value}” appears twice (also on line {first})")


def first_repeat(directory: Path, spec: TableSpec, column: str) -> ImportRowError | None:
    """The error for the first row whose `column` repeats an earlier row's, reading the file again; None if none."""
    lines: dict[str, int] = {}
    with open_table(directory, spec) as table:
        if table is None:
            return None
        position = table.index[column]
        for values in table.rows:
            if not table.checked(values):
                continue
            value = values[position].strip()
            if value in lines:
                return repeated(spec, table.rows.line_num, column, value, lines[value])
            lines[value] = table.rows.line_num
    return None


def first_line(directory: Path, spec: TableSpec, column: str, value: str) -> int | None:
    """The line of the first row whose `column` holds `value`, for an error about a later row holding it too."""
    with open_table(directory, spec) as table:
        if table is None:
            return None
        position = table.index[column]
        for values in table.rows:
            if table.checked(values) and values[position].strip() == value:
                return table.rows.line_num
    return None


def column_values(directory: Path, spec: TableSpec, column: str) -> set[str]:
    """The distinct (stripped) values of one column: the keys a small file refers to, read in one pass."""
    with open_table(directory, spec) as table:
        if table is None or column not in table.index:
            return set()
        position, width = table.index[column], table.width
        return {values[position].strip() for values in table.rows if len(values) == width}


def count_rows(directory: Path, spec: TableSpec) -> int:
    """A quick line count (an upper bound on the data rows), for progress bars and for sizing a load."""
    path = directory / spec.file
    if not path.exists():
        return 0
    lines, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return max(lines + (last != b"\n") - 1, 0)


def _header_index(spec: TableSpec, header: list[str] | None) -> dict[str, int]:
    if not header:
        raise ImportRowError(spec.file, 1, None, "the file is empty; it needs a header row")
    names = [name.strip() for name in header]
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        if name not in spec.columns:
            raise ImportRowError(
                spec.file, 1, name, f"unknown column “{name}” (expected columns: {', '.join(spec.columns)})"
            )
        if name in index:
            raise ImportRowError(spec.file, 1, name, f"the column “{name}” appears twice")
        index[name] = position
    missing = [name for name in spec.required if name not in index]
    if missing:
        raise ImportRowError(spec.file, 1, None, f"missing required column(s): {', '.join(missing)}")
    return index
