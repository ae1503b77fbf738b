"""Reading the import's CSV files: headers, rows, and typed fields, each error naming file, line and column.

The format is ../shared/docs/import-format.md. Unknown columns are an error, because a typo in a header must
not silently drop a column of data.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from ledger.errors import ImportRowError, InvalidAmount
from ledger.money import parse_amount


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
CREDITS = TableSpec("credits.csv", ("credit_id", "client_id", "amount", "issued_on"), ("reason",))
PAYMENTS = TableSpec(
    "payments.csv",
    ("payment_id", "invoice_number", "type", "amount", "received_on"),
    ("created_at", "updated_at", "project_id"),
)


# The ledger's column sizes (ledger/models.py): longer text is refused here, never cut or left to the database.
MAX_LENGTH = {"client_id": 64, "project_id": 64, "invoice_number": 64, "credit_id": 64, "payment_id": 64,
              "qb_customer_id": 64, "qb_invoice_id": 64, "name": 200, "currency": 3, "type": 16}  # fmt: skip

# Parsed dates by their text: a ledger has few distinct days and many rows.
_DAYS: dict[str, date] = {}


def known_day(text: str) -> date | None:
    """A date already parsed once in this process, or None (the caller then parses it with full checks)."""
    return _DAYS.get(text)


@dataclass(frozen=True)
class PaymentColumns:
    """Where payments.csv keeps each column, for the import's fast path over ordinary rows."""

    payment_id: int
    invoice_number: int
    type: int
    amount: int
    received_on: int
    optional: tuple[int, ...]

    @classmethod
    def of(cls, directory: Path) -> PaymentColumns | None:
        path = directory / PAYMENTS.file
        if not path.exists():
            return None
        with path.open(encoding="utf-8-sig", newline="") as handle:
            try:
                index = _header_index(PAYMENTS, next(csv.reader(handle), None))
            except (ImportRowError, UnicodeDecodeError, csv.Error):
                return None  # read_table reports it, with the file and line
        return cls(*(index[name] for name in PAYMENTS.required),
                   optional=tuple(index[name] for name in PAYMENTS.optional if name in index))  # fmt: skip


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
        day = _DAYS.get(text)
        if day is not None:
            return day
        if len(text) != 10 or text[4] != "-" or text[7] != "-":
            raise self.error(column, f"“{text}” is not a date in the form YYYY-MM-DD")
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise self.error(column, f"“{text}” is not a real date") from None
        if len(_DAYS) < 100_000:
            _DAYS[text] = day
        return day

    def _parse_time(self, column: str, text: str) -> datetime:
        if len(text) < 16 or text[10] not in "T ":
            raise self.error(column, f"“{text}” is not an ISO 8601 time such as 2026-10-05T14:30:00Z")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self.error(column, f"“{text}” is not an ISO 8601 time such as 2026-10-05T14:30:00Z") from None
        # No zone means UTC (the format says so).
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def read_table(directory: Path, spec: TableSpec) -> Iterator[Row]:
    """The rows of `spec.file` in `directory`; nothing when the file is absent."""
    path = directory / spec.file
    if not path.exists():
        return
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, strict=True)
            index = _header_index(spec, next(reader, None))
            width = len(index)
            for values in reader:
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue  # a blank line
                if len(values) != width:
                    raise ImportRowError(
                        spec.file, reader.line_num, None, f"the row has {len(values)} fields but the header has {width}"
                    )
                yield Row(spec, index, reader.line_num, values)
    except UnicodeDecodeError:
        raise ImportRowError(spec.file, None, None, "the file is not UTF-8 text") from None
    except csv.Error as broken:
        raise ImportRowError(spec.file, None, None, f"the file is not valid CSV ({broken})") from None


def count_rows(directory: Path, spec: TableSpec) -> int:
    """A quick line count for progress bars (an upper bound on the data rows)."""
    path = directory / spec.file
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


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
