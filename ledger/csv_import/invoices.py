"""invoices.csv: ordinary rows go from CSV text straight to insert tuples (batches.py), as payments do; the rest
take the careful path here (`_careful_invoice`).

A ledger has about one invoice for every ten payments, so at a million payments this is the second largest file.

Who owns what (rule R4): the billing system owns an invoice's client, project, date and total; its posting state
(`posted_to_qb_at`, `qb_invoice_id`) is QuickBooks' once set. An export may set them on an invoice not posted
yet; an empty cell never un-posts one, and a value that contradicts the ledger's is a conflict: reported in the
summary, kept in the history, never applied.
"""

from __future__ import annotations

from datetime import UTC
from operator import itemgetter
from typing import Any

from ledger.bulk import TableWriter
from ledger.csv_import import reader
from ledger.csv_import.batches import BATCH, MEMO_LIMIT, PROGRESS_EVERY, BatchedLoad, Careful, Progress
from ledger.csv_import.reader import CsvTable
from ledger.csv_import.run import Conflict, Edit, ImportRun, References, known, pick, project_of, readable
from ledger.errors import InvalidAmount
from ledger.money import parse_amount

PLAIN = ("number", "client_id", "issued_on", "total_minor")
ALL = ("number", "client_id", "project_id", "issued_on", "total_minor", "posted_to_qb_at", "qb_invoice_id",
       "updated_at")  # fmt: skip
# The fields QuickBooks owns once they are set, and their places in a stored row (ALL without the number).
QUICKBOOKS_OWNS = ("posted_to_qb_at", "qb_invoice_id")
_NOTHING_PAID = {"cash_paid_minor": 0, "credits_applied_minor": 0, "qb_credit_memos_minor": 0}


def load_invoices(run: ImportRun) -> None:
    """Write invoices.csv's new invoices and edits; ordinary rows by the fast path, the rest by `_careful_invoice`."""
    refs = References(run.clients(), run.projects)
    run.load_batched(
        reader.INVOICES, "invoice", "number", ALL[1:], {"created_at": run.now, **_NOTHING_PAID},
        lambda writer, existing, table: InvoiceLoad(writer, refs.clients, existing, table),
        lambda table, values, load, edits: _careful_invoice(run, table, values, load, refs, edits),
    )  # fmt: skip


def _careful_invoice(
    run: ImportRun, table: CsvTable, values: list[str], load: InvoiceLoad, refs: References, edits: list[Edit]
) -> dict[str, Any] | None:
    """The general path for one invoices.csv row: a new invoice's values, or None (a blank line, an edit...)."""
    if not table.checked(values):
        return None
    row = table.row(values)
    number = run.unique_key(row, reader.INVOICES, "invoice_number", load.seen)
    client_id = known(row, "client_id", refs.clients)
    new = {
        "number": number,
        "client_id": client_id,
        "project_id": project_of(row, client_id, refs.projects),
        "issued_on": row.day("issued_on"),
        "total_minor": row.amount("total", refs.clients[client_id]),
        "posted_to_qb_at": row.optional_time("posted_to_qb_at"),
        "qb_invoice_id": row.optional("qb_invoice_id") or None,
        "updated_at": row.optional_time("updated_at"),
    }
    stored = load.existing.get(number)
    if stored is None:
        return new
    if load.stored_form(new) == stored[1]:
        load.unchanged += 1
        return None
    old = run.stored_row("invoice", stored[0])
    if old.client_id != client_id:
        raise row.error("client_id", "an invoice cannot move to another client")
    del new["number"]
    _keep_quickbooks_fields(run, row.line, number, old, new)
    edit = run.edit(
        old.id, pick(old, new), new, new["updated_at"], client_id, old.id, f"invoice:{number}", refs.clients[client_id]
    )
    if edit is None:  # the same values, stored in another form, or only what QuickBooks owns differed
        load.unchanged += 1
        return None
    edits.append(edit)
    run.touched_invoices.add(old.id)
    return None


def _keep_quickbooks_fields(run: ImportRun, line: int, number: str, old: Any, new: dict[str, Any]) -> None:
    """Once an invoice is posted, its posting fields stay as they are: an empty cell is no news, another value a
    conflict (reported, kept in the history, not applied)."""
    if old.posted_to_qb_at is None and old.qb_invoice_id is None:
        return  # not posted yet: the export may post it
    for name in QUICKBOOKS_OWNS:
        ledger_value, export_value = getattr(old, name), new[name]
        new[name] = ledger_value
        if export_value is not None and not _same(ledger_value, export_value):
            conflict = Conflict(
                reader.INVOICES.file, line, f"invoice {number}", name,
                readable(name, ledger_value, None), readable(name, export_value, None), "QuickBooks",
            )  # fmt: skip
            run.conflict(conflict, old.client_id, old.id)


def _same(ledger_value: Any, export_value: Any) -> bool:
    """Equal, reading a time without a zone (as SQLite returns it) as UTC."""
    if hasattr(ledger_value, "tzinfo") and hasattr(export_value, "tzinfo"):
        return ledger_value.replace(tzinfo=None) == export_value.astimezone(UTC).replace(tzinfo=None)
    return ledger_value == export_value


class InvoiceLoad(BatchedLoad):
    """One pass over invoices.csv, new invoices written in batches."""

    def __init__(
        self,
        writer: TableWriter,
        clients: dict[str, str],
        existing: dict[str, tuple[int, tuple]],
        table: reader.CsvTable,
    ) -> None:
        super().__init__(writer, PLAIN, ALL, existing, table, "invoice_number")
        self._currencies = clients
        self._amounts: dict[str, dict[str, int]] = {}
        # Client id -> (currency, amounts memo of that currency), filled as the file names them (`_client`), so a
        # few invoices into a ledger of many clients look at a few.
        self._clients: dict[str, tuple[str, dict[str, int]]] = {}
        self._days: dict[str, Any] = {}
        self._bind = writer.bind

    def run(self, careful: Careful, progress: Progress) -> None:
        table = self.table
        rows, width, seen, remember, existing = table.rows, table.width, self.seen, self.seen.add, self.existing
        clients, days = self._clients, self._days
        pick = itemgetter(*(table.index[name] for name in reader.INVOICES.required))
        optional = [table.index[name] for name in reader.INVOICES.optional if name in table.index]
        plain, batch, shape = self.plain, [], self.plain
        longest, read = reader.MAX_LENGTH["invoice_number"], 0
        for values in rows:
            read += 1
            if read % PROGRESS_EVERY == 0:
                progress(read)
            # The fast path: every field of an ordinary row found among texts already checked.
            if len(values) == width:
                number, client_id, day_text, total_text = pick(values)
                number = number.strip()
                client = clients.get(client_id) or self._client(client_id)
                day = days.get(day_text) or self._day(day_text)
                if (
                    client is not None and day is not None and 0 < len(number) <= longest and number not in seen
                    and number.isprintable()
                    and not (optional and any(values[position].strip() for position in optional))
                ):  # fmt: skip
                    minor = client[1].get(total_text) or self._amount(client, total_text)
                    if minor:
                        old = existing.get(number)
                        if old is None:
                            if shape is not plain or len(batch) >= BATCH:
                                shape, batch = plain, self.flush(shape, batch)
                            batch.append((number, client_id, day, minor))
                            continue
                        # Unchanged: the same values, the posting state (QuickBooks') whatever it is.
                        stored = old[1]
                        if stored[:4] == (client_id, None, day, minor) and stored[6] is None:
                            remember(number)
                            self.unchanged += 1
                            continue
            # The general path: anything unusual, including every error.
            new = self.general(careful, values, shape, batch)
            if new is not None:
                if shape is not self.all or len(batch) >= BATCH:
                    shape, batch = self.all, self.flush(shape, batch)
                batch.append(self.all.bound(tuple(new[name] for name in ALL)))
        self.flush(shape, batch)
        progress(read)

    # --- texts seen for the first time: checked as the general path checks them, then remembered ------------

    def _client(self, client_id: str) -> tuple[str, dict[str, int]] | None:
        """A client the file names for the first time, if the general path's checks (trimmed, not too long) would
        find it as it is."""
        currency = self._currencies.get(client_id)
        if currency is None or client_id != client_id.strip() or len(client_id) > reader.MAX_LENGTH["client_id"]:
            return None
        entry = self._clients[client_id] = (currency, self._amounts.setdefault(currency, {}))
        return entry

    def _day(self, text: str) -> Any:
        try:
            day = self._bind(reader.parse_day(text.strip()))
        except ValueError:
            return None
        if len(self._days) < MEMO_LIMIT:
            self._days[text] = day
        return day

    def _amount(self, client: tuple[str, dict[str, int]], text: str) -> int:
        try:
            minor = parse_amount(text, client[0])
        except InvalidAmount:
            return 0
        if len(client[1]) < MEMO_LIMIT:
            client[1][text] = minor
        return minor
