"""payments.csv, the import's largest file: ordinary rows go from CSV text straight to insert tuples (batches.py).

A ledger export of a million payments repeats a few thousand invoices, a handful of types, a few hundred days and
amounts: each distinct text is checked once and remembered in its stored form, so an ordinary row costs a few
dictionary lookups and no row object, dict of values or conversion. The loop is written out in one method because
at a million rows every call per row shows in the import's time. Rows it does not take go the careful path here
(`_careful_payment`).
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time
from functools import lru_cache
from operator import itemgetter
from typing import Any

from ledger.bulk import TableWriter
from ledger.csv_import import reader
from ledger.csv_import.batches import BATCH, MEMO_LIMIT, PROGRESS_EVERY, BatchedLoad, Careful, Progress
from ledger.csv_import.reader import CsvTable, Row
from ledger.csv_import.run import ACTOR, Edit, ImportRun, References, known, pick, project_of
from ledger.errors import InvalidAmount
from ledger.kinds import PaymentKind
from ledger.money import parse_amount

PLAIN = ("external_id", "invoice_id", "client_id", "kind", "amount_minor", "received_on", "created_at")
ALL = (*PLAIN, "updated_at", "project_id")

IMPORTABLE_KINDS = {kind.value.lower(): kind for kind in PaymentKind if kind is not PaymentKind.QB_PAYMENT}
# Which of an invoice's running totals a kind adds to: cash paid, credits applied, QuickBooks credit memos.
_TOTAL_OF_KIND = {kind.value: 0 if kind.is_cash else 1 if kind is PaymentKind.ACCOUNT_CREDIT else 2
                  for kind in IMPORTABLE_KINDS.values()}  # fmt: skip
_CREDITS_APPLIED = 1
_TOTALS = 3  # running totals per invoice
# A plain row's updated_at and project_id, for comparing it with a stored payment.
_NO_OPTIONALS = (None, None)


def load_payments(run: ImportRun) -> None:
    """Write payments.csv's new payments and edits; ordinary rows by the fast path, the rest by `_careful_payment`."""
    refs = References(run.clients(), run.projects)
    load = run.load_batched(
        reader.PAYMENTS, "payment", "external_id", ALL[1:], {"created_by": ACTOR},
        lambda writer, existing, table: PaymentLoad(writer, refs.clients, run.invoices(), existing, table),
        lambda table, values, load, edits: _careful_payment(run, table, values, load, refs, edits),
    )  # fmt: skip
    if load is not None:
        run.new_paid = load.invoice_totals()
        run.new_applied = load.credits_applied()


def _careful_payment(
    run: ImportRun, table: CsvTable, values: list[str], load: PaymentLoad, refs: References, edits: list[Edit]
) -> dict[str, Any] | None:
    """The general path for one payments.csv row: a new payment's values, or None (a blank line, an edit...)."""
    if not table.checked(values):
        return None
    row = table.row(values)
    payment_id = run.unique_key(row, reader.PAYMENTS, "payment_id", load.seen)
    invoice_id, client_id = load.invoices[known(row, "invoice_number", load.invoices)]
    currency = refs.clients[client_id]
    new = _payment_values(row, payment_id, invoice_id, client_id, currency, refs.projects)
    stored = load.existing.get(payment_id)
    if stored is None:
        return new
    if load.stored_form(new) == stored[1]:
        load.unchanged += 1
        return None
    old = run.stored_row("payment", stored[0])
    del new["external_id"], new["created_by"]
    subject = f"payment:{payment_id}"
    edit = run.edit(old.id, pick(old, new), new, new["updated_at"], client_id, invoice_id, subject, currency)
    if edit is None:  # the same values, stored in another form
        load.unchanged += 1
        return None
    edits.append(edit)
    run.touch(invoice_id, client_id, new["kind"])
    run.touch(old.invoice_id, old.client_id, old.kind)
    return None


def _payment_values(
    row: Row, payment_id: str, invoice_id: int, client_id: str, currency: str, projects: dict[str, str]
) -> dict[str, Any]:
    kind = IMPORTABLE_KINDS.get(row.required("type").lower())
    if kind is None:
        raise row.error(
            "type",
            f"“{row.optional('type')}” is not a payment type; use one of "
            + ", ".join(k.value for k in IMPORTABLE_KINDS.values()),
        )
    received_on = row.day("received_on")
    project_id = project_of(row, client_id, projects)
    if project_id and kind is not PaymentKind.ACCOUNT_CREDIT:
        raise row.error("project_id", "a project tag is only for AccountCredit payments (credits applied)")
    return {
        "external_id": payment_id,
        "invoice_id": invoice_id,
        "client_id": client_id,
        "kind": kind.value,
        "amount_minor": row.amount("amount", currency),
        "received_on": received_on,
        "created_at": row.optional_time("created_at") or start_of(received_on),
        "updated_at": row.optional_time("updated_at"),
        "project_id": project_id,
        "created_by": ACTOR,
    }


@lru_cache(maxsize=4096)
def start_of(day: date) -> datetime:
    """A payment without created_at was entered at the start of its day, UTC (the format's default)."""
    return datetime.combine(day, time(), UTC)


class InvoiceNumbers(Mapping[str, tuple[int, str]]):
    """Invoice number -> (id, client id), for the general path, over the payments' map of the invoices."""

    def __init__(self, ordinary: dict[str, tuple], others: dict[str, tuple]) -> None:
        self._ordinary, self._others = ordinary, others

    def __getitem__(self, number: str) -> tuple[int, str]:
        entry = self._ordinary.get(number) or self._others[number]
        return entry[0], entry[1]

    def __contains__(self, number: object) -> bool:
        return number in self._ordinary or number in self._others

    def __iter__(self) -> Iterator[str]:
        yield from self._ordinary
        yield from self._others

    def __len__(self) -> int:
        return len(self._ordinary) + len(self._others)


class PaymentLoad(BatchedLoad):
    """One pass over payments.csv: new rows written in batches, the running totals they add kept per invoice."""

    def __init__(
        self,
        writer: TableWriter,
        clients: dict[str, str],
        invoices: Iterable[tuple[str, int, str]],
        existing: dict[str, tuple[int, tuple]],
        table: reader.CsvTable,
    ) -> None:
        super().__init__(writer, PLAIN, ALL, existing, table, "payment_id")
        # Invoice number -> (id, client id, client's currency, amounts memo of that currency, 3s of its totals),
        # for the numbers that the general path's checks (trimmed, not too long) would find as they are; the few
        # others in `_other_numbers`. The one map of the invoices: `invoices` (the general path's) reads both.
        self._invoices: dict[str, tuple] = {}
        self._other_numbers: dict[str, tuple] = {}
        # What the new payments add to the invoices' running totals, in one flat array of 64-bit sums: the invoice
        # in slot `s` (its entry in `_billed`) has its cash paid at 3s, credits applied at 3s+1, credit memos at
        # 3s+2. A list and a dict entry per invoice held about 200 bytes an invoice (20 MiB of a 100,000-invoice
        # ledger); a flat list of Python ints still 64 bytes an invoice paid (an int object per sum).
        self._billed: list[tuple] = []
        amounts: dict[str, dict[str, int]] = defaultdict(dict)  # by currency
        longest = reader.MAX_LENGTH["invoice_number"]
        for number, invoice_id, client_id in invoices:
            currency = clients[client_id]
            entry = (invoice_id, client_id, currency, amounts[currency], _TOTALS * len(self._billed))
            self._billed.append(entry)
            ordinary = number == number.strip() and len(number) <= longest
            (self._invoices if ordinary else self._other_numbers)[number] = entry
        self._totals = array("q", bytes(8 * _TOTALS * len(self._billed)))
        self._slot_of: dict[int, int] | None = None  # invoice id -> 3s, made if the general path takes a new row
        self.invoices = InvoiceNumbers(self._invoices, self._other_numbers)
        self._kinds: dict[str, tuple[str, int]] = {}
        self._days: dict[str, tuple[Any, Any]] = {}
        self._bind = writer.bind

    def run(self, careful: Careful, progress: Progress) -> None:
        table = self.table
        rows, width, seen, remember, existing = table.rows, table.width, self.seen, self.seen.add, self.existing
        invoices, kinds, days, totals = self._invoices, self._kinds, self._days, self._totals
        pick = itemgetter(*(table.index[name] for name in reader.PAYMENTS.required))
        optional = [table.index[name] for name in reader.PAYMENTS.optional if name in table.index]
        plain, batch, shape = self.plain, [], self.plain
        longest, read = reader.MAX_LENGTH["payment_id"], 0
        for values in rows:
            read += 1
            if read % PROGRESS_EVERY == 0:
                progress(read)
            # The fast path: every field of an ordinary row found among texts already checked.
            if len(values) == width:
                payment_id, number, kind_text, amount_text, day_text = pick(values)
                payment_id = payment_id.strip()
                invoice = invoices.get(number)
                kind = kinds.get(kind_text) or self._kind(kind_text)
                day = days.get(day_text) or self._day(day_text)
                if (
                    invoice is not None and kind is not None and day is not None
                    and 0 < len(payment_id) <= longest and payment_id not in seen and payment_id.isprintable()
                    and not (optional and any(values[position].strip() for position in optional))
                ):  # fmt: skip
                    minor = invoice[3].get(amount_text) or self._amount(invoice, amount_text)
                    if minor:
                        row = (payment_id, invoice[0], invoice[1], kind[0], minor, day[0], day[1])
                        old = existing.get(payment_id)
                        if old is None:
                            totals[invoice[4] + kind[1]] += minor
                            if shape is not plain or len(batch) >= BATCH:
                                shape, batch = plain, self.flush(shape, batch)
                            batch.append(row)
                            continue
                        if old[1] == row[1:] + _NO_OPTIONALS:
                            remember(payment_id)
                            self.unchanged += 1
                            continue
            # The general path: anything unusual, including every error.
            new = self.general(careful, values, shape, batch)
            if new is not None:
                totals[self._slot(new["invoice_id"]) + _TOTAL_OF_KIND[new["kind"]]] += new["amount_minor"]
                if shape is not self.all or len(batch) >= BATCH:
                    shape, batch = self.all, self.flush(shape, batch)
                batch.append(self.all.bound(tuple(new[name] for name in ALL)))
        self.flush(shape, batch)
        progress(read)

    def _slot(self, invoice_id: int) -> int:
        """Where an invoice's totals start in `_totals` (the general path's rows name invoices by id)."""
        if self._slot_of is None:
            self._slot_of = {billed[0]: _TOTALS * slot for slot, billed in enumerate(self._billed)}
        return self._slot_of[invoice_id]

    def invoice_totals(self) -> list[tuple[int, int, int, int]]:
        """(cash paid, credits applied, credit memos, invoice id) that the new payments add, per invoice."""
        totals, added = self._totals, []
        for start, billed in zip(range(0, len(totals), _TOTALS), self._billed, strict=True):
            paid = totals[start : start + _TOTALS]
            if any(paid):
                added.append((*paid, billed[0]))
        return sorted(added, key=itemgetter(_TOTALS))

    def credits_applied(self) -> dict[str, int]:
        """Credits applied by the new payments, per client."""
        applied: dict[str, int] = {}
        credits = self._totals[_CREDITS_APPLIED::_TOTALS]
        for billed, credited in zip(self._billed, credits, strict=True):
            if credited:
                applied[billed[1]] = applied.get(billed[1], 0) + credited
        return applied

    # --- texts seen for the first time: checked as the general path checks them, then remembered ------------

    def _kind(self, text: str) -> tuple[str, int] | None:
        kind = IMPORTABLE_KINDS.get(text.strip().lower())
        if kind is None or len(self._kinds) >= MEMO_LIMIT:
            return None
        entry = self._kinds[text] = (kind.value, _TOTAL_OF_KIND[kind.value])
        return entry

    def _day(self, text: str) -> tuple[Any, Any] | None:
        try:
            day = reader.parse_day(text.strip())
        except ValueError:
            return None
        entry = (self._bind(day), self._bind(start_of(day)))
        if len(self._days) < MEMO_LIMIT:
            self._days[text] = entry
        return entry

    def _amount(self, invoice: tuple, text: str) -> int:
        try:
            minor = parse_amount(text, invoice[2])
        except InvalidAmount:
            return 0
        if len(invoice[3]) < MEMO_LIMIT:
            invoice[3][text] = minor
        return minor
