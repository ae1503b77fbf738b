"""Moving a credit application to another invoice of the same client: a (partial) reversal on one invoice and an
application on the other, in one unit of work, so there is never half a move.

Locks: the client first, then both invoices in id order (as every writer locks client before invoice), so two
moves between the same two invoices in opposite directions cannot deadlock. The wallet's available credit does not
change; both invoices' balances do, and each gets its own history line. R4 holds for both invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger import approvals, history, idempotency
from ledger.approvals import WriteRequest
from ledger.errors import (
    ExceedsBalanceDue,
    MoveToOtherClient,
    MoveToSameInvoice,
    NotAnApplication,
    ReversalExceedsApplication,
    UnknownApplication,
)
from ledger.idempotency import result_to_store
from ledger.kinds import PaymentKind
from ledger.lookup import find_invoice
from ledger.money import decimal_str, format_money, parse_amount
from ledger.operations import (
    _PAYMENT_BY_ID,
    _Bill,
    _insert_application,
    _lock_bill,
    _refuse_if_posted,
    _with,
    live_application,
    lock_wallet,
    reverse_part,
)
from ledger.unit import Unit, statement

_CLIENT_NAME = statement("SELECT name FROM client WHERE id = ?")


@dataclass(frozen=True)
class MoveResult:
    application_id: int
    reversal_id: int
    new_application_id: int
    remaining_application_id: int | None
    from_invoice: str
    to_invoice: str
    client_id: str
    client_name: str
    currency: str
    amount_minor: int
    available_minor: int
    from_balance_due_before_minor: int
    from_balance_due_after_minor: int
    to_balance_due_before_minor: int
    to_balance_due_after_minor: int
    replayed: bool = False


def move_application(
    unit: Unit, application_id: int, invoice: str, by: WriteRequest, amount: str | Decimal | None = None,
    reason: str = "",
) -> MoveResult:  # fmt: skip
    """Move an application (or `amount` of it) to another unposted invoice of the same client."""
    params: dict[str, Any] = {"application_id": int(application_id), "invoice": invoice}
    if amount is not None:
        params["amount"] = str(amount)
    payment = unit.row(_PAYMENT_BY_ID, (int(application_id),))
    if payment is None:
        raise UnknownApplication(application_id)
    payment_id, source_id, client_id, kind, _ = payment
    target_ref = find_invoice(unit, invoice)
    wallet = lock_wallet(unit, client_id)
    if target_ref.client_id != client_id:
        other = unit.one(_CLIENT_NAME, (target_ref.client_id,))[0]
        raise MoveToOtherClient(payment_id, wallet.name, target_ref.number, other)
    source, target = _lock_both(unit, source_id, target_ref.id, client_id)
    if (replay := idempotency.stored_result(unit, by.key, "move_application", params)) is not None:
        return MoveResult(**replay, replayed=True)
    if kind != PaymentKind.ACCOUNT_CREDIT.value:
        raise NotAnApplication(payment_id, kind)
    if source.id == target.id:
        raise MoveToSameInvoice(payment_id, source.number)
    _refuse_if_posted(source)
    _refuse_if_posted(target)
    link_id, link_minor, project_id = live_application(unit, payment_id)
    money = wallet.currency
    part = link_minor if amount is None else parse_amount(amount, money)
    if part > link_minor:
        raise ReversalExceedsApplication(payment_id, format_money(part, money), format_money(link_minor, money))
    if part > target.balance_due_minor:
        due = format_money(max(target.balance_due_minor, 0), money)
        raise ExceedsBalanceDue(format_money(part, money), due, target.number)
    again: dict[str, Any] = {"application_id": payment_id, "invoice": target.number, "reason": reason}
    if amount is not None:
        again["amount"] = decimal_str(part, money)
    what = (
        f"move {format_money(part, money)} of credit application #{payment_id} from invoice {source.number} to "
        f"{target.number} ({wallet.name})"
    )
    approved = approvals.check(unit, by, approvals.MOVE, wallet.id, money, part, again, what)
    source_before, target_before = source.balance_due_minor, target.balance_due_minor
    reversal_id, remainder_id = reverse_part(unit, wallet, source, link_id, link_minor, part, project_id, by.actor,
                                             reason or f"moved to invoice {target.number}")  # fmt: skip
    new_id = _insert_application(unit, wallet, target, part, project_id, by.actor)
    result = MoveResult(
        application_id=payment_id,
        reversal_id=reversal_id,
        new_application_id=new_id,
        remaining_application_id=remainder_id,
        from_invoice=source.number,
        to_invoice=target.number,
        client_id=wallet.id,
        client_name=wallet.name,
        currency=money,
        amount_minor=part,
        available_minor=wallet.available_credit_minor,
        from_balance_due_before_minor=source_before,
        from_balance_due_after_minor=source.balance_due_minor,
        to_balance_due_before_minor=target_before,
        to_balance_due_after_minor=target.balance_due_minor,
    )
    detail = _with(reason or f"credit application #{payment_id} moved", approved)
    for bill, before, applied, subject in (
        (source, source_before, -part, f"payment:{link_id}"),
        (target, target_before, part, f"payment:{new_id}"),
    ):
        history.record(unit, history.Line(
            by.actor, "move_application", client_id=wallet.id, invoice_id=bill.id, subject=subject,
            before={"balance_due": decimal_str(before, money)},
            after={"balance_due": decimal_str(bill.balance_due_minor, money),
                   "credit_applied": decimal_str(applied, money),
                   "available_credit": decimal_str(wallet.available_credit_minor, money)},
            detail=detail))  # fmt: skip
    idempotency.remember(unit, by.key, "move_application", params, result_to_store(result))
    return result


def _lock_both(unit: Unit, source_id: int, target_id: int, client_id: str) -> tuple[_Bill, _Bill]:
    """Both invoices locked in id order (the client is locked already)."""
    if source_id == target_id:
        bill = _lock_bill(unit, source_id, client_id)
        return bill, bill
    first, second = sorted((source_id, target_id))
    locked = {first: _lock_bill(unit, first, client_id), second: _lock_bill(unit, second, client_id)}
    return locked[source_id], locked[target_id]
