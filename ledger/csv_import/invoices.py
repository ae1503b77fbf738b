"""invoices.csv: ordinary rows go from CSV text straight to insert tuples (batches.py), as payments do.

A ledger has about one invoice for every ten payments, so at a million payments this is the second largest file.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from ledger.bulk import TableWriter
from ledger.csv_import import reader
from ledger.csv_import.batches import BATCH, MEMO_LIMIT, PROGRESS_EVERY, BatchedLoad, Careful, Progress
from ledger.errors import InvalidAmount
from ledger.money import parse_amount

PLAIN = ("number", "client_id", "issued_on", "total_minor")
ALL = ("number", "client_id", "project_id", "issued_on", "total_minor", "posted_to_qb_at", "qb_invoice_id",
       "updated_at")  # fmt: skip


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
        amounts: dict[str, dict[str, int]] = {currency: {} for currency in set(clients.values())}
        # Client id -> (currency, amounts memo of that currency), for the ids that the general path's checks
        # (trimmed, not too long) would find as they are.
        self._clients = {
            client_id: (currency, amounts[currency])
            for client_id, currency in clients.items()
            if client_id == client_id.strip() and len(client_id) <= reader.MAX_LENGTH["client_id"]
        }
        self._days: dict[str, Any] = {}
        self._bind_day = writer.converter("issued_on")

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
                client = clients.get(client_id)
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
                        if old[1] == (client_id, None, day, minor, None, None, None):
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

    def _day(self, text: str) -> Any:
        try:
            day = self._bind_day(reader.parse_day(text.strip()))
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
