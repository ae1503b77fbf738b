"""The ledger's writes: issue a credit, apply it to an invoice, reverse an application.

Invariants kept here, inside one short locked transaction each:
- A client's available credit (issued - applied) never goes below zero through these operations (R1).
- An invoice's balance due never goes below zero through these operations.
- A posted invoice's credits are QuickBooks' business: apply and reverse refuse it (R4).
- Taking a credit back (`revoke_credit`) is a new, negative credit entry, at most one per credit, and only while the
  wallet still holds the whole amount; nothing is updated or deleted.
- A reversal gives back at most what is still applied: a partial one reverses the row and re-applies the rest as a
  new row (`reverse_part`); each row is reversed at most once (unique), so reversals never exceed the application.
- No write draws on expired credit: locking a wallet records what expired first (ledger/credit_ops/lots.py).
- Every write is idempotent by key (R8): a retry or double click returns the first result.
- Writes that move money go through the approval rule (ledger/approvals.py) after their locks, before they write.
Locks are always taken client first, then invoice (the QuickBooks sync too), so two writers cannot deadlock.
Each operation runs in the caller's unit of work (ledger/unit.py), as plain SQL on its cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from ledger import approvals, history, idempotency
from ledger.approvals import WriteRequest
from ledger.credit_ops import lots
from ledger.errors import (
    AlreadyReversed,
    CreditAlreadyRevoked,
    CreditAlreadyUsed,
    CreditExpired,
    CreditNotRevocable,
    ExceedsBalanceDue,
    ExpiryInPast,
    InsufficientCredit,
    InvalidDate,
    InvoicePostedToQuickBooks,
    NotAnApplication,
    NothingToApply,
    ReversalExceedsApplication,
    UnknownApplication,
    UnknownCredit,
    UnknownInvoice,
    UnknownProject,
)
from ledger.idempotency import result_to_store
from ledger.kinds import CreditKind, PaymentKind
from ledger.lookup import find_client
from ledger.money import decimal_str, format_money, parse_amount
from ledger.text import NAME_CHARS, checked_text
from ledger.unit import Statement, Unit, statement
from ledger.wording import possessive

# The external id of a credit entry that takes credit #N back: "revokes:N" (unique, so at most once per credit).
REVOCATION_PREFIX = "revokes:"


@dataclass(frozen=True)
class IssueResult:
    credit_id: int
    client_id: str
    client_name: str
    currency: str
    amount_minor: int
    available_before_minor: int
    available_after_minor: int
    replayed: bool = False


@dataclass(frozen=True)
class ApplyResult:
    application_id: int
    invoice_number: str
    client_id: str
    client_name: str
    currency: str
    amount_minor: int
    project_id: str | None
    available_before_minor: int
    available_after_minor: int
    balance_due_before_minor: int
    balance_due_after_minor: int
    replayed: bool = False


@dataclass(frozen=True)
class ReverseResult:
    application_id: int
    reversal_id: int
    invoice_number: str
    client_id: str
    client_name: str
    currency: str
    amount_minor: int
    available_before_minor: int
    available_after_minor: int
    balance_due_before_minor: int
    balance_due_after_minor: int
    replayed: bool = False
    # The row the reversal entry points at (the application itself, or the remainder an earlier partial reversal
    # left), the row now carrying what is left (None: nothing), and how much that is.
    reversed_application_id: int | None = None
    remaining_application_id: int | None = None
    remaining_minor: int = 0


@dataclass(frozen=True)
class RevokeResult:
    credit_id: int
    revocation_id: int
    client_id: str
    client_name: str
    currency: str
    amount_minor: int
    available_before_minor: int
    available_after_minor: int
    replayed: bool = False


def issue_credit(
    unit: Unit, client: str, amount: str | Decimal, reason: str, by: WriteRequest, expires_on: str | date | None = None
) -> IssueResult:
    """Grant `amount` to the client's credit wallet (R1); with `expires_on`, usable through that day (lots.py)."""
    params = {"client": client, "amount": str(amount), "reason": reason}
    if expires_on is not None:
        params["expires_on"] = str(expires_on)
    wallet = lock_wallet(unit, find_client(unit, client).id)
    if (replay := idempotency.stored_result(unit, by.key, "issue_credit", params)) is not None:
        return IssueResult(**replay, replayed=True)
    amount_minor = parse_amount(amount, wallet.currency)
    expiry = _expiry_day(unit, expires_on)
    again = {"client": wallet.id, "amount": decimal_str(amount_minor, wallet.currency), "reason": reason}
    if expiry is not None:
        again["expires_on"] = expiry.isoformat()
    what = f"issue {format_money(amount_minor, wallet.currency)} of credit to {wallet.name} ({wallet.id})"
    approved = approvals.check(unit, by, approvals.ISSUE, wallet.id, wallet.currency, amount_minor, again, what)
    before = wallet.available_credit_minor
    credit_id = grant_credit(unit, wallet, amount_minor, _with(reason, approved), by.actor, expires_on=expiry)
    result = IssueResult(
        credit_id=credit_id,
        client_id=wallet.id,
        client_name=wallet.name,
        currency=wallet.currency,
        amount_minor=amount_minor,
        available_before_minor=before,
        available_after_minor=wallet.available_credit_minor,
    )
    idempotency.remember(unit, by.key, "issue_credit", params, result_to_store(result))
    return result


def apply_credit(
    unit: Unit, invoice: str, amount: str | Decimal | None, project_tag: str | None, by: WriteRequest
) -> ApplyResult:
    """Apply client credit to an invoice: an AccountCredit payment drawn on the client's wallet (R1, R2).

    `amount=None` applies as much as possible: the smaller of the available credit and the balance due.
    """
    params = {"invoice": invoice, "amount": None if amount is None else str(amount), "project": project_tag}
    wallet, invoice_id = _lock_wallet_of_invoice(unit, invoice)
    bill = _lock_bill(unit, invoice_id, wallet.id)
    if (replay := idempotency.stored_result(unit, by.key, "apply_credit", params)) is not None:
        return ApplyResult(**replay, replayed=True)
    _refuse_if_posted(bill)
    project_id = _project_of_tag(unit, wallet, project_tag)
    amount_minor = _amount_to_apply(wallet, bill, amount)
    approved = approvals.check_described(unit, by, approvals.APPLY, wallet.id, wallet.currency, amount_minor,
                                         lambda: _apply_request(wallet, bill, amount_minor, project_id))  # fmt: skip
    available_before, due_before = wallet.available_credit_minor, bill.balance_due_minor
    payment_id = _insert_application(unit, wallet, bill, amount_minor, project_id, by.actor)
    result = ApplyResult(
        application_id=payment_id,
        invoice_number=bill.number,
        client_id=wallet.id,
        client_name=wallet.name,
        currency=wallet.currency,
        amount_minor=amount_minor,
        project_id=project_id,
        available_before_minor=available_before,
        available_after_minor=wallet.available_credit_minor,
        balance_due_before_minor=due_before,
        balance_due_after_minor=bill.balance_due_minor,
    )
    _record_balance_change(unit, by.actor, "apply_credit", f"payment:{payment_id}", wallet, bill,
                           available_before, due_before, amount_minor, approved)  # fmt: skip
    idempotency.remember(unit, by.key, "apply_credit", params, result_to_store(result))
    return result


def _apply_request(
    wallet: Wallet, bill: _Bill, amount_minor: int, project_id: str | None
) -> tuple[dict[str, Any], str]:
    """An application as an approval request keeps it (its parameters) and says it (its words)."""
    again = {"invoice": bill.number, "amount": decimal_str(amount_minor, wallet.currency), "project_tag": project_id}
    money = format_money(amount_minor, wallet.currency)
    return again, f"apply {money} of {possessive(wallet.name)} credit to invoice {bill.number}"


def grant_credit(
    unit: Unit,
    wallet: Wallet,
    amount_minor: int,
    reason: str,
    actor: str,
    *,
    qb_payment_id: str | None = None,
    action: str = "issue_credit",
    expires_on: date | None = None,
) -> int:
    """Add a credit entry to a wallet locked with `lock_wallet`, with its history; returns the credit's id.

    Shared by `issue_credit` and the entering of a QuickBooks overpayment (`qb_payment_id`, unique: at most once).
    """
    money, before = wallet.currency, wallet.available_credit_minor
    credit_id = unit.one(
        _INSERT_CREDIT,
        (None, wallet.id, amount_minor, unit.day(unit.now.date()), reason, qb_payment_id, actor, unit.time(unit.now),
         CreditKind.GRANT.value, unit.day(expires_on)),
    )[0]  # fmt: skip
    _bump(unit, wallet, None, issued=amount_minor)
    if expires_on is not None:
        unit.execute(_EARLIER_EXPIRY, (unit.day(expires_on), wallet.id, unit.day(expires_on)))
    after = {"available_credit": decimal_str(wallet.available_credit_minor, money),
             "credit_issued": decimal_str(amount_minor, money)}  # fmt: skip
    if qb_payment_id is not None:
        after["qb_payment_id"] = qb_payment_id
    if expires_on is not None:
        after["expires_on"] = expires_on.isoformat()
    history.record(unit, history.Line(actor, action, client_id=wallet.id, subject=f"credit:{credit_id}",
                                      before={"available_credit": decimal_str(before, money)}, after=after,
                                      detail=reason))  # fmt: skip
    return credit_id


def reverse_application(
    unit: Unit, application_id: int, by: WriteRequest, reason: str = "", amount: str | Decimal | None = None
) -> ReverseResult:
    """Undo a credit application, wholly or `amount` of it: the credit goes back to the wallet and the invoice owes
    it again.

    A partial reversal reverses the application's live row and re-applies the rest as a new application on the same
    invoice with the same project tag (`Reversal.remainder_payment_id`); naming the first application again follows
    that chain. Each row is reversed at most once (a unique key) and every remainder is smaller than its row, so the
    reversals of one application never add up to more than it, also when two run at once.
    """
    params: dict[str, Any] = {"application_id": int(application_id)}
    if amount is not None:
        params["amount"] = str(amount)
    payment = unit.row(_PAYMENT_BY_ID, (int(application_id),))
    if payment is None:
        raise UnknownApplication(application_id)
    payment_id, invoice_id, client_id, kind, _ = payment
    wallet = lock_wallet(unit, client_id)
    bill = _lock_bill(unit, invoice_id, client_id)
    if (replay := idempotency.stored_result(unit, by.key, "reverse_application", params)) is not None:
        return ReverseResult(**replay, replayed=True)
    if kind != PaymentKind.ACCOUNT_CREDIT.value:
        raise NotAnApplication(payment_id, kind)
    _refuse_if_posted(bill)
    link_id, link_minor, project_id = live_application(unit, payment_id)
    money = wallet.currency
    part = link_minor if amount is None else parse_amount(amount, money)
    if part > link_minor:
        raise ReversalExceedsApplication(payment_id, format_money(part, money), format_money(link_minor, money))
    again: dict[str, Any] = {"application_id": payment_id, "reason": reason}
    if amount is not None:
        again["amount"] = decimal_str(part, money)
    whole = "" if part == link_minor else f"{format_money(part, money)} of "
    what = f"reverse {whole}credit application #{payment_id} ({format_money(link_minor, money)} on {bill.number})"
    approved = approvals.check(unit, by, approvals.REVERSE, wallet.id, money, part, again, what)
    available_before, due_before = wallet.available_credit_minor, bill.balance_due_minor
    reversal_id, remainder_id = reverse_part(unit, wallet, bill, link_id, link_minor, part, project_id, by.actor,
                                             reason)  # fmt: skip
    result = ReverseResult(
        application_id=payment_id,
        reversal_id=reversal_id,
        invoice_number=bill.number,
        client_id=wallet.id,
        client_name=wallet.name,
        currency=money,
        amount_minor=part,
        available_before_minor=available_before,
        available_after_minor=wallet.available_credit_minor,
        balance_due_before_minor=due_before,
        balance_due_after_minor=bill.balance_due_minor,
        reversed_application_id=link_id,
        remaining_application_id=remainder_id,
        remaining_minor=link_minor - part,
    )
    _record_balance_change(unit, by.actor, "reverse_application", f"payment:{link_id}", wallet, bill,
                           available_before, due_before, -part, _with(reason, approved))  # fmt: skip
    idempotency.remember(unit, by.key, "reverse_application", params, result_to_store(result))
    return result


def live_application(unit: Unit, application_id: int) -> tuple[int, int, str | None]:
    """The row that still carries an application: itself, or the remainder its partial reversals left
    (id, amount, project tag). AlreadyReversed when nothing of it is left."""
    current = application_id
    while (reversal := unit.row(_REVERSAL_CHAIN, (current,))) is not None:
        reversed_at, remainder_id = reversal
        if remainder_id is None:
            raise AlreadyReversed(application_id, unit.read_time(reversed_at))
        current = remainder_id
    amount_minor, project_id = unit.one(_APPLICATION_AMOUNT, (current,))
    return current, amount_minor, project_id


def reverse_part(
    unit: Unit, wallet: Wallet, bill: _Bill, link_id: int, link_minor: int, part_minor: int,
    project_id: str | None, actor: str, reason: str,
) -> tuple[int, int | None]:  # fmt: skip
    """Reverse `part_minor` of the live application row `link_id` (wallet and invoice locked): the reversal entry
    and, for a part, the remainder re-applied; both running totals move by -part. (reversal id, remainder id)."""
    remainder_id = None
    if part_minor < link_minor:
        remainder_id = _insert_application(unit, wallet, bill, link_minor - part_minor, project_id, actor)
    row = (link_id, actor, reason, unit.time(unit.now), part_minor, remainder_id)
    reversal_id = unit.one(_INSERT_REVERSAL, row)[0]
    _bump(unit, wallet, bill, applied=-link_minor)
    return reversal_id, remainder_id


def revoke_credit(unit: Unit, credit_id: int, by: WriteRequest, reason: str = "") -> RevokeResult:
    """Take an issued credit back (the Undo of `issue_credit`): a negative credit entry of the same amount.

    The entry's `external_id` is "revokes:<credit id>", unique in the table, so a credit is taken back at most once
    even by two concurrent requests. Refused while any of the credit is spent: the wallet must still hold the whole
    amount, so available credit never goes below zero (reverse the applications first). The running total
    `credits_issued_minor` and `refresh_totals` both sum credit entries, so they agree without a special case.
    """
    params = {"credit_id": int(credit_id)}
    credit = unit.row(_CREDIT_BY_ID, (int(credit_id),))
    if credit is None:
        raise UnknownCredit(credit_id)
    credit_id, client_id, credit_minor = credit
    wallet = lock_wallet(unit, client_id)
    if (replay := idempotency.stored_result(unit, by.key, "revoke_credit", params)) is not None:
        return RevokeResult(**replay, replayed=True)
    if credit_minor <= 0:
        raise CreditNotRevocable(credit_id)
    marker = f"{REVOCATION_PREFIX}{credit_id}"
    previous = unit.row(_CREDIT_BY_EXTERNAL_ID, (marker,))
    if previous is not None:
        raise CreditAlreadyRevoked(credit_id, unit.read_time(previous[0]))
    if (expired := unit.row(_CREDIT_BY_EXTERNAL_ID, (f"{lots.EXPIRY_PREFIX}{credit_id}",))) is not None:
        raise CreditExpired(credit_id, unit.read_time(expired[0]))
    money = wallet.currency
    before = wallet.available_credit_minor
    if before < credit_minor:
        amount, available = format_money(credit_minor, money), format_money(max(before, 0), money)
        raise CreditAlreadyUsed(credit_id, amount, available, wallet.name)
    again = {"credit_id": credit_id, "reason": reason}
    what = f"take back credit #{credit_id} ({format_money(credit_minor, money)} of {wallet.name})"
    approved = approvals.check(unit, by, approvals.REVOKE, wallet.id, money, credit_minor, again, what)
    revocation_id = unit.one(
        _INSERT_CREDIT,
        (marker, wallet.id, -credit_minor, unit.day(unit.now.date()), reason or f"Undo of credit #{credit_id}", None,
         by.actor, unit.time(unit.now), CreditKind.REVOCATION.value, None),
    )[0]  # fmt: skip
    _bump(unit, wallet, None, issued=-credit_minor)
    result = RevokeResult(
        credit_id=credit_id,
        revocation_id=revocation_id,
        client_id=wallet.id,
        client_name=wallet.name,
        currency=money,
        amount_minor=credit_minor,
        available_before_minor=before,
        available_after_minor=wallet.available_credit_minor,
    )
    history.record(unit, history.Line(
        by.actor, "revoke_credit", client_id=wallet.id, subject=f"credit:{credit_id}",
        before={"available_credit": decimal_str(before, money)},
        after={"available_credit": decimal_str(wallet.available_credit_minor, money),
               "credit_revoked": decimal_str(credit_minor, money)},
        detail=_with(reason, approved)))  # fmt: skip
    idempotency.remember(unit, by.key, "revoke_credit", params, result_to_store(result))
    return result


def record_refusal(
    unit: Unit, actor: str, action: str, why: str, client_id: str | None = None, invoice_id: int | None = None
) -> None:
    """Keep a refused write (e.g. a permission refusal) in the history; it changes no balance."""
    history.record(unit, history.Line(actor, action, client_id=client_id, invoice_id=invoice_id, detail=why,
                                      outcome=history.REFUSED))  # fmt: skip


# Writes an approved request can carry out: its stored parameters are the operation's keyword arguments.
APPROVABLE = {
    approvals.ISSUE: issue_credit,
    approvals.APPLY: apply_credit,
    approvals.REVERSE: reverse_application,
    approvals.REVOKE: revoke_credit,
}


def carry_out_approved(unit: Unit, request: approvals.ApprovalRequest) -> Any:
    """The write an approved request stands for, once (its key is the request's), as its requester."""
    by = WriteRequest(request.requester, request.execution_key, approved_by=request.decided_by)
    if request.action not in APPROVABLE:
        _add_credit_operations()
    return APPROVABLE[request.action](unit, **request.params, by=by)


def _add_credit_operations() -> None:
    """Issue 17's writes (ledger/credit_ops), which build on this module, so they are imported once needed."""
    from ledger.credit_ops import apply_all, reversals, wallets

    APPROVABLE.update({
        approvals.MOVE: reversals.move_application,
        approvals.TRANSFER: wallets.transfer_credit,
        approvals.REFUND: wallets.refund_credit,
        approvals.WRITE_OFF: wallets.write_off_credit,
        approvals.REINSTATE: wallets.reinstate_write_off,
        approvals.APPLY_ALL: apply_all.apply_all,
    })  # fmt: skip


def _with(reason: str, approved: str) -> str:
    return f"{reason} ({approved})" if reason and approved else reason or approved


# --- rules ----------------------------------------------------------------------------------------------


def parse_day(text: str | date, what: str = "date") -> date:
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise InvalidDate(str(text), what) from None


def _expiry_day(unit: Unit, expires_on: str | date | None) -> date | None:
    """An expiry date a new credit may carry: today or later (usable through that day)."""
    if expires_on is None or (isinstance(expires_on, str) and not expires_on.strip()):
        return None
    day = parse_day(expires_on, "expiry date")
    if day < unit.now.date():
        raise ExpiryInPast(day.isoformat(), unit.now.date().isoformat())
    return day


def _refuse_if_posted(invoice: _Bill) -> None:
    if invoice.posted_to_qb_at is not None:
        raise InvoicePostedToQuickBooks(invoice.number, invoice.posted_to_qb_at)


def _project_of_tag(unit: Unit, client: Wallet, project_tag: str | None) -> str | None:
    """R7: a tag must name one of the client's projects; it is for reporting and never restricts the credit."""
    if project_tag is None or not project_tag.strip():
        return None
    tag = project_tag.strip()
    owner = unit.row(_PROJECT_OWNER, (tag,))
    if owner is not None and owner[0] == client.id:
        return tag
    raise UnknownProject(tag, client.name, unit.column(_PROJECTS_OF_CLIENT, (client.id,)))


def _amount_to_apply(client: Wallet, invoice: _Bill, amount: str | Decimal | None) -> int:
    available, due = client.available_credit_minor, invoice.balance_due_minor
    money = client.currency
    if amount is None:
        if available <= 0:
            raise NothingToApply(invoice.number, f"{client.name} has no credit available")
        if due <= 0:
            raise NothingToApply(invoice.number, "the invoice has no balance due")
        return min(available, due)
    amount_minor = parse_amount(amount, money)
    if amount_minor > available:
        raise InsufficientCredit(format_money(amount_minor, money), format_money(max(available, 0), money), client.name)
    if amount_minor > due:
        raise ExceedsBalanceDue(format_money(amount_minor, money), format_money(max(due, 0), money), invoice.number)
    return amount_minor


# --- locking and recording ------------------------------------------------------------------------------


@dataclass
class Wallet:
    """A client's row as locked by a write (the fields the rules need); see `lock_wallet`."""

    id: str
    name: str
    currency: str
    credits_issued_minor: int
    credits_applied_minor: int
    # The earliest expiry among its unexpired credits, as stored (lots.is_due reads it).
    next_expiry_on: Any = None

    @property
    def available_credit_minor(self) -> int:
        return self.credits_issued_minor - self.credits_applied_minor


@dataclass
class _Bill:
    """An invoice's row as locked by a write."""

    id: int
    number: str
    client_id: str
    total_minor: int
    cash_paid_minor: int
    credits_applied_minor: int
    qb_credit_memos_minor: int
    posted_to_qb_at: datetime | None

    @property
    def balance_due_minor(self) -> int:
        return self.total_minor - self.cash_paid_minor - self.credits_applied_minor - self.qb_credit_memos_minor


# Every statement is plain SQL on the unit's cursor. FOR NO KEY UPDATE: writes change totals, never keys, so a
# concurrent insert of a payment that merely references the row (its foreign-key check takes KEY SHARE) need not wait.
_LOCK_CLIENT = statement(
    "SELECT id, name, currency, credits_issued_minor, credits_applied_minor, next_expiry_on FROM client WHERE id = ?",
    "FOR NO KEY UPDATE",
)
_PAYMENT_BY_ID = statement("SELECT id, invoice_id, client_id, kind, amount_minor FROM payment WHERE id = ?")
_CREDIT_BY_ID = statement("SELECT id, client_id, amount_minor FROM credit WHERE id = ?")
_CREDIT_BY_EXTERNAL_ID = statement("SELECT created_at FROM credit WHERE external_id = ?")
_INSERT_CREDIT = statement(
    "INSERT INTO credit (external_id, client_id, amount_minor, issued_on, reason, qb_payment_id, created_by, "
    "created_at, kind, expires_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
_EARLIER_EXPIRY = statement(
    "UPDATE client SET next_expiry_on = ? WHERE id = ? AND (next_expiry_on IS NULL OR next_expiry_on > ?)"
)
_INSERT_REVERSAL = statement(
    "INSERT INTO reversal (payment_id, actor, reason, created_at, amount_minor, remainder_payment_id) "
    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id"
)
_REVERSAL_CHAIN = statement("SELECT created_at, remainder_payment_id FROM reversal WHERE payment_id = ?")
_APPLICATION_AMOUNT = statement("SELECT amount_minor, project_id FROM payment WHERE id = ?")
_BUMP_CLIENT = statement(
    "UPDATE client SET credits_issued_minor = credits_issued_minor + ?, "
    "credits_applied_minor = credits_applied_minor + ? WHERE id = ?"
)
_BUMP_INVOICE = statement("UPDATE invoice SET credits_applied_minor = credits_applied_minor + ? WHERE id = ?")
# The wallet is locked through the invoice's number, so finding the invoice costs no statement of its own; the
# invoice is locked next, keeping the client-then-invoice order. On SQLite the same statement says whether the
# invoice's or the client's scope holds a live finding (ledger/scans/settle.py): when none does, the write reads no
# findings at commit. PostgreSQL answers "maybe" (TRUE) and reads them at commit, as every other write does.
_WALLET_OF_INVOICE = (
    "SELECT invoice.id, client.id, client.name, client.currency, client.credits_issued_minor, "
    "client.credits_applied_minor, client.next_expiry_on, {live} "
    "FROM invoice JOIN client ON client.id = invoice.client_id WHERE "
)
_BY_NUMBER = "invoice.number = ?"
_BY_NUMBER_ANY_CASE = "upper(invoice.number) = ? LIMIT 1"  # as typed, else case-insensitively (as `find_invoice`)


@cache
def _lock_wallet_of_invoice_statement(where: str) -> Statement:
    from ledger.scans.settle import LIVE_IN_SCOPES  # ledger.scans imports this module

    sqlite = statement(_WALLET_OF_INVOICE.format(live=LIVE_IN_SCOPES) + where)
    postgresql = statement(_WALLET_OF_INVOICE.format(live="TRUE") + where, "FOR NO KEY UPDATE OF client")
    return Statement(sqlite.sqlite, postgresql.postgresql)


_LOCK_BILL = statement(
    "SELECT number, total_minor, cash_paid_minor, credits_applied_minor, qb_credit_memos_minor, posted_to_qb_at "
    "FROM invoice WHERE id = ?",
    "FOR NO KEY UPDATE",
)
_PROJECT_OWNER = statement("SELECT client_id FROM project WHERE id = ?")
_PROJECTS_OF_CLIENT = statement("SELECT id FROM project WHERE client_id = ? ORDER BY id")
_INSERT_APPLICATION = statement(
    "INSERT INTO payment (invoice_id, client_id, kind, amount_minor, received_on, created_at, project_id, created_by) "
    f"VALUES (?, ?, '{PaymentKind.ACCOUNT_CREDIT.value}', ?, ?, ?, ?, ?) RETURNING id"
)


def lock_wallet(unit: Unit, client_id: str) -> Wallet:
    return _swept(unit, Wallet(*unit.one(_LOCK_CLIENT, (client_id,))))


def _swept(unit: Unit, wallet: Wallet) -> Wallet:
    """The locked wallet after recording what expired since the last write (lots.py); usually a date compared."""
    if unit.writes and lots.is_due(unit, wallet.next_expiry_on):
        gone = lots.expire_due(unit, wallet.id, wallet.currency, wallet.available_credit_minor)
        wallet.credits_issued_minor -= gone
        wallet.next_expiry_on = None  # stored anew by expire_due; not due again today
    return wallet


def _lock_wallet_of_invoice(unit: Unit, number: str) -> tuple[Wallet, int]:
    """The locked wallet of the client an invoice bills, and the invoice's id; UnknownInvoice when none matches."""
    text = checked_text(number.strip(), "invoice number", NAME_CHARS)
    row = unit.row(_lock_wallet_of_invoice_statement(_BY_NUMBER), (text,))
    if row is None:
        row = unit.row(_lock_wallet_of_invoice_statement(_BY_NUMBER_ANY_CASE), (text.upper(),))
    if row is None:
        raise UnknownInvoice(text)
    invoice_id, *wallet, live = row
    if not live:
        from ledger.scans.settle import nothing_to_settle  # ledger.scans imports this module

        nothing_to_settle(unit, invoice_id, wallet[0])
    return _swept(unit, Wallet(*wallet)), invoice_id


def _lock_bill(unit: Unit, invoice_id: int, client_id: str) -> _Bill:
    number, total, cash, credits, memos, posted_at = unit.one(_LOCK_BILL, (invoice_id,))
    return _Bill(invoice_id, number, client_id, total, cash, credits, memos, unit.read_time(posted_at))


def _insert_application(
    unit: Unit, wallet: Wallet, bill: _Bill, amount_minor: int, project_id: str | None, actor: str
) -> int:
    """The AccountCredit payment and both running totals, in the database and in the locked views; its id."""
    payment = (bill.id, wallet.id, amount_minor, unit.day(unit.now.date()), unit.time(unit.now), project_id, actor)
    payment_id = unit.one(_INSERT_APPLICATION, payment)[0]
    _bump(unit, wallet, bill, applied=amount_minor)
    return payment_id


def _bump(unit: Unit, wallet: Wallet, bill: _Bill | None, issued: int = 0, applied: int = 0) -> None:
    """Move the running totals by what this write adds, in the database and in the locked views alike."""
    unit.execute(_BUMP_CLIENT, (issued, applied, wallet.id))
    wallet.credits_issued_minor += issued
    wallet.credits_applied_minor += applied
    if bill is not None and applied:
        unit.execute(_BUMP_INVOICE, (applied, bill.id))
        bill.credits_applied_minor += applied
    # What this changed may resolve a finding (a reversed duplicate): settled before the unit commits.
    from ledger.scans.settle import settle_later  # ledger.scans imports this module

    settle_later(unit, bill.id if bill is not None else None, wallet.id)


def _record_balance_change(
    unit: Unit,
    actor: str,
    action: str,
    subject: str,
    client: Wallet,
    invoice: _Bill,
    available_before: int,
    due_before: int,
    applied_minor: int,
    detail: str = "",
) -> None:
    money = client.currency
    before = {"available_credit": decimal_str(available_before, money), "balance_due": decimal_str(due_before, money)}
    after = {
        "available_credit": decimal_str(client.available_credit_minor, money),
        "balance_due": decimal_str(invoice.balance_due_minor, money),
        "credit_applied": decimal_str(applied_minor, money),
    }
    history.record(unit, history.Line(actor, action, client_id=client.id, invoice_id=invoice.id, subject=subject,
                                      before=before, after=after, detail=detail))  # fmt: skip
