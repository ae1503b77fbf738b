"""Apply a client's credit over its open invoices at once, oldest first or largest first, in one unit of work.

Only unposted invoices are planned (R4: a posted invoice's credits are QuickBooks'); each planned invoice gets one
AccountCredit application of min(credit left, balance due), so neither the wallet nor any invoice goes below zero.
A dry run returns the same plan and writes nothing. The approval rule counts the whole run as one write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger import approvals, idempotency
from ledger.approvals import WriteRequest
from ledger.errors import NothingToApplyAll
from ledger.idempotency import result_to_store
from ledger.kinds import OPEN_INVOICE_SQL
from ledger.lookup import find_client
from ledger.money import decimal_str, format_money
from ledger.operations import _insert_application, _lock_bill, _record_balance_change, _with, lock_wallet
from ledger.unit import Unit, statement

OLDEST_FIRST, LARGEST_FIRST = "oldest-first", "largest-first"
ORDERS = (OLDEST_FIRST, LARGEST_FIRST)

_OPEN = statement(
    "SELECT id, number, issued_on, total_minor - cash_paid_minor - credits_applied_minor - qb_credit_memos_minor, "
    f"posted_to_qb_at FROM invoice WHERE client_id = ? AND {OPEN_INVOICE_SQL}"
)


@dataclass(frozen=True)
class ApplyAllResult:
    client_id: str
    client_name: str
    currency: str
    order: str
    dry_run: bool
    # One per planned invoice: {"invoice_number", "amount_minor", "balance_due_before_minor",
    # "balance_due_after_minor", "application_id" (None in a dry run)}.
    lines: list[dict[str, Any]] = field(default_factory=list)
    total_minor: int = 0
    available_before_minor: int = 0
    available_after_minor: int = 0
    posted_skipped: int = 0
    replayed: bool = False


def apply_all(
    unit: Unit, client: str, by: WriteRequest, order: str = OLDEST_FIRST, dry_run: bool = False
) -> ApplyAllResult:
    params = {"client": client, "order": order}
    if order not in ORDERS:
        raise ValueError(order)
    wallet = lock_wallet(unit, find_client(unit, client).id)
    if not dry_run and (replay := idempotency.stored_result(unit, by.key, "apply_all", params)) is not None:
        return ApplyAllResult(**replay, replayed=True)
    rows = [(i, n, unit.read_day(d), due, posted) for i, n, d, due, posted in unit.rows(_OPEN, (wallet.id,))]
    posted = sum(1 for *_, due, at in rows if at is not None and due > 0)
    payable = [row for row in rows if row[4] is None and row[3] > 0]
    if order == OLDEST_FIRST:
        payable.sort(key=lambda row: (row[2], row[1]))
    else:
        payable.sort(key=lambda row: (-row[3], row[2], row[1]))
    available = wallet.available_credit_minor
    if available <= 0:
        raise NothingToApplyAll(wallet.name, "it has no credit available")
    if not payable:
        why = "its open invoices are all posted to QuickBooks" if posted else "it has no open invoices"
        raise NothingToApplyAll(wallet.name, why)
    plan, left = [], available
    for invoice_id, number, _, due, _ in payable:
        if left <= 0:
            break
        part = min(left, due)
        plan.append((invoice_id, number, due, part))
        left -= part
    total = available - left
    lines = [
        {"invoice_number": n, "amount_minor": part, "balance_due_before_minor": due,
         "balance_due_after_minor": due - part, "application_id": None}
        for _, n, due, part in plan
    ]  # fmt: skip
    result = ApplyAllResult(wallet.id, wallet.name, wallet.currency, order, dry_run, lines, total, available,
                            available - total, posted)  # fmt: skip
    if dry_run:
        return result
    money = wallet.currency
    again = {"client": wallet.id, "order": order}
    what = f"apply {format_money(total, money)} of {wallet.name}'s credit over {len(plan)} open invoice(s)"
    approved = approvals.check(unit, by, approvals.APPLY_ALL, wallet.id, money, total, again, what)
    for line, (invoice_id, _number, _, part) in zip(lines, plan, strict=True):
        bill = _lock_bill(unit, invoice_id, wallet.id)
        available_before, due_before = wallet.available_credit_minor, bill.balance_due_minor
        line["application_id"] = _insert_application(unit, wallet, bill, part, None, by.actor)
        _record_balance_change(unit, by.actor, "apply_all", f"payment:{line['application_id']}", wallet, bill,
                               available_before, due_before, part, _with(f"apply-all {order}", approved))  # fmt: skip
    idempotency.remember(unit, by.key, "apply_all", params, result_to_store(result))
    return result


def plan_text(result: ApplyAllResult) -> list[str]:
    """One line per planned invoice, as Slack and the CLI show them."""
    money = result.currency
    return [
        f"{line['invoice_number']}: {format_money(line['amount_minor'], money)} "
        f"(balance due {format_money(line['balance_due_before_minor'], money)} → "
        f"{format_money(line['balance_due_after_minor'], money)})"
        for line in result.lines
    ]


def as_json(result: ApplyAllResult) -> dict[str, Any]:
    money = result.currency
    return {
        "client": {"id": result.client_id, "name": result.client_name, "currency": money},
        "order": result.order,
        "dry_run": result.dry_run,
        "applications": [
            {
                "invoice_number": line["invoice_number"],
                "amount": decimal_str(line["amount_minor"], money),
                "balance_due": decimal_str(line["balance_due_after_minor"], money),
                "application_id": line["application_id"],
            }
            for line in result.lines
        ],
        "total_applied": decimal_str(result.total_minor, money),
        "available_credit": decimal_str(result.available_after_minor, money),
        "posted_skipped": result.posted_skipped,
        "replayed": result.replayed,
    }
