"""Running totals recomputed from the entries (credits, payments, reversals).

Bulk writers (the CSV import, the QuickBooks sync) insert entries and then either add what the new entries sum to
(`add_to_totals`, as the operations' own increments do) or call `refresh_totals` for what they changed; tests call
`totals_from_entries` to check that the running totals always equal the entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger.unit import Unit, statement

if TYPE_CHECKING:
    from sqlmodel import Session

_CHUNK = 500

_CASH_KINDS = "kind NOT IN ('AccountCredit', 'QBCreditMemo')"
_CREDIT_KIND = "kind = 'AccountCredit'"
_MEMO_KIND = "kind = 'QBCreditMemo'"
_LIVE = "NOT EXISTS (SELECT 1 FROM reversal r WHERE r.payment_id = p.id)"


def _paid(kind_filter: str) -> str:
    return (
        f"(SELECT COALESCE(SUM(p.amount_minor), 0) FROM payment p "
        f"WHERE p.invoice_id = invoice.id AND {kind_filter} AND {_LIVE})"
    )


_REFRESH_INVOICES = (
    f"UPDATE invoice SET cash_paid_minor = {_paid(_CASH_KINDS)}, "
    f"credits_applied_minor = {_paid(_CREDIT_KIND)}, "
    f"qb_credit_memos_minor = {_paid(_MEMO_KIND)}"
)
_REFRESH_CLIENTS = (
    "UPDATE client SET "
    "credits_issued_minor = (SELECT COALESCE(SUM(c.amount_minor), 0) FROM credit c WHERE c.client_id = client.id), "
    "credits_applied_minor = (SELECT COALESCE(SUM(p.amount_minor), 0) FROM payment p "
    f"WHERE p.client_id = client.id AND p.kind = 'AccountCredit' AND {_LIVE})"
)


_ADD_TO_INVOICES = statement(
    "UPDATE invoice SET cash_paid_minor = cash_paid_minor + ?, credits_applied_minor = credits_applied_minor + ?, "
    "qb_credit_memos_minor = qb_credit_memos_minor + ? WHERE id = ?"
)
_ADD_TO_CLIENTS = statement(
    "UPDATE client SET credits_issued_minor = credits_issued_minor + ?, "
    "credits_applied_minor = credits_applied_minor + ? WHERE id = ?"
)


def add_to_totals(
    unit: Unit, invoices: Sequence[tuple[int, int, int, int]], clients: Mapping[str, tuple[int, int]]
) -> None:
    """Add new entries' sums to the running totals, in the writer's transaction.

    `invoices`: (cash paid, credits applied, credit memos, invoice id); `clients`: client id -> (credits issued,
    credits applied). Only for new, unreversed entries: an edited entry's totals are recomputed by `refresh_totals`.
    """
    if invoices:
        unit.executemany(_ADD_TO_INVOICES, invoices)
    if clients:
        unit.executemany(_ADD_TO_CLIENTS, [(issued, applied, client_id)
                                           for client_id, (issued, applied) in sorted(clients.items())])  # fmt: skip


def refresh_totals(
    unit: Unit, invoice_ids: Iterable[int] | None = None, client_ids: Iterable[str] | None = None
) -> None:
    """Recompute the running totals of the given invoices and clients (all of them when None), in `unit` (code on
    the unit's Session flushes it first)."""
    if invoice_ids is None:
        unit.execute(statement(_ZERO_INVOICES))
        unit.execute(statement(_ALL_INVOICES))
    else:
        _refresh(unit, _REFRESH_INVOICES, "invoice.id", invoice_ids)
    _refresh(unit, _REFRESH_CLIENTS, "client.id", client_ids)


# Every invoice at once (a large import): one grouped pass over the payments instead of three correlated lookups
# per invoice. UPDATE ... FROM works on PostgreSQL and on SQLite 3.33+.
_ZERO_INVOICES = "UPDATE invoice SET cash_paid_minor = 0, credits_applied_minor = 0, qb_credit_memos_minor = 0"
_ALL_INVOICES = (
    "UPDATE invoice SET cash_paid_minor = paid.cash, credits_applied_minor = paid.credits, "
    "qb_credit_memos_minor = paid.memos FROM ("
    f"SELECT p.invoice_id, SUM(CASE WHEN p.{_CASH_KINDS} THEN p.amount_minor ELSE 0 END) AS cash, "
    f"SUM(CASE WHEN p.{_CREDIT_KIND} THEN p.amount_minor ELSE 0 END) AS credits, "
    f"SUM(CASE WHEN p.{_MEMO_KIND} THEN p.amount_minor ELSE 0 END) AS memos "
    f"FROM payment p WHERE {_LIVE} GROUP BY p.invoice_id) AS paid WHERE invoice.id = paid.invoice_id"
)


def _refresh(unit: Unit, sql: str, id_column: str, ids: Iterable[object] | None) -> None:
    if ids is None:
        unit.execute(statement(sql))
        return
    wanted = sorted(set(ids))  # type: ignore[type-var]
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        unit.execute(statement(f"{sql} WHERE {id_column} IN ({', '.join('?' * len(chunk))})"), chunk)


@dataclass(frozen=True)
class Totals:
    """Every client's and invoice's totals, as a snapshot to compare."""

    clients: dict[str, tuple[int, int]]
    invoices: dict[int, tuple[int, int, int]]


def stored_totals(session: Session) -> Totals:
    from sqlalchemy import text

    clients = session.execute(text("SELECT id, credits_issued_minor, credits_applied_minor FROM client"))
    invoices = session.execute(
        text("SELECT id, cash_paid_minor, credits_applied_minor, qb_credit_memos_minor FROM invoice")
    )
    return Totals(
        clients={row[0]: (row[1], row[2]) for row in clients},
        invoices={row[0]: (row[1], row[2], row[3]) for row in invoices},
    )


def totals_from_entries(session: Session) -> Totals:
    """The totals as the entries say they should be, computed without the running columns."""
    from sqlalchemy import text

    clients = session.execute(
        text(
            "SELECT id, "
            "(SELECT COALESCE(SUM(c.amount_minor), 0) FROM credit c WHERE c.client_id = client.id), "
            "(SELECT COALESCE(SUM(p.amount_minor), 0) FROM payment p "
            f"WHERE p.client_id = client.id AND p.kind = 'AccountCredit' AND {_LIVE}) FROM client"
        )
    )
    invoices = session.execute(
        text(f"SELECT id, {_paid(_CASH_KINDS)}, {_paid(_CREDIT_KIND)}, {_paid(_MEMO_KIND)} FROM invoice")
    )
    return Totals(
        clients={row[0]: (int(row[1]), int(row[2])) for row in clients},
        invoices={row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in invoices},
    )
