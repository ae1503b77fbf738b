"""`import DIR`: validate every file, then write in one transaction.

- Any invalid row aborts the whole import before anything is written (the error names file, line, column).
- Rows are matched to the ledger by their ids, never by position, so a re-export in another order is a no-op.
- A row whose id exists with other values is an edit: the row is updated and its old values go to the
  history, timed at `updated_at` when the file gives one (that is what the post-sync scan reads).
- Imported data may already break the rules (a credit applied twice, more applied than issued): it is recorded
  as it is, and the scans report it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select, text, update
from sqlmodel import Session

from ledger.bulk import TableWriter, bulk_insert
from ledger.credit_ops.lots import REFRESH_NEXT_EXPIRY
from ledger.csv_import import invoices, payments, reader
from ledger.csv_import.batches import driver_rows, stored_rows
from ledger.csv_import.reader import CsvTable, Row, TableSpec
from ledger.db import Database
from ledger.errors import ImportRowError, InvalidCurrency
from ledger.money import decimal_str, normalize_currency
from ledger.tables import Client, Credit, HistoryEntry, Invoice, Payment, PaymentKind, Project, utcnow
from ledger.totals import add_to_totals, refresh_totals

ACTOR = "import"
_IMPORTABLE_KINDS = payments.IMPORTABLE_KINDS
# A new invoice's running totals; the payments added in the same import are added to them at the end.
_NOTHING_PAID = {"cash_paid_minor": 0, "credits_applied_minor": 0, "qb_credit_memos_minor": 0}

_PROGRESS_EVERY = 10_000

# Called with (file name, rows read so far, rows in the file) as the import reads.
Progress = Callable[[str, int, int], None]


@dataclass
class FileSummary:
    created: int = 0
    edited: int = 0
    unchanged: int = 0


@dataclass
class ImportSummary:
    files: dict[str, FileSummary] = field(default_factory=dict)

    def for_file(self, spec: TableSpec) -> FileSummary:
        return self.files.setdefault(spec.file, FileSummary())

    @property
    def changed(self) -> bool:
        return any(s.created or s.edited for s in self.files.values())

    def as_json(self) -> dict[str, Any]:
        return {name: vars(summary) for name, summary in self.files.items()}


@dataclass(frozen=True)
class _Edit:
    """One changed row: what to write, and what the history keeps."""

    key: Any
    values: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    at: datetime
    client_id: str | None
    invoice_id: int | None
    subject: str


def import_directory(db: Database, directory: Path, progress: Progress | None = None) -> ImportSummary:
    """Import the CSV files in `directory`; see the module docstring for the rules."""
    if not (directory / reader.CLIENTS.file).exists():
        raise ImportRowError(reader.CLIENTS.file, None, None, f"{reader.CLIENTS.file} is required in {directory}")
    with _collector_paused(), db.write() as unit:
        run = _ImportRun(unit.session, directory, progress or (lambda _file, _done, _total: None), progress is not None)
        return run.execute()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the import, back on after (if it was on before).

    The import allocates a tuple or two per row and keeps few of them, which sets off collections; now and then one
    is a full collection, which walks every object the process holds (SQLAlchemy's, Alembic's, the import's own
    maps). In a fresh `creditbot import` of 10,000 payments one such pass took 35 ms, a third of the import. The
    import makes no reference cycles of its own, so reference counting frees its garbage without the collector.
    The switch is process-wide: imports run from the command line (`creditbot import`, the demo), not in a server.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _ImportRun:
    def __init__(self, session: Session, directory: Path, progress: Progress, show_progress: bool) -> None:
        self.session, self.directory, self.progress = session, directory, progress
        self.summary = ImportSummary()
        self.now = utcnow()
        # Edited entries' invoices and clients: their totals are recomputed from the entries.
        self.touched_invoices: set[int] = set()
        self.touched_clients: set[str] = set()
        # New entries' sums, added to the running totals: (cash, credits, memos, invoice id); client -> issued.
        self.new_paid: list[tuple[int, int, int, int]] = []
        self.new_applied: dict[str, int] = {}
        self.new_issued: dict[str, int] = {}
        self.history: list[dict[str, Any]] = []
        self.rows_read: dict[str, int] = {}
        self.show_progress = show_progress
        self._client_currencies: dict[str, str] | None = None
        self._project_clients: dict[str, str] | None = None

    def execute(self) -> ImportSummary:
        self._import_clients()
        self._import_projects()
        self._import_invoices()
        self._import_credits()
        self._import_payments()
        self._refresh_totals()
        if self.summary.changed:
            self._record_run()
        if self.history:
            bulk_insert(self.session, _table(HistoryEntry), self.history)
        return self.summary

    # --- clients ----------------------------------------------------------------------------------------

    def _import_clients(self) -> None:
        spec = reader.CLIENTS
        existing = {row.id: row for row in self.session.execute(select(_table(Client))).all()}
        seen: dict[str, int] = {}
        names = {row.name_key: row.id for row in existing.values()}
        qb_ids = {row.qb_customer_id: row.id for row in existing.values() if row.qb_customer_id}
        new_rows, edits = [], []
        for row in self._rows(spec):
            client_id = _unique(row, "client_id", seen)
            name = row.required("name")
            currency = _currency(row)
            qb_customer_id = row.optional("qb_customer_id") or None
            _claim(row, "name", name.lower(), client_id, names, f"the client name “{name}” is already used by")
            if qb_customer_id:
                _claim(row, "qb_customer_id", qb_customer_id, client_id, qb_ids, "this QuickBooks id belongs to")
            values = {"name": name, "name_key": name.lower(), "currency": currency, "qb_customer_id": qb_customer_id}
            old = existing.get(client_id)
            if old is None:
                new_rows.append({"id": client_id, **values, "created_at": self.now})
                continue
            if old.currency != currency and self._client_has_money(client_id):
                raise row.error("currency", "a client's currency cannot change once it has invoices or credits")
            edit = self._edit(row, client_id, _pick(old, values), values, None, client_id, None, f"client:{client_id}")
            if edit:
                edits.append(edit)
        self._write(spec, _table(Client), new_rows, edits, _table(Client).c.id)

    def _client_has_money(self, client_id: str) -> bool:
        for model in (Invoice, Credit):
            table = _table(model)
            if self.session.execute(select(table.c.id).where(table.c.client_id == client_id).limit(1)).first():
                return True
        return False

    def _clients(self) -> dict[str, str]:
        """Client id -> currency, as the ledger has them now (after this import's clients).

        Read once, after clients.csv (nothing later changes a client), through the driver: four files refer to
        clients, and each SQLAlchemy statement compiled afresh in a new `creditbot import` costs more than the read.
        """
        if self._client_currencies is None:
            self._client_currencies = dict(driver_rows(self.session, "SELECT id, currency FROM client"))
        return self._client_currencies

    # --- projects ---------------------------------------------------------------------------------------

    def _import_projects(self) -> None:
        spec = reader.PROJECTS
        table = _table(Project)
        existing = {row.id: row for row in self.session.execute(select(table)).all()}
        clients = self._clients()
        seen: dict[str, int] = {}
        new_rows, edits = [], []
        for row in self._rows(spec):
            project_id = _unique(row, "project_id", seen)
            client_id = _known(row, "client_id", clients)
            values = {"client_id": client_id, "name": row.required("name")}
            old = existing.get(project_id)
            if old is None:
                new_rows.append({"id": project_id, **values})
                continue
            if old.client_id != client_id:
                raise row.error("client_id", "a project cannot move to another client")
            edit = self._edit(
                row, project_id, _pick(old, values), values, None, client_id, None, f"project:{project_id}"
            )
            if edit:
                edits.append(edit)
        self._write(spec, table, new_rows, edits, table.c.id)

    def _projects(self) -> dict[str, str]:
        """Project id -> client id, read once after projects.csv (as `_clients`)."""
        if self._project_clients is None:
            self._project_clients = dict(driver_rows(self.session, "SELECT id, client_id FROM project"))
        return self._project_clients

    # --- invoices ---------------------------------------------------------------------------------------

    def _import_invoices(self) -> None:
        """Ordinary rows take invoices.py's fast path; the rest come back here (`_careful_invoice`)."""
        spec = reader.INVOICES
        with reader.open_table(self.directory, spec) as table:
            if table is None:
                return
            summary = self.summary.for_file(spec)
            lines = reader.count_rows(self.directory, spec)
            existing = stored_rows(self.session, "invoice", "number", invoices.ALL[1:])
            refs = _References(self._clients(), {}, self._projects())
            edits: list[_Edit] = []
            constants = {"created_at": self.now, **_NOTHING_PAID}
            with TableWriter(self.session, _table(Invoice), constants, lines - len(existing)) as writer:
                load = invoices.InvoiceLoad(writer, refs.clients, existing, table)
                load.run(
                    lambda values: self._careful_invoice(table, values, load, refs, edits),
                    lambda done: self.progress(spec.file, done, lines),
                )
            self._write_edits(spec, _table(Invoice), edits, _table(Invoice).c.id)
        summary.created, summary.edited, summary.unchanged = writer.written, len(edits), load.unchanged

    def _careful_invoice(
        self, table: CsvTable, values: list[str], load: invoices.InvoiceLoad, refs: _References, edits: list[_Edit]
    ) -> dict[str, Any] | None:
        """The general path for one invoices.csv row: a new invoice's values, or None (a blank line, an edit...)."""
        if not table.checked(values):
            return None
        row = table.row(values)
        number = self._unique_key(row, reader.INVOICES, "invoice_number", load.seen)
        client_id = _known(row, "client_id", refs.clients)
        values = {
            "number": number,
            "client_id": client_id,
            "project_id": _project_of(row, client_id, refs.projects),
            "issued_on": row.day("issued_on"),
            "total_minor": row.amount("total", refs.clients[client_id]),
            "posted_to_qb_at": row.optional_time("posted_to_qb_at"),
            "qb_invoice_id": row.optional("qb_invoice_id") or None,
            "updated_at": row.optional_time("updated_at"),
        }
        stored = load.existing.get(number)
        if stored is None:
            return values
        if load.stored_form(values) == stored[1]:
            load.unchanged += 1
            return None
        invoice = _table(Invoice)
        old = self.session.execute(select(invoice).where(invoice.c.id == stored[0])).one()
        if old.client_id != client_id:
            raise row.error("client_id", "an invoice cannot move to another client")
        del values["number"]
        currency = refs.clients[client_id]
        edit = self._edit(
            row,
            old.id,
            _pick(old, values),
            values,
            values["updated_at"],
            client_id,
            old.id,
            f"invoice:{number}",
            currency,
        )
        if edit is None:  # the same values, stored in another form
            load.unchanged += 1
            return None
        edits.append(edit)
        self.touched_invoices.add(old.id)
        return None

    def _invoices(self) -> dict[str, tuple[int, str]]:
        """Invoice number -> (id, client id)."""
        rows = driver_rows(self.session, "SELECT number, id, client_id FROM invoice")
        return {number: (invoice_id, client_id) for number, invoice_id, client_id in rows}

    # --- credits ----------------------------------------------------------------------------------------

    def _import_credits(self) -> None:
        spec = reader.CREDITS
        table = _table(Credit)
        existing = {
            row.external_id: row
            for row in self.session.execute(select(table).where(table.c.external_id.is_not(None))).all()
        }
        clients = self._clients()
        seen: dict[str, int] = {}
        new_rows, edits = [], []
        for row in self._rows(spec):
            credit_id = _unique(row, "credit_id", seen)
            client_id = _known(row, "client_id", clients)
            values = {
                "client_id": client_id,
                "amount_minor": row.amount("amount", clients[client_id]),
                "issued_on": row.day("issued_on"),
                "reason": row.optional("reason"),
                "expires_on": row.day("expires_on") if row.optional("expires_on") else None,  # issue 17
            }
            old = existing.get(credit_id)
            if old is None:
                new_rows.append({"external_id": credit_id, **values, "created_by": ACTOR, "created_at": self.now})
                self.new_issued[client_id] = self.new_issued.get(client_id, 0) + values["amount_minor"]
                continue
            edit = self._edit(
                row,
                old.id,
                _pick(old, values),
                values,
                None,
                client_id,
                None,
                f"credit:{credit_id}",
                clients[client_id],
            )
            if edit:
                edits.append(edit)
                self.touched_clients.update({client_id, old.client_id})
        self._write(spec, table, new_rows, edits, table.c.id)
        if any(values["expires_on"] for values in new_rows) or edits:  # issue 17: wallets' next expiry date
            self.session.execute(text(REFRESH_NEXT_EXPIRY))

    # --- payments ---------------------------------------------------------------------------------------

    def _import_payments(self) -> None:
        """Ordinary rows take payments.py's fast path; the rest come back here (`_careful_payment`)."""
        spec = reader.PAYMENTS
        with reader.open_table(self.directory, spec) as table:
            if table is None:
                return
            summary = self.summary.for_file(spec)
            lines = reader.count_rows(self.directory, spec)
            existing = stored_rows(self.session, "payment", "external_id", payments.ALL[1:])
            refs = _References(self._clients(), self._invoices(), self._projects())
            edits: list[_Edit] = []
            with TableWriter(self.session, _table(Payment), {"created_by": ACTOR}, lines - len(existing)) as writer:
                load = payments.PaymentLoad(writer, refs.clients, refs.invoices, existing, table)
                load.run(
                    lambda values: self._careful_payment(table, values, load, refs, edits),
                    lambda done: self.progress(spec.file, done, lines),
                )
            self._write_edits(spec, _table(Payment), edits, _table(Payment).c.id)
        summary.created, summary.edited, summary.unchanged = writer.written, len(edits), load.unchanged
        self.new_paid = load.invoice_totals()
        self.new_applied = load.credits_applied()

    def _careful_payment(
        self, table: CsvTable, values: list[str], load: payments.PaymentLoad, refs: _References, edits: list[_Edit]
    ) -> dict[str, Any] | None:
        """The general path for one payments.csv row: a new payment's values, or None (a blank line, an edit...)."""
        if not table.checked(values):
            return None
        row = table.row(values)
        payment_id = self._unique_key(row, reader.PAYMENTS, "payment_id", load.seen)
        invoice_id, client_id = refs.invoices[_known(row, "invoice_number", refs.invoices)]
        currency = refs.clients[client_id]
        new = self._payment_values(row, payment_id, invoice_id, client_id, currency, refs.projects)
        stored = load.existing.get(payment_id)
        if stored is None:
            return new
        if load.stored_form(new) == stored[1]:
            load.unchanged += 1
            return None
        payment = _table(Payment)
        old = self.session.execute(select(payment).where(payment.c.id == stored[0])).one()
        del new["external_id"], new["created_by"]
        subject = f"payment:{payment_id}"
        before = _pick(old, new)
        edit = self._edit(row, old.id, before, new, new["updated_at"], client_id, invoice_id, subject, currency)
        if edit is None:  # the same values, stored in another form
            load.unchanged += 1
            return None
        edits.append(edit)
        self._touch(invoice_id, client_id, new["kind"])
        self._touch(old.invoice_id, old.client_id, old.kind)
        return None

    def _payment_values(
        self, row: Row, payment_id: str, invoice_id: int, client_id: str, currency: str, projects: dict[str, str]
    ) -> dict[str, Any]:
        kind = _IMPORTABLE_KINDS.get(row.required("type").lower())
        if kind is None:
            raise row.error(
                "type",
                f"“{row.optional('type')}” is not a payment type; use one of "
                + ", ".join(k.value for k in _IMPORTABLE_KINDS.values()),
            )
        received_on = row.day("received_on")
        project_id = _project_of(row, client_id, projects)
        if project_id and kind is not PaymentKind.ACCOUNT_CREDIT:
            raise row.error("project_id", "a project tag is only for AccountCredit payments (credits applied)")
        return {
            "external_id": payment_id,
            "invoice_id": invoice_id,
            "client_id": client_id,
            "kind": kind.value,
            "amount_minor": row.amount("amount", currency),
            "received_on": received_on,
            "created_at": row.optional_time("created_at") or payments.start_of(received_on),
            "updated_at": row.optional_time("updated_at"),
            "project_id": project_id,
            "created_by": ACTOR,
        }

    def _unique_key(self, row: Row, spec: TableSpec, column: str, seen: set[str]) -> str:
        """As `_unique`, for the fast paths' keys, kept without their lines: the first one's is found on error."""
        value = row.required(column)
        if value in seen:
            raise reader.repeated(spec, row.line, column, value, reader.first_line(self.directory, spec, column, value))
        seen.add(value)
        return value

    def _touch(self, invoice_id: int, client_id: str, kind: str) -> None:
        self.touched_invoices.add(invoice_id)
        if kind == PaymentKind.ACCOUNT_CREDIT.value:
            self.touched_clients.add(client_id)

    # --- shared -----------------------------------------------------------------------------------------

    def _rows(self, spec: TableSpec) -> Iterable[Row]:
        if not (self.directory / spec.file).exists():
            return
        self.summary.for_file(spec)
        # Counting lines costs a read of the file: only for a progress bar that shows a total.
        total = reader.count_rows(self.directory, spec) if self.show_progress else 0
        done = 0
        for done, row in enumerate(reader.read_table(self.directory, spec), start=1):
            if done % _PROGRESS_EVERY == 0:
                self.progress(spec.file, done, total)
            yield row
        self.rows_read[spec.file] = done
        self.progress(spec.file, done, max(total, done))

    def _edit(
        self,
        row: Row,
        key: Any,
        before: dict[str, Any],
        after: dict[str, Any],
        edited_at: datetime | None,
        client_id: str | None,
        invoice_id: int | None,
        subject: str,
        currency: str | None = None,
    ) -> _Edit | None:
        changed = {name for name in after if before[name] != after[name]}
        if not changed:
            return None
        return _Edit(
            key=key,
            values=after,
            before={_field(name): _readable(name, before[name], currency) for name in sorted(changed)},
            after={_field(name): _readable(name, after[name], currency) for name in sorted(changed)},
            at=edited_at or self.now,
            client_id=client_id,
            invoice_id=invoice_id,
            subject=subject,
        )

    def _write(
        self, spec: TableSpec, table: Table, new_rows: list[dict[str, Any]], edits: list[_Edit], key_column: Any
    ) -> None:
        summary = self.summary.files.get(spec.file)
        if summary is None:
            return
        bulk_insert(self.session, table, new_rows)
        self._write_edits(spec, table, edits, key_column)
        summary.created += len(new_rows)
        summary.edited += len(edits)
        summary.unchanged += self.rows_read.get(spec.file, 0) - len(new_rows) - len(edits)

    def _write_edits(self, spec: TableSpec, table: Table, edits: list[_Edit], key_column: Any) -> None:
        for edit in edits:
            self.session.execute(update(table).where(key_column == edit.key).values(**edit.values))
            self.history.append(
                {
                    "at": edit.at,
                    "actor": ACTOR,
                    "action": "import_edit",
                    "outcome": "done",
                    "client_id": edit.client_id,
                    "invoice_id": edit.invoice_id,
                    "subject": edit.subject,
                    "before": edit.before,
                    "after": edit.after,
                    "detail": f"{spec.file}",
                }
            )

    def _refresh_totals(self) -> None:
        """New entries add to the totals (as the operations' increments do); edited ones are recomputed after."""
        wallets = {client_id: (self.new_issued.get(client_id, 0), self.new_applied.get(client_id, 0))
                   for client_id in self.new_issued.keys() | self.new_applied.keys()}  # fmt: skip
        add_to_totals(self.session, self.new_paid, wallets)
        if self.touched_invoices or self.touched_clients:
            refresh_totals(self.session, self.touched_invoices, self.touched_clients)

    def _record_run(self) -> None:
        counts = "; ".join(
            f"{name}: {s.created} new, {s.edited} edited, {s.unchanged} unchanged"
            for name, s in self.summary.files.items()
        )
        self.history.append(
            {
                "at": self.now,
                "actor": ACTOR,
                "action": "import",
                "outcome": "done",
                "client_id": None,
                "invoice_id": None,
                "subject": str(self.directory),
                "before": None,
                "after": None,
                "detail": counts,
            }
        )


def _table(model: Any) -> Table:
    return model.__table__


@dataclass(frozen=True)
class _References:
    """What rows may refer to: client id -> currency, invoice number -> (id, client id), project id -> client id."""

    clients: dict[str, str]
    invoices: dict[str, tuple[int, str]]
    projects: dict[str, str]


def _unique(row: Row, column: str, seen: dict[str, int]) -> str:
    value = row.required(column)
    if value in seen:
        raise row.error(column, f"“{value}” appears twice (also on line {seen[value]})")
    seen[value] = row.line
    return value


def _known(row: Row, column: str, known: dict[str, Any]) -> str:
    """The row's reference in `column`, which must name something in the ledger or in this import."""
    value = row.required(column)
    if value not in known:
        raise row.error(column, f"“{value}” is not in the ledger or in this import")
    return value


def _currency(row: Row) -> str:
    text = row.optional("currency") or "USD"
    try:
        return normalize_currency(text)
    except InvalidCurrency as refused:
        raise row.error("currency", refused.message.rstrip(".")) from None


def _claim(row: Row, column: str, value: str, owner: str, claims: dict[str, str], taken: str) -> None:
    holder = claims.get(value)
    if holder is not None and holder != owner:
        raise row.error(column, f"{taken} client {holder}")
    claims[value] = owner


def _project_of(row: Row, client_id: str, projects: dict[str, str]) -> str | None:
    project_id = row.optional("project_id")
    if not project_id:
        return None
    owner = projects.get(project_id)
    if owner is None:
        raise row.error("project_id", f"“{project_id}” is not a known project")
    if owner != client_id:
        raise row.error("project_id", f"project “{project_id}” belongs to client {owner}, not {client_id}")
    return project_id


def _pick(old: Any, values: dict[str, Any]) -> dict[str, Any]:
    return {name: getattr(old, name) for name in values}


def _field(name: str) -> str:
    """History names a field as the CSV does: `total`, not `total_minor`."""
    return name.removesuffix("_minor")


def _readable(name: str, value: Any, currency: str | None) -> Any:
    if name.endswith("_minor") and currency is not None and value is not None:
        return decimal_str(value, currency)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
