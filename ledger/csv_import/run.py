"""One import in progress: what every file's module shares (the unit of work, the summary, edits and history).

Each file has its module (clients.py, projects.py, invoices.py, credits.py, payments.py) with its fast and its
careful path; they read and write through an `ImportRun`, and loader.py orders them in one transaction.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ledger.bulk import TableWriter, binder, bulk_insert
from ledger.csv_import import reader
from ledger.csv_import.batches import BatchedLoad, keyed_rows, stored_rows
from ledger.csv_import.reader import CsvTable, Row, TableSpec
from ledger.errors import InvalidCurrency
from ledger.history import REFUSED, Line
from ledger.kinds import PaymentKind
from ledger.money import decimal_str, normalize_currency
from ledger.unit import Unit, statement

# Who rows are created by: the import, whoever ran it (the history's import line names the person).
ACTOR = "import"

# Called with (file name, rows read so far, rows in the file) as the import reads.
Progress = Callable[[str, int, int], None]
# A small file's cheap compare (`ImportRun.rows`): (raw fields, line) -> whether the row is exactly as stored.
Unchanged = Callable[[list[str], int], bool]

_PROGRESS_EVERY = 10_000
_CLIENT_CURRENCIES = statement("SELECT id, currency FROM client")
_CLIENT_CURRENCY = statement("SELECT currency FROM client WHERE id = ?")
# Clients read one by one before the import reads them all (`ClientCurrencies`).
_READ_ALL_AFTER = 1_000
_PROJECT_CLIENTS = statement("SELECT id, client_id FROM project")
_LAST_IMPORT = statement("SELECT after FROM history WHERE action = 'import' ORDER BY id DESC LIMIT 1")
# A file under a quarter of its table's rows reads the rows of its own keys (`ImportRun.stored`).
_SMALL_FILE_RATIO = 4
_PG_COLUMNS = statement(
    "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? "
    "ORDER BY ordinal_position"
)


@dataclass
class FileSummary:
    created: int = 0
    edited: int = 0
    unchanged: int = 0
    conflicts: int = 0


@dataclass(frozen=True)
class Conflict:
    """A value of the export that contradicts one another source owns: reported and kept in the history, not applied."""

    file: str
    line: int
    subject: str
    column: str
    ledger: Any
    export: Any
    owner: str

    @property
    def message(self) -> str:
        return (
            f"{self.file} line {self.line}: {self.subject} {self.column} is {self.ledger!r} in the ledger "
            f"(set by {self.owner}) but {self.export!r} in the export; kept the ledger's value"
        )


@dataclass
class ImportSummary:
    files: dict[str, FileSummary] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)
    # QuickBooks changes an earlier sync could not match, applied now that the import brought what they refer to.
    quickbooks: Any = None

    def for_file(self, spec: TableSpec) -> FileSummary:
        return self.files.setdefault(spec.file, FileSummary())

    @property
    def changed(self) -> bool:
        return any(s.created or s.edited for s in self.files.values())

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {name: vars(summary) for name, summary in self.files.items()}
        if self.conflicts:
            shown["conflicts"] = [conflict.message for conflict in self.conflicts]
        if self.quickbooks is not None:
            shown["quickbooks"] = self.quickbooks.as_json()
        return shown


@dataclass(frozen=True)
class Edit:
    """One changed row: what to write, and what the history keeps."""

    key: Any
    values: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    at: datetime
    client_id: str | None
    invoice_id: int | None
    subject: str


class ClientCurrencies(dict[str, str]):
    """Client id -> currency, read by key as the rows name clients: a month's export names a few of a ledger's
    many. After `_READ_ALL_AFTER` clients asked (a first import names them all) the rest are read in one query.
    Lookups (`[]`, `get`, `in`) answer as a dict of every client would; iteration sees only those read so far."""

    def __init__(self, unit: Unit) -> None:
        super().__init__()
        self._unit = unit
        self._absent: set[str] = set()
        self._asked = 0
        self._all = False

    def _read(self, client_id: str) -> str | None:
        if self._all or client_id in self._absent:
            return None
        self._asked += 1
        if self._asked > _READ_ALL_AFTER:
            self._all = True
            self.update(self._unit.rows(_CLIENT_CURRENCIES))  # type: ignore[arg-type]
            return dict.get(self, client_id)
        row = self._unit.row(_CLIENT_CURRENCY, (client_id,))
        if row is None:
            self._absent.add(client_id)
            return None
        self[client_id] = row[0]
        return row[0]

    def __missing__(self, client_id: str) -> str:
        currency = self._read(client_id)
        if currency is None:
            raise KeyError(client_id)
        return currency

    def get(self, client_id: str, default: Any = None) -> Any:  # type: ignore[override]
        currency = dict.get(self, client_id)
        return currency if currency is not None else (self._read(client_id) or default)

    def __contains__(self, client_id: object) -> bool:
        return dict.__contains__(self, client_id) or (isinstance(client_id, str) and self._read(client_id) is not None)


@dataclass(frozen=True)
class References:
    """What rows may refer to: client id -> currency, project id -> client id (invoices: `ImportRun.invoices`).

    The projects are read when a row first names one (`project_clients`): most rows name none, and a ledger has a
    project or more per client, so an export of a few invoices does not read them all."""

    clients: ClientCurrencies
    project_clients: Callable[[], dict[str, str]]

    @property
    def projects(self) -> dict[str, str]:
        return self.project_clients()


class ImportRun:
    """The state of one import: its unit of work, what it changed, and the history lines it will record."""

    def __init__(self, unit: Unit, directory: Path, progress: Progress, show_progress: bool, by: str) -> None:
        self.unit, self.directory, self.progress = unit, directory, progress
        self.by = by
        self.summary = ImportSummary()
        self.now = unit.now
        # Edited entries' invoices and clients: their totals are recomputed from the entries.
        self.touched_invoices: set[int] = set()
        self.touched_clients: set[str] = set()
        # New entries' sums, added to the running totals: (cash, credits, memos, invoice id); client -> issued.
        self.new_paid: list[tuple[int, int, int, int]] = []
        self.new_applied: dict[str, int] = {}
        self.new_issued: dict[str, int] = {}
        self.history: list[Line] = []
        self.rows_read: dict[str, int] = {}
        self.show_progress = show_progress
        # The small files read, for the import's history line: name -> {"sha256": digest, "rows": data rows}.
        self.files_read: dict[str, dict[str, Any]] = defaultdict(dict)
        self._last_import_files: dict[str, dict[str, Any]] | None = None
        self._client_currencies: ClientCurrencies | None = None
        self._project_clients: dict[str, str] | None = None
        self._readers: dict[str, dict[str, Callable[[Any], Any]]] = {}

    # --- what rows refer to, read once each (after the file that adds to it) ---------------------------------

    def clients(self) -> ClientCurrencies:
        """Client id -> currency, as the ledger has them after this import's clients (nothing later changes one)."""
        if self._client_currencies is None:
            self._client_currencies = ClientCurrencies(self.unit)
        return self._client_currencies

    def projects(self) -> dict[str, str]:
        """Project id -> client id, read once after projects.csv."""
        if self._project_clients is None:
            self._project_clients = dict(self.unit.rows(_PROJECT_CLIENTS))  # type: ignore[arg-type]
        return self._project_clients

    def invoices(self) -> Iterator[tuple[str, int, str]]:
        """(number, id, client id) of the invoices payments.csv may name (those it names when it is small beside the
        invoices), one at a time: the payments keep one map of them (payments.py `PaymentLoad`)."""
        spec = reader.PAYMENTS
        only = None
        if self.is_small(reader.count_rows(self.directory, spec), "invoice"):
            only = reader.column_values(self.directory, spec, "invoice_number")
        # The driver makes a string of a client's id for each of its invoices: one kept per client (50 bytes an
        # invoice, 5 MiB of a 100,000-invoice ledger).
        client_ids: dict[str, str] = {}
        for number, invoice_id, client_id in keyed_rows(self.unit, "invoice", "number", ("client_id",), only):
            yield number, invoice_id, client_ids.setdefault(client_id, client_id)

    # --- reading ---------------------------------------------------------------------------------------

    def rows(self, spec: TableSpec, compare: Callable[[dict[str, int]], Unchanged] | None = None) -> Iterable[Row]:
        """The rows of a small file (clients, projects, credits) through the careful reader, with progress.

        `compare` makes the file's cheap compare from its header's column positions: given a row's raw fields and
        its line, the compare is True when the row holds
        exactly the text of what the ledger has (it is counted unchanged and skipped, no row read or checked), so a
        re-exported file costs a comparison a row. Anything else, including every error, reads the careful way.
        """
        if not (self.directory / spec.file).exists():
            return
        self.summary.for_file(spec)
        self._digest(spec)
        # Counting lines costs a read of the file: only for a progress bar that shows a total.
        total = reader.count_rows(self.directory, spec) if self.show_progress else 0
        done = 0
        with reader.open_table(self.directory, spec) as table:
            assert table is not None  # the file exists
            rows, width = table.rows, table.width
            unchanged = compare(table.index) if compare is not None else None
            for values in rows:
                if unchanged is not None and len(values) == width and unchanged(values, rows.line_num):
                    done += 1
                elif table.checked(values):
                    done += 1
                    yield table.row(values)
                else:
                    continue
                if done % _PROGRESS_EVERY == 0:
                    self.progress(spec.file, done, total)
        self.rows_read[spec.file] = self.files_read[spec.file]["rows"] = done
        self.progress(spec.file, done, max(total, done))

    def unchanged_file(self, spec: TableSpec) -> bool:
        """Whether a small file is byte for byte the one the last import read (see `last_import_files`): then every
        row is as stored, and the file is counted unchanged without reading a row or the table."""
        if not (self.directory / spec.file).exists():
            return False
        last = self.last_import_files().get(spec.file)
        if last is None or last.get("sha256") != self._digest(spec):
            return False
        self.files_read[spec.file]["rows"] = self.summary.for_file(spec).unchanged = int(last["rows"])
        return True

    def _digest(self, spec: TableSpec) -> str:
        """The file's SHA-256, read once (hashing a file of 10,000 clients takes about a millisecond)."""
        read = self.files_read[spec.file]
        if "sha256" not in read:
            with (self.directory / spec.file).open("rb") as handle:
                read["sha256"] = hashlib.file_digest(handle, "sha256").hexdigest()
        return read["sha256"]

    def last_import_files(self) -> dict[str, dict[str, Any]]:
        """The small files the last import that changed the ledger read (its history line): name -> digest, rows.

        A file byte for byte the same as then holds only rows as stored: the import is the only writer of the
        columns clients, projects and credits compare (operations change running totals and expiry dates), and its
        history line commits with its rows. Found by reading the history back from its end to that line.
        """
        if self._last_import_files is None:
            line = self.unit.row(_LAST_IMPORT)
            after = self.unit.read_json(line[0]) if line is not None else None
            self._last_import_files = (after or {}).get("files", {})
        return self._last_import_files

    def stored_row(self, table: str, row_id: Any) -> Any:
        """One row of `table` by id, all its columns by name, dates and times typed as SQLAlchemy reads them (on
        SQLite a time without a zone): the old values of a row that changed."""
        readers = self._column_readers(table)
        listed = ", ".join(readers)
        row = self.unit.one(statement(f"SELECT {listed} FROM {table} WHERE id = ?"), (row_id,))
        return SimpleNamespace(**{name: read(value) for (name, read), value in zip(readers.items(), row, strict=True)})

    def _column_readers(self, table: str) -> dict[str, Callable[[Any], Any]]:
        """The table's columns, each with how its stored value is read: SQLite's DATE and DATETIME text parsed,
        psycopg's values as they are."""
        readers = self._readers.get(table)
        if readers is None:
            if self.unit.is_sqlite:
                declared = self.unit.rows(statement(f"PRAGMA table_info({table})"))
                readers = {row[1]: _SQLITE_READERS.get(row[2].upper(), _as_stored) for row in declared}
            else:
                readers = {name: _as_stored for name in self.unit.column(_PG_COLUMNS, (table,))}
            self._readers[table] = readers
        return readers

    def load_batched(
        self,
        spec: TableSpec,
        table_name: str,
        key: str,
        columns: Sequence[str],
        constants: dict[str, Any],
        start: Callable[[TableWriter, dict[str, tuple[int, tuple]], CsvTable], BatchedLoad],
        careful: Callable[[CsvTable, list[str], Any, list[Edit]], dict[str, Any] | None],
    ) -> Any:
        """A large file (invoices, payments): its fast path (`start` makes it) writes new rows in batches, its
        careful path (`careful`) takes the rest and collects edits; returns the fast path, or None without a file."""
        with reader.open_table(self.directory, spec) as table:
            if table is None:
                return None
            summary = self.summary.for_file(spec)
            lines = reader.count_rows(self.directory, spec)
            existing = self.stored(spec, table_name, key, columns, lines)
            edits: list[Edit] = []
            with TableWriter(self.unit, table_name, constants, lines - len(existing)) as writer:
                load = start(writer, existing, table)
                load.run(
                    lambda values: careful(table, values, load, edits),
                    lambda done: self.progress(spec.file, done, lines),
                )
            self.write_edits(spec, table_name, edits)
        summary.created, summary.edited, summary.unchanged = writer.written, len(edits), load.unchanged
        return load

    def stored(
        self, spec: TableSpec, table: str, key: str, columns: Sequence[str], lines: int
    ) -> dict[str, tuple[int, tuple]]:
        """The table's rows a file may match, by key: all of them, or, for a file much smaller than the table (a
        month's export into years of ledger), only those whose keys the file holds, so the import's cost follows
        the file, not the ledger."""
        if not self.is_small(lines, table):
            return stored_rows(self.unit, table, key, columns)
        file_column = {"number": "invoice_number", "external_id": "payment_id"}[key]
        return stored_rows(self.unit, table, key, columns, reader.column_values(self.directory, spec, file_column))

    def is_small(self, lines: int, table: str) -> bool:
        """Whether a file of `lines` rows is small beside `table` (reading its keys beats reading the table)."""
        return lines * _SMALL_FILE_RATIO < (self.unit.one(statement(f"SELECT coalesce(max(id), 0) FROM {table}"))[0])

    def unique_key(self, row: Row, spec: TableSpec, column: str, seen: set[str]) -> str:
        """A row's key, refused if an earlier row had it (the first one's line is found then, not kept)."""
        value = row.required(column)
        if value in seen:
            raise reader.repeated(spec, row.line, column, value, reader.first_line(self.directory, spec, column, value))
        seen.add(value)
        return value

    # --- changes ---------------------------------------------------------------------------------------

    def edit(
        self,
        key: Any,
        before: dict[str, Any],
        after: dict[str, Any],
        edited_at: datetime | None,
        client_id: str | None,
        invoice_id: int | None,
        subject: str,
        currency: str | None = None,
    ) -> Edit | None:
        """The edit that turns `before` into `after`, or None when nothing differs."""
        changed = {name for name in after if before[name] != after[name]}
        if not changed:
            return None
        return Edit(
            key=key,
            values=after,
            before={_field(name): readable(name, before[name], currency) for name in sorted(changed)},
            after={_field(name): readable(name, after[name], currency) for name in sorted(changed)},
            at=edited_at or self.now,
            client_id=client_id,
            invoice_id=invoice_id,
            subject=subject,
        )

    def conflict(self, conflict: Conflict, client_id: str | None, invoice_id: int | None) -> None:
        """Report a value the export may not change, and keep it in the history (refused, with both values)."""
        self.summary.conflicts.append(conflict)
        self.summary.files[conflict.file].conflicts += 1
        self.history.append(
            Line(
                actor=ACTOR,
                action="import_conflict",
                outcome=REFUSED,
                client_id=client_id,
                invoice_id=invoice_id,
                subject=conflict.subject,
                before={conflict.column: conflict.ledger},
                after={conflict.column: conflict.export},
                detail=f"{conflict.file} line {conflict.line}: {conflict.owner} owns this field; not applied",
                at=self.now,
            )
        )

    def write(
        self,
        spec: TableSpec,
        table: str,
        new_rows: list[dict[str, Any]],
        edits: list[Edit],
        constants: dict[str, Any] | None = None,
    ) -> None:
        """A small file's new rows (with `constants`, the columns not in them that need a value) and edits, and its
        counts."""
        summary = self.summary.files.get(spec.file)
        if summary is None:
            return
        bulk_insert(self.unit, table, new_rows, constants or {})
        self.write_edits(spec, table, edits)
        summary.created += len(new_rows)
        summary.edited += len(edits)
        summary.unchanged += self.rows_read.get(spec.file, 0) - len(new_rows) - len(edits)

    def write_edits(self, spec: TableSpec, table: str, edits: list[Edit]) -> None:
        bind = binder(self.unit)
        for edit in edits:
            assignments = ", ".join(f"{name} = ?" for name in edit.values)
            values = [bind(value) for value in edit.values.values()]
            self.unit.execute(statement(f"UPDATE {table} SET {assignments} WHERE id = ?"), [*values, edit.key])
            self.history.append(
                Line(
                    actor=ACTOR,
                    action="import_edit",
                    client_id=edit.client_id,
                    invoice_id=edit.invoice_id,
                    subject=edit.subject,
                    before=edit.before,
                    after=edit.after,
                    detail=spec.file,
                    at=edit.at,
                )
            )

    def touch(self, invoice_id: int, client_id: str, kind: str) -> None:
        """An edited payment: its invoice's totals, and for a credit applied its client's wallet, are recomputed."""
        self.touched_invoices.add(invoice_id)
        if kind == PaymentKind.ACCOUNT_CREDIT.value:
            self.touched_clients.add(client_id)


# --- row checks the files share ---------------------------------------------------------------------------


def unique(row: Row, column: str, seen: dict[str, int]) -> str:
    value = row.required(column)
    if value in seen:
        raise row.error(column, f"“{value}” appears twice (also on line {seen[value]})")
    seen[value] = row.line
    return value


def known(row: Row, column: str, names: dict[str, Any]) -> str:
    """The row's reference in `column`, which must name something in the ledger or in this import."""
    value = row.required(column)
    if value not in names:
        raise row.error(column, f"“{value}” is not in the ledger or in this import")
    return value


def currency_of(row: Row) -> str:
    text = row.optional("currency") or "USD"
    try:
        return normalize_currency(text)
    except InvalidCurrency as refused:
        raise row.error("currency", refused.message.rstrip(".")) from None


def project_of(row: Row, client_id: str, projects: dict[str, str]) -> str | None:
    project_id = row.optional("project_id")
    if not project_id:
        return None
    owner = projects.get(project_id)
    if owner is None:
        raise row.error("project_id", f"“{project_id}” is not a known project")
    if owner != client_id:
        raise row.error("project_id", f"project “{project_id}” belongs to client {owner}, not {client_id}")
    return project_id


def pick(old: Any, values: dict[str, Any]) -> dict[str, Any]:
    return {name: getattr(old, name) for name in values}


def _as_stored(value: Any) -> Any:
    return value


def _sqlite_day(value: Any) -> Any:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _sqlite_time(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


# How SQLAlchemy reads SQLite's text of a column by its declared type: a DATETIME without a zone (stored as UTC).
_SQLITE_READERS: dict[str, Callable[[Any], Any]] = {"DATE": _sqlite_day, "DATETIME": _sqlite_time}


def readable(name: str, value: Any, currency: str | None) -> Any:
    """A value as the history and the summary show it: amounts in the client's currency, times in ISO form."""
    if name.endswith("_minor") and currency is not None and value is not None:
        return decimal_str(value, currency)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _field(name: str) -> str:
    """History names a field as the CSV does: `total`, not `total_minor`."""
    return name.removesuffix("_minor")
