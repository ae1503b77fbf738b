"""Checking a ledger: every running total recomputed from the entries, for `creditbot db check` and after a restore.

The running columns (a client's credits issued and applied, an invoice's cash, credits and credit memos) are kept
by every write in the same transaction as its entries; this recomputes them from the entries alone and lists
every difference, so a restored or suspect database can be trusted again, or not.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.totals import stored_totals, totals_from_entries
from ledger.unit import Unit

CLIENT_COLUMNS = ("credits_issued_minor", "credits_applied_minor")
INVOICE_COLUMNS = ("cash_paid_minor", "credits_applied_minor", "qb_credit_memos_minor")


@dataclass(frozen=True)
class TotalDifference:
    """One running total that disagrees with its entries."""

    table: str  # "client" or "invoice"
    row: str  # the client's id or the invoice's id
    column: str
    stored: int
    from_entries: int

    def as_json(self) -> dict[str, object]:
        return {"table": self.table, "id": self.row, "column": self.column, "stored": self.stored,
                "from_entries": self.from_entries}  # fmt: skip


@dataclass(frozen=True)
class CheckReport:
    clients: int
    invoices: int
    differences: list[TotalDifference]

    @property
    def ok(self) -> bool:
        return not self.differences


def check_totals(unit: Unit) -> CheckReport:
    """Every client's and invoice's running totals against the sums of their entries.

    Its statements must read one moment: in a `db.read(snapshot=True)` unit, unless nothing writes meanwhile."""
    stored, expected = stored_totals(unit.session), totals_from_entries(unit.session)
    differences: list[TotalDifference] = []
    for table, columns, have, want in (
        ("client", CLIENT_COLUMNS, stored.clients, expected.clients),
        ("invoice", INVOICE_COLUMNS, stored.invoices, expected.invoices),
    ):
        for row in sorted(set(have) | set(want), key=str):
            for column, kept, summed in zip(columns, have.get(row, (0,) * 3), want.get(row, (0,) * 3), strict=False):
                if kept != summed:
                    differences.append(TotalDifference(table, str(row), column, kept, summed))
    return CheckReport(len(expected.clients), len(expected.invoices), differences)
