"""The ledger's writes: issue a credit, apply it to an invoice, reverse an application.

Invariants kept here, inside one short locked transaction each:
- A client's available credit (issued - applied) never goes below zero through these operations (R1).
- An invoice's balance due never goes below zero through these operations.
- A posted invoice's credits are QuickBooks' business: apply and reverse refuse it (R4).
- Taking a credit back (`revoke_credit`) is a new, negative credit entry, at most one per credit, and only while the
  wallet still holds the whole amount; nothing is updated or deleted.
- Every write is idempotent by key (R8): a retry or double click returns the first result.
Locks are always taken client first, then invoice (the QuickBooks sync too), so two writers cannot deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, bindparam, insert, update
from sqlalchemy import select as select_core
from sqlmodel import Session, select

from ledger import idempotency
from ledger.db import Database
from ledger.driver import DriverWrite, statement
from ledger.errors import (
    AlreadyReversed,
    CreditAlreadyRevoked,
    CreditAlreadyUsed,
    CreditNotRevocable,
    ExceedsBalanceDue,
    InsufficientCredit,
    InvoicePostedToQuickBooks,
    NotAnApplication,
    NothingToApply,
    UnknownApplication,
    UnknownCredit,
    UnknownInvoice,
    UnknownProject,
)
from ledger.lookup import find_client
from ledger.models import Client, Credit, HistoryEntry, Invoice, Payment, PaymentKind, Reversal, utcnow
from ledger.money import decimal_str, format_money, parse_amount

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


def issue_credit(db: Database, client: str, amount: str | Decimal, reason: str, actor: str, key: str) -> IssueResult:
    """Grant `amount` to the client's credit wallet (R1)."""
    params = {"client": client, "amount": str(amount), "reason": reason}
    with db.write() as session:
        wallet = lock_wallet(session, find_client(session, client).id)
        if (replay := idempotency.stored_result(session, key, "issue_credit", params)) is not None:
            return IssueResult(**replay, replayed=True)
        amount_minor = parse_amount(amount, wallet.currency)
        before = wallet.available_credit_minor
        credit_id = grant_credit(session, wallet, amount_minor, reason, actor)
        result = IssueResult(
            credit_id=credit_id,
            client_id=wallet.id,
            client_name=wallet.name,
            currency=wallet.currency,
            amount_minor=amount_minor,
            available_before_minor=before,
            available_after_minor=wallet.available_credit_minor,
        )
        idempotency.remember(session, key, "issue_credit", params, result_to_store(result))
        return result


def apply_credit(
    db: Database,
    invoice: str,
    amount: str | Decimal | None,
    project_tag: str | None,
    actor: str,
    key: str,
) -> ApplyResult:
    """Apply client credit to an invoice: an AccountCredit payment drawn on the client's wallet (R1, R2).

    `amount=None` applies as much as possible: the smaller of the available credit and the balance due.
    """
    params = {"invoice": invoice, "amount": None if amount is None else str(amount), "project": project_tag}
    with db.driver_write() as write:
        wallet, invoice_id = _lock_wallet_of_invoice(write, invoice)
        bill = _lock_bill(write, invoice_id, wallet.id)
        if (replay := idempotency.stored_result_on_driver(write, key, "apply_credit", params)) is not None:
            return ApplyResult(**replay, replayed=True)
        _refuse_if_posted(bill)
        project_id = _project_of_tag(write, wallet, project_tag)
        amount_minor = _amount_to_apply(wallet, bill, amount)
        available_before, due_before = wallet.available_credit_minor, bill.balance_due_minor
        now = utcnow()
        payment_id = _apply_on_driver(write, wallet, bill, amount_minor, project_id, actor, now)
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
        before, after = _balance_change(wallet, bill, available_before, due_before, amount_minor)
        write.execute(
            _INSERT_HISTORY_SQL,
            (write.time(now), actor, "apply_credit", wallet.id, bill.id, f"payment:{payment_id}",
             write.json(before), write.json(after)),
        )  # fmt: skip
        idempotency.remember_on_driver(write, key, "apply_credit", params, result_to_store(result), now)
        return result


def grant_credit(
    session: Session,
    wallet: Wallet,
    amount_minor: int,
    reason: str,
    actor: str,
    *,
    qb_payment_id: str | None = None,
    action: str = "issue_credit",
) -> int:
    """Add a credit entry to a wallet locked with `lock_wallet`, with its history; returns the credit's id.

    Shared by `issue_credit` and the entering of a QuickBooks overpayment (`qb_payment_id`, unique: at most once).
    """
    money, before = wallet.currency, wallet.available_credit_minor
    credit_id = session.execute(
        _INSERT_CREDIT,
        {"client_id": wallet.id, "amount_minor": amount_minor, "issued_on": date.today(), "reason": reason,
         "qb_payment_id": qb_payment_id, "created_by": actor, "created_at": utcnow()},
    ).scalar_one()  # fmt: skip
    _bump(session, wallet, None, issued=amount_minor)
    after = {"available_credit": decimal_str(wallet.available_credit_minor, money),
             "credit_issued": decimal_str(amount_minor, money)}  # fmt: skip
    if qb_payment_id is not None:
        after["qb_payment_id"] = qb_payment_id
    _record(session, actor, action, wallet.id, None, f"credit:{credit_id}",
            {"available_credit": decimal_str(before, money)}, after, reason)  # fmt: skip
    return credit_id


def reverse_application(db: Database, application_id: int, actor: str, key: str, reason: str = "") -> ReverseResult:
    """Undo a credit application: a reversal entry restores the wallet and the invoice's balance."""
    params = {"application_id": int(application_id)}
    with db.write() as session:
        payment = session.execute(_PAYMENT_BY_ID, {"id": int(application_id)}).first()
        if payment is None:
            raise UnknownApplication(application_id)
        payment_id, invoice_id, client_id, kind, amount_minor = payment
        wallet = lock_wallet(session, client_id)
        bill = _lock_invoice(session, invoice_id)
        if (replay := idempotency.stored_result(session, key, "reverse_application", params)) is not None:
            return ReverseResult(**replay, replayed=True)
        if kind != PaymentKind.ACCOUNT_CREDIT.value:
            raise NotAnApplication(payment_id, kind)
        _refuse_if_posted(bill)
        reversed_at = session.execute(_REVERSAL_OF, {"payment_id": payment_id}).scalar()
        if reversed_at is not None:
            raise AlreadyReversed(payment_id, reversed_at)
        available_before, due_before = wallet.available_credit_minor, bill.balance_due_minor
        reversal_id = session.execute(
            _INSERT_REVERSAL, {"payment_id": payment_id, "actor": actor, "reason": reason, "created_at": utcnow()}
        ).scalar_one()
        _bump(session, wallet, bill, applied=-amount_minor)
        result = ReverseResult(
            application_id=payment_id,
            reversal_id=reversal_id,
            invoice_number=bill.number,
            client_id=wallet.id,
            client_name=wallet.name,
            currency=wallet.currency,
            amount_minor=amount_minor,
            available_before_minor=available_before,
            available_after_minor=wallet.available_credit_minor,
            balance_due_before_minor=due_before,
            balance_due_after_minor=bill.balance_due_minor,
        )
        _record_balance_change(session, actor, "reverse_application", f"payment:{payment_id}", wallet, bill,
                               available_before, due_before, -amount_minor, reason)  # fmt: skip
        idempotency.remember(session, key, "reverse_application", params, result_to_store(result))
        return result


def revoke_credit(db: Database, credit_id: int, actor: str, key: str, reason: str = "") -> RevokeResult:
    """Take an issued credit back (the Undo of `issue_credit`): a negative credit entry of the same amount.

    The entry's `external_id` is "revokes:<credit id>", unique in the table, so a credit is taken back at most once
    even by two concurrent requests. Refused while any of the credit is spent: the wallet must still hold the whole
    amount, so available credit never goes below zero (reverse the applications first). The running total
    `credits_issued_minor` and `refresh_totals` both sum credit entries, so they agree without a special case.
    """
    params = {"credit_id": int(credit_id)}
    with db.write() as session:
        credit = session.get(Credit, int(credit_id))
        if credit is None:
            raise UnknownCredit(credit_id)
        wallet = lock_wallet(session, credit.client_id)
        if (replay := idempotency.stored_result(session, key, "revoke_credit", params)) is not None:
            return RevokeResult(**replay, replayed=True)
        if credit.amount_minor <= 0:
            raise CreditNotRevocable(_id(credit.id))
        marker = f"{REVOCATION_PREFIX}{credit.id}"
        previous = session.exec(select(Credit).where(Credit.external_id == marker)).first()
        if previous is not None:
            raise CreditAlreadyRevoked(_id(credit.id), previous.created_at)
        money = wallet.currency
        before = wallet.available_credit_minor
        if before < credit.amount_minor:
            amount, available = format_money(credit.amount_minor, money), format_money(max(before, 0), money)
            raise CreditAlreadyUsed(_id(credit.id), amount, available, wallet.name)
        revocation_id = session.execute(
            _INSERT_CREDIT,
            {"external_id": marker, "client_id": wallet.id, "amount_minor": -credit.amount_minor,
             "issued_on": date.today(), "reason": reason or f"Undo of credit #{credit.id}", "created_by": actor,
             "created_at": utcnow()},
        ).scalar_one()  # fmt: skip
        _bump(session, wallet, None, issued=-credit.amount_minor)
        result = RevokeResult(
            credit_id=_id(credit.id),
            revocation_id=revocation_id,
            client_id=wallet.id,
            client_name=wallet.name,
            currency=money,
            amount_minor=credit.amount_minor,
            available_before_minor=before,
            available_after_minor=wallet.available_credit_minor,
        )
        _record(session, actor, "revoke_credit", wallet.id, None, f"credit:{credit.id}",
                {"available_credit": decimal_str(before, money)},
                {"available_credit": decimal_str(wallet.available_credit_minor, money),
                 "credit_revoked": decimal_str(credit.amount_minor, money)},
                reason)  # fmt: skip
        idempotency.remember(session, key, "revoke_credit", params, result_to_store(result))
        return result


def record_refusal(
    db: Database, actor: str, action: str, why: str, client_id: str | None = None, invoice_id: int | None = None
) -> None:
    """Keep a refused write (e.g. a permission refusal) in the history; it changes no balance."""
    with db.write() as session:
        _record(session, actor, action, client_id, invoice_id, "", None, None, why, outcome="refused")


# --- rules ----------------------------------------------------------------------------------------------


def _refuse_if_posted(invoice: _Bill) -> None:
    if invoice.posted_to_qb_at is not None:
        raise InvoicePostedToQuickBooks(invoice.number, invoice.posted_to_qb_at)


def _project_of_tag(write: DriverWrite, client: Wallet, project_tag: str | None) -> str | None:
    """R7: a tag must name one of the client's projects; it is for reporting and never restricts the credit."""
    if project_tag is None or not project_tag.strip():
        return None
    tag = project_tag.strip()
    owner = write.row(_PROJECT_OWNER_SQL, (tag,))
    if owner is not None and owner[0] == client.id:
        return tag
    raise UnknownProject(tag, client.name, write.column(_PROJECTS_OF_CLIENT_SQL, (client.id,)))


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


# Writes are the ledger's hot path: prepared Core statements (compiled once, cached by SQLAlchemy) over plain rows,
# no ORM unit of work. FOR NO KEY UPDATE (key_share=True): writes change totals, never keys, so a concurrent insert
# of a payment that merely references the row (its foreign-key check takes KEY SHARE) need not wait.
_CLIENT, _INVOICE, _PAYMENT = Client.__table__, Invoice.__table__, Payment.__table__  # type: ignore[attr-defined]
_CREDIT, _REVERSAL, _HISTORY = Credit.__table__, Reversal.__table__, HistoryEntry.__table__  # type: ignore[attr-defined]

_LOCK_CLIENT = (
    select_core(_CLIENT.c.id, _CLIENT.c.name, _CLIENT.c.currency, _CLIENT.c.credits_issued_minor,
                _CLIENT.c.credits_applied_minor)
    .where(_CLIENT.c.id == bindparam("id"))
    .with_for_update(key_share=True)
)  # fmt: skip
_LOCK_INVOICE = (
    select_core(_INVOICE.c.id, _INVOICE.c.number, _INVOICE.c.client_id, _INVOICE.c.total_minor,
                _INVOICE.c.cash_paid_minor, _INVOICE.c.credits_applied_minor, _INVOICE.c.qb_credit_memos_minor,
                _INVOICE.c.posted_to_qb_at)
    .where(_INVOICE.c.id == bindparam("id"))
    .with_for_update(key_share=True)
)  # fmt: skip
_PAYMENT_BY_ID = select_core(
    _PAYMENT.c.id, _PAYMENT.c.invoice_id, _PAYMENT.c.client_id, _PAYMENT.c.kind, _PAYMENT.c.amount_minor
).where(_PAYMENT.c.id == bindparam("id"))
_REVERSAL_OF = select_core(_REVERSAL.c.created_at).where(_REVERSAL.c.payment_id == bindparam("payment_id"))
_INSERT_CREDIT = insert(_CREDIT).returning(_CREDIT.c.id)
_INSERT_REVERSAL = insert(_REVERSAL).returning(_REVERSAL.c.id)
_INSERT_HISTORY = insert(_HISTORY)
_BUMP_CLIENT = (
    update(_CLIENT)
    .where(_CLIENT.c.id == bindparam("b_id"))
    .values(
        credits_issued_minor=_CLIENT.c.credits_issued_minor + bindparam("issued", type_=BigInteger),
        credits_applied_minor=_CLIENT.c.credits_applied_minor + bindparam("applied", type_=BigInteger),
    )
)
_BUMP_INVOICE = (
    update(_INVOICE)
    .where(_INVOICE.c.id == bindparam("b_id"))
    .values(credits_applied_minor=_INVOICE.c.credits_applied_minor + bindparam("applied", type_=BigInteger))
)


def lock_wallet(session: Session, client_id: str) -> Wallet:
    return Wallet(*session.execute(_LOCK_CLIENT, {"id": client_id}).one())


def _lock_invoice(session: Session, invoice_id: int) -> _Bill:
    return _Bill(*session.execute(_LOCK_INVOICE, {"id": invoice_id}).one())


def _bump(session: Session, wallet: Wallet, bill: _Bill | None, issued: int = 0, applied: int = 0) -> None:
    """Move the running totals by what this write adds, in the database and in the locked views alike."""
    session.execute(_BUMP_CLIENT, {"b_id": wallet.id, "issued": issued, "applied": applied})
    wallet.credits_issued_minor += issued
    wallet.credits_applied_minor += applied
    if bill is not None:
        session.execute(_BUMP_INVOICE, {"b_id": bill.id, "applied": applied})
        bill.credits_applied_minor += applied


def _record_balance_change(
    session: Session,
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
    before, after = _balance_change(client, invoice, available_before, due_before, applied_minor)
    _record(session, actor, action, client.id, invoice.id, subject, before, after, detail)


def _balance_change(
    client: Wallet, invoice: _Bill, available_before: int, due_before: int, applied_minor: int
) -> tuple[dict[str, str], dict[str, str]]:
    """History keeps amounts as decimal strings in the client's currency, readable as they are."""
    money = client.currency
    before = {"available_credit": decimal_str(available_before, money), "balance_due": decimal_str(due_before, money)}
    after = {
        "available_credit": decimal_str(client.available_credit_minor, money),
        "balance_due": decimal_str(invoice.balance_due_minor, money),
        "credit_applied": decimal_str(applied_minor, money),
    }
    return before, after


def _record(
    session: Session,
    actor: str,
    action: str,
    client_id: str | None,
    invoice_id: int | None,
    subject: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    detail: str,
    outcome: str = "done",
) -> None:
    session.execute(
        _INSERT_HISTORY,
        {
            "at": utcnow(),
            "actor": actor,
            "action": action,
            "outcome": outcome,
            "client_id": client_id,
            "invoice_id": invoice_id,
            "subject": subject,
            "before": before,
            "after": after,
            "detail": detail,
        },
    )


# --- applying credit on the driver connection -------------------------------------------------------------
# The hottest write runs as plain SQL on the driver connection (ledger/driver.py): the Core statements above, spelled
# out. The wallet is locked through the invoice's number, so finding the invoice costs no statement of its own (it
# used to be read twice); the invoice is locked next, keeping the client-then-invoice order.
_WALLET_COLUMNS = (
    "SELECT invoice.id, client.id, client.name, client.currency, client.credits_issued_minor, "
    "client.credits_applied_minor FROM invoice JOIN client ON client.id = invoice.client_id WHERE "
)
_LOCK_WALLET_OF_INVOICE_SQL = statement(_WALLET_COLUMNS + "invoice.number = ?", "FOR NO KEY UPDATE OF client")
# As typed, else case-insensitively (as `find_invoice` finds one).
_LOCK_WALLET_OF_INVOICE_ANY_CASE_SQL = statement(
    _WALLET_COLUMNS + "upper(invoice.number) = ? LIMIT 1", "FOR NO KEY UPDATE OF client"
)
_LOCK_BILL_SQL = statement(
    "SELECT number, total_minor, cash_paid_minor, credits_applied_minor, qb_credit_memos_minor, posted_to_qb_at "
    "FROM invoice WHERE id = ?",
    "FOR NO KEY UPDATE",
)
_PROJECT_OWNER_SQL = statement("SELECT client_id FROM project WHERE id = ?")
_PROJECTS_OF_CLIENT_SQL = statement("SELECT id FROM project WHERE client_id = ? ORDER BY id")
_INSERT_APPLICATION_SQL = statement(
    "INSERT INTO payment (invoice_id, client_id, kind, amount_minor, received_on, created_at, project_id, created_by) "
    f"VALUES (?, ?, '{PaymentKind.ACCOUNT_CREDIT.value}', ?, ?, ?, ?, ?) RETURNING id"
)
_APPLY_TO_CLIENT_SQL = statement("UPDATE client SET credits_applied_minor = credits_applied_minor + ? WHERE id = ?")
_APPLY_TO_INVOICE_SQL = statement("UPDATE invoice SET credits_applied_minor = credits_applied_minor + ? WHERE id = ?")
_INSERT_HISTORY_SQL = statement(
    "INSERT INTO history (at, actor, action, outcome, client_id, invoice_id, subject, before, after, detail) "
    "VALUES (?, ?, ?, 'done', ?, ?, ?, ?, ?, '')"
)


def _lock_wallet_of_invoice(write: DriverWrite, number: str) -> tuple[Wallet, int]:
    """The locked wallet of the client an invoice bills, and the invoice's id; UnknownInvoice when none matches."""
    text = number.strip()
    row = write.row(_LOCK_WALLET_OF_INVOICE_SQL, (text,))
    if row is None:
        row = write.row(_LOCK_WALLET_OF_INVOICE_ANY_CASE_SQL, (text.upper(),))
    if row is None:
        raise UnknownInvoice(text)
    return Wallet(*row[1:]), row[0]


def _lock_bill(write: DriverWrite, invoice_id: int, client_id: str) -> _Bill:
    number, total, cash, credits, memos, posted_at = write.one(_LOCK_BILL_SQL, (invoice_id,))
    return _Bill(invoice_id, number, client_id, total, cash, credits, memos, write.read_time(posted_at))


def _apply_on_driver(
    write: DriverWrite, wallet: Wallet, bill: _Bill, amount_minor: int, project_id: str | None, actor: str,
    now: datetime,
) -> int:  # fmt: skip
    """The AccountCredit payment and both running totals, in the database and in the locked views; its id."""
    payment = (bill.id, wallet.id, amount_minor, write.day(date.today()), write.time(now), project_id, actor)
    payment_id = write.one(_INSERT_APPLICATION_SQL, payment)[0]
    write.execute(_APPLY_TO_CLIENT_SQL, (amount_minor, wallet.id))
    write.execute(_APPLY_TO_INVOICE_SQL, (amount_minor, bill.id))
    wallet.credits_applied_minor += amount_minor
    bill.credits_applied_minor += amount_minor
    return payment_id


def result_to_store(result: Any) -> dict[str, Any]:
    """A write's result as its idempotency key keeps it: every field but `replayed`.

    The results hold plain values only, so a shallow copy does (asdict's deep copy cost more than the JSON dump)."""
    return {name: value for name, value in vars(result).items() if name != "replayed"}


def _id(value: int | None) -> int:
    assert value is not None, "the row was flushed, so it has an id"
    return value
