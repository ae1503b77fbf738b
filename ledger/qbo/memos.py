"""Applying a QuickBooks credit memo to a posted invoice, in QuickBooks, exactly once (R4 turned into an action).

A posted invoice's credits are QuickBooks' business (R4), so creditbot does it there: a $0 `Payment` whose two
lines link the credit memo and the invoice. The ledger records nothing but the pending action (`qbo_memo_action`);
the poll or a webhook brings the payment back as the invoice's `QBCreditMemo` payment (R5), once.

Exactly once:
- One action per request key (unique `request_key`): a retried or double-clicked request finds the first action.
- The POST carries `requestid`, derived from the request key, so QuickBooks creates one payment however often it
  is sent (a lost answer, two instances sending the same pending action, a retry after a 5xx).
- Above the approval threshold the action waits for a second billing admin (ledger/approvals.py); approving it
  records it with the approval's key, and the next poll sends what is still pending.
Refusals say what QuickBooks said: a memo with less left than asked, an invoice already paid, its Fault quoted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from ledger import approvals, history, operations
from ledger.approvals import WriteRequest
from ledger.db import Database
from ledger.errors import IdempotencyConflict, UnknownInvoice
from ledger.money import decimal_str, format_money, parse_amount
from ledger.qbo.api import QBOApi
from ledger.qbo.errors import (
    CreditMemoTooSmall,
    InvoiceNotInQuickBooks,
    InvoicePaidInQuickBooks,
    MemoApplicationAlreadyWaiting,
    MemoApplicationWaiting,
    MoreThanInvoiceOwes,
    NoOpenCreditMemos,
    OverpaymentTooSmall,
    QuickBooksRefused,
    QuickBooksUnavailable,
    UnknownCreditMemo,
    UnknownQBOverpayment,
)
from ledger.unit import Unit, statement

APPLY_MEMO = "apply_qb_credit_memo"
APPLY_OVERPAYMENT = "apply_qb_overpayment"
CREDIT_MEMO, PAYMENT = "CreditMemo", "Payment"
PENDING, SENT, REFUSED = "pending", "sent", "refused"
ALREADY = " (Already done with this request; nothing changed.)"


@dataclass(frozen=True)
class OpenMemo:
    qb_id: str
    doc_number: str | None
    remaining_minor: int

    @property
    def label(self) -> str:
        return self.doc_number or self.qb_id


@dataclass(frozen=True)
class MemoTarget:
    """A posted invoice as QuickBooks shows it now, and its client's open credit memos there."""

    invoice_number: str
    qb_invoice_id: str
    client_id: str
    client_name: str
    qb_customer_id: str
    currency: str
    balance_minor: int
    memos: tuple[OpenMemo, ...]


@dataclass(frozen=True)
class MemoApplication:
    action_id: int
    invoice_number: str
    qb_credit_memo_id: str
    amount_minor: int
    currency: str
    client_name: str
    status: str
    qb_payment_id: str | None = None
    detail: str | None = None
    replayed: bool = False
    source: str = "CreditMemo"  # or "Payment": an overpayment's unapplied money

    def __str__(self) -> str:
        return sentence(self)

    def as_json(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "invoice_number": self.invoice_number,
            "credit_memo": self.qb_credit_memo_id,
            "amount": decimal_str(self.amount_minor, self.currency),
            "currency": self.currency,
            "status": self.status,
            "qb_payment_id": self.qb_payment_id,
            "replayed": self.replayed,
        }


def sentence(done: MemoApplication) -> str:
    amount = format_money(done.amount_minor, done.currency)
    source = _source_words(done.source, done.qb_credit_memo_id)
    if done.status == SENT and done.source == PAYMENT:
        return (
            f"Applied {amount} of {source} to invoice {done.invoice_number} in QuickBooks. It comes back here as a "
            "payment received in QuickBooks with the next sync." + (ALREADY if done.replayed else "")
        )
    if done.status == SENT:
        return (
            f"Applied {amount} of {source} to invoice {done.invoice_number} "
            f"in QuickBooks (QuickBooks payment {done.qb_payment_id}). It comes back here as a QuickBooks credit memo "
            "payment with the next sync." + (ALREADY if done.replayed else "")
        )
    if done.status == REFUSED:
        return done.detail or f"QuickBooks refused to apply {source}."
    return (
        f"Applying {amount} of {source} to invoice {done.invoice_number} is "
        "recorded; it is sent to QuickBooks now, or with the next poll."
    )


# --- reading QuickBooks -------------------------------------------------------------------------------------

_INVOICE = statement(
    "SELECT invoice.number, invoice.qb_invoice_id, invoice.posted_to_qb_at, client.id, client.name, "
    "client.qb_customer_id, client.currency FROM invoice JOIN client ON client.id = invoice.client_id "
    "WHERE invoice.number = ? OR upper(invoice.number) = ? ORDER BY invoice.number = ? DESC LIMIT 1"
)


def _posted_invoice(unit: Unit, number: str) -> tuple[Any, ...]:
    text = number.strip()
    row = unit.row(_INVOICE, (text, text.upper(), text))
    if row is None:
        raise UnknownInvoice(text)
    if row[1] is None or row[2] is None or not row[5]:
        raise InvoiceNotInQuickBooks(row[0])
    return row


def memo_target(db: Database, api: QBOApi, invoice_number: str) -> MemoTarget:
    """The invoice's balance and its client's credit memos with credit left, read live from QuickBooks."""
    with db.read() as unit:
        number, qb_invoice_id, _, client_id, client_name, customer, currency = _posted_invoice(unit, invoice_number)
    invoice = api.read("Invoice", qb_invoice_id).get("Invoice") or {}
    balance = parse_amount(Decimal(str(invoice.get("Balance", 0))), currency, allow_zero=True)
    sql = f"SELECT * FROM CreditMemo WHERE CustomerRef = '{customer}' MAXRESULTS 1000"
    listed = api.query(sql, f"read {client_name}'s credit memos in QuickBooks").get("QueryResponse") or {}
    memos = []
    for raw in listed.get("CreditMemo") or []:
        left = parse_amount(Decimal(str(raw.get("RemainingCredit") or 0)), currency, allow_zero=True)
        if left > 0:
            memos.append(OpenMemo(str(raw["Id"]), raw.get("DocNumber"), left))
    memos.sort(key=lambda memo: (len(memo.qb_id), memo.qb_id))
    return MemoTarget(number, qb_invoice_id, client_id, client_name, customer, currency, balance, tuple(memos))


def choose(target: MemoTarget, memo_id: str | None, amount: str | None) -> tuple[OpenMemo, int]:
    """Which memo and how much, or the refusal in a billing person's words."""
    money = target.currency
    if target.balance_minor <= 0:
        raise InvoicePaidInQuickBooks(target.invoice_number)
    if not target.memos:
        raise NoOpenCreditMemos(target.client_name, target.invoice_number)
    asked = parse_amount(amount, money) if amount is not None else None
    if memo_id is not None:
        wanted = memo_id.strip()
        memo = next((m for m in target.memos if wanted in (m.qb_id, m.doc_number)), None)
        if memo is None:
            raise UnknownCreditMemo(wanted, target.client_name, [m.label for m in target.memos])
    elif asked is None:
        memo = target.memos[0]
    else:
        memo = next((m for m in target.memos if m.remaining_minor >= asked), max(target.memos, key=_left))
    amount_minor = asked if asked is not None else min(target.balance_minor, memo.remaining_minor)
    if amount_minor > memo.remaining_minor:
        raise CreditMemoTooSmall(
            memo.label, format_money(memo.remaining_minor, money), format_money(amount_minor, money)
        )
    if amount_minor > target.balance_minor:
        raise MoreThanInvoiceOwes(
            target.invoice_number, format_money(target.balance_minor, money), format_money(amount_minor, money)
        )
    return memo, amount_minor


def _left(memo: OpenMemo) -> int:
    return memo.remaining_minor


# --- the ledger's side: the pending action ------------------------------------------------------------------

_BY_KEY = statement(
    "SELECT id, invoice_number, qb_credit_memo_id, amount_minor, currency, status, qb_payment_id, detail, client_id, "
    "source FROM qbo_memo_action WHERE request_key = ?"
)
_BY_ID = statement(
    "SELECT id, invoice_number, qb_credit_memo_id, amount_minor, currency, status, qb_payment_id, detail, client_id, "
    "request_key, qb_invoice_id, source FROM qbo_memo_action WHERE id = ?"
)
_INSERT = statement(
    "INSERT INTO qbo_memo_action (request_key, client_id, invoice_number, qb_invoice_id, qb_credit_memo_id, "
    "amount_minor, currency, actor, approved_by, source, status, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?) RETURNING id"
)
_FINISH = statement(
    "UPDATE qbo_memo_action SET status = ?, qb_payment_id = COALESCE(?, qb_payment_id), detail = ?, sent_at = ? "
    "WHERE id = ? AND status = 'pending'"
)
_WAITING = statement(
    "SELECT id FROM qbo_memo_action WHERE invoice_number = ? AND qb_credit_memo_id = ? AND source = ? "
    "AND status = 'pending' ORDER BY id LIMIT 1"
)
_PENDING = statement("SELECT id FROM qbo_memo_action WHERE status = 'pending' ORDER BY id LIMIT 50")
_CLIENT_NAME = statement("SELECT name, qb_customer_id FROM client WHERE id = ?")


def recorded(db: Database, request_key: str) -> MemoApplication | None:
    """The action a request key already recorded (a retry or a double click), if any."""
    with db.read() as unit:
        found = unit.row(_BY_KEY, (request_key,))
        if found is None:
            return None
        name = unit.one(_CLIENT_NAME, (found[8],))[0]
    return _application(found, name, replayed=True)


def record_memo_application(unit: Unit, invoice: str, memo: str, amount: str, by: WriteRequest) -> MemoApplication:
    """Record the pending action (once per request key), after the approval rule; nothing is sent here."""
    return _record(unit, CREDIT_MEMO, invoice, memo, amount, by)


def record_overpayment_application(
    unit: Unit, invoice: str, qb_payment: str, amount: str, by: WriteRequest
) -> MemoApplication:
    """The same for a QuickBooks payment's unapplied money (an overpayment, R6) applied to a posted invoice there."""
    return _record(unit, PAYMENT, invoice, qb_payment, amount, by)


def _record(unit: Unit, source: str, invoice: str, source_id: str, amount: str, by: WriteRequest) -> MemoApplication:
    number, qb_invoice_id, _, client_id, client_name, _, currency = _posted_invoice(unit, invoice)
    amount_minor = parse_amount(amount, currency)
    operations.lock_wallet(unit, client_id)  # before the key is looked up: two clicks at once find one action
    if (found := unit.row(_BY_KEY, (by.key,))) is not None:
        if (found[1], found[2], found[3]) != (number, source_id, amount_minor):
            raise IdempotencyConflict(by.key)
        return _application(found, client_name, replayed=True)
    if (waiting := unit.row(_WAITING, (number, source_id, source))) is not None:
        # A new request while QuickBooks has not answered the last one: sent both, the memo would apply twice.
        raise MemoApplicationAlreadyWaiting(f"{_source_words(source, source_id)} to invoice {number}", waiting[0])
    action = APPLY_MEMO if source == CREDIT_MEMO else APPLY_OVERPAYMENT
    key = "memo" if source == CREDIT_MEMO else "qb_payment"
    params = {"invoice": number, key: source_id, "amount": decimal_str(amount_minor, currency)}
    what = f"Applying {format_money(amount_minor, currency)} of {_source_words(source, source_id)} to invoice {number}"
    approved = approvals.check(unit, by, action, client_id, currency, amount_minor, params, what)
    values = (by.key, client_id, number, qb_invoice_id, source_id, amount_minor, currency, by.actor, by.approved_by)
    action_id = unit.one(_INSERT, (*values, source, unit.time(unit.now)))[0]
    detail = f"{_source_words(source, source_id)} to apply in QuickBooks" + (f" ({approved})" if approved else "")
    line = history.Line(by.actor, action, client_id=client_id, subject=f"qbo_memo_action:{action_id}",
                        after={"amount": params["amount"], key: source_id}, detail=detail)  # fmt: skip
    history.record(unit, line)
    return _application(unit.one(_BY_ID, (action_id,)), client_name)


def _source_words(source: str, source_id: str) -> str:
    return (
        f"QuickBooks credit memo {source_id}"
        if source == CREDIT_MEMO
        else f"the overpayment on QuickBooks payment {source_id}"
    )


# An approved request carries the action out like the other gated writes (ledger/operations.py).
operations.APPROVABLE.setdefault(APPLY_MEMO, record_memo_application)
operations.APPROVABLE.setdefault(APPLY_OVERPAYMENT, record_overpayment_application)


def request_id_for(request_key: str) -> str:
    """QuickBooks' `requestid` for a request key: the same click always gives the same id."""
    return "creditbot-" + hashlib.sha256(request_key.encode("utf-8")).hexdigest()[:40]


def send(db: Database, api: QBOApi, action_id: int) -> MemoApplication:
    """Create the QuickBooks payment of a pending action (once: see the module docstring)."""
    with db.read() as unit:
        row = unit.one(_BY_ID, (action_id,))
        client_name, customer = unit.one(_CLIENT_NAME, (row[8],))
    if row[5] != PENDING:
        return _application(row, client_name, replayed=True)
    _, number, source_id, amount_minor, currency, _, _, _, _, request_key, qb_invoice_id, source = row
    amount = decimal_str(amount_minor, currency)
    invoice_line = {"Amount": amount, "LinkedTxn": [{"TxnId": qb_invoice_id, "TxnType": "Invoice"}]}
    if source == CREDIT_MEMO:
        body: dict[str, Any] = {
            "CustomerRef": {"value": customer},
            "TotalAmt": 0,
            "TxnDate": date.today().isoformat(),
            "PrivateNote": f"Credit memo {source_id} applied to invoice {number} by creditbot",
            "Line": [invoice_line, {"Amount": amount, "LinkedTxn": [{"TxnId": source_id, "TxnType": "CreditMemo"}]}],
        }
        doing = f"apply credit memo {source_id} to invoice {number}"
    else:
        try:
            body = _payment_with_line(api, source_id, invoice_line, currency, amount_minor)
        except OverpaymentTooSmall as refused:
            db.transact(_finish, action_id, REFUSED, None, refused.message)
            raise
        doing = f"apply the overpayment on QuickBooks payment {source_id} to invoice {number}"
    try:
        answer = api.create_payment(body, request_id_for(request_key), doing)
    except QuickBooksRefused as refused:
        db.transact(_finish, action_id, REFUSED, None, refused.message)
        raise
    except QuickBooksUnavailable as unanswered:
        # QuickBooks may have created it all the same: the action stays pending, and its requestid makes the
        # next poll's send the same payment.
        raise MemoApplicationWaiting(doing, unanswered.why, action_id) from None
    payment_id = str((answer.get("Payment") or {}).get("Id", "")) or None
    db.transact(_finish, action_id, SENT, payment_id, None)
    with db.read() as unit:
        return _application(unit.one(_BY_ID, (action_id,)), client_name)


def _payment_with_line(
    api: QBOApi, qb_payment_id: str, line: dict[str, Any], currency: str, amount_minor: int
) -> dict[str, Any]:
    """The payment as QuickBooks has it now, plus a line paying the invoice (a sparse update at its SyncToken)."""
    payment = api.read(PAYMENT, qb_payment_id).get("Payment") or {}
    unapplied = parse_amount(Decimal(str(payment.get("UnappliedAmt") or 0)), currency, allow_zero=True)
    if unapplied < amount_minor:
        raise OverpaymentTooSmall(
            qb_payment_id, format_money(unapplied, currency), format_money(amount_minor, currency)
        )
    return {
        "Id": payment.get("Id", qb_payment_id),
        "SyncToken": payment.get("SyncToken"),
        "sparse": True,
        "CustomerRef": payment.get("CustomerRef"),
        "TotalAmt": payment.get("TotalAmt"),
        "Line": [*payment.get("Line", []), line],
    }


def open_posted_invoices(db: Database, qb_payment_id: str) -> tuple[str, list[tuple[str, int, str]]]:
    """The client of an overpayment and its posted invoices with a balance due: (number, amount to apply, currency),
    the amount being what is unapplied or the balance, whichever is smaller."""
    with db.read() as unit:
        found = unit.row(_OVERPAYMENT, (qb_payment_id,))
        if found is None:
            raise UnknownQBOverpayment(qb_payment_id)
        client_id, unapplied, currency = found
        rows = unit.rows(_OPEN_POSTED, (client_id,))
    return client_id, [(number, min(int(unapplied), int(due)), currency) for number, due in rows if due > 0]


_OVERPAYMENT = statement("SELECT client_id, amount_minor, currency FROM qb_overpayment WHERE qb_payment_id = ?")
_OPEN_POSTED = statement(
    "SELECT number, total_minor - cash_paid_minor - credits_applied_minor - qb_credit_memos_minor FROM invoice "
    "WHERE client_id = ? AND posted_to_qb_at IS NOT NULL AND qb_invoice_id IS NOT NULL ORDER BY number LIMIT 25"
)


def send_pending(db: Database, api: QBOApi) -> list[MemoApplication]:
    """Send what was recorded but not sent yet (approved later, or a crash before the POST): for the poll."""
    with db.read() as unit:
        pending = unit.column(_PENDING)
    sent = []
    for action_id in pending:
        try:
            sent.append(send(db, api, action_id))
        except (QuickBooksRefused, OverpaymentTooSmall):
            continue  # recorded on the action as refused
        except MemoApplicationWaiting:
            break  # QuickBooks is not answering: everything left waits for the next poll, which says why
    return sent


def _finish(unit: Unit, action_id: int, status: str, payment_id: str | None, detail: str | None) -> None:
    unit.execute(_FINISH, (status, payment_id, detail, unit.time(unit.now), action_id))


def _application(row: tuple[Any, ...], client_name: str, replayed: bool = False) -> MemoApplication:
    action_id, number, memo, amount_minor, currency, status, payment_id, detail = row[:8]
    return MemoApplication(
        action_id, number, memo, amount_minor, currency, client_name, status, payment_id, detail, replayed, row[-1]
    )
