"""Entering a QuickBooks overpayment as a client credit (R6), at most once per QuickBooks payment.

An overpayment made in QuickBooks never flows back by itself; the sync only notes it (`qb_overpayment`). A person
may enter it as a credit to the client's wallet. Invariants:
- At most one credit per QuickBooks payment: `credit.qb_payment_id` is unique, and the client row is locked while
  checking, so two concurrent clicks give one credit and one refusal (or a replay, with the same request key).
- `Client.credits_issued_minor` moves with the credit, in the same transaction, and the history says who did it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from ledger import idempotency
from ledger.db import Database
from ledger.models import Credit
from ledger.operations import Wallet, grant_credit, lock_wallet, result_to_store
from ledger.qbo.errors import QBOverpaymentAlreadyEntered, UnknownQBOverpayment
from ledger.qbo.models import QBOverpayment

OPERATION = "enter_qb_overpayment"


@dataclass(frozen=True)
class OverpaymentCreditResult:
    credit_id: int
    qb_payment_id: str
    client_id: str
    client_name: str
    currency: str
    amount_minor: int
    available_before_minor: int
    available_after_minor: int
    replayed: bool = False


def enter_qb_overpayment_as_credit(db: Database, qb_payment_id: str, actor: str, key: str) -> OverpaymentCreditResult:
    """Issue a credit for the overpayment on QuickBooks payment `qb_payment_id`, linked to that payment."""
    qb_payment_id = qb_payment_id.strip()
    params = {"qb_payment_id": qb_payment_id}
    with db.write() as session:
        wallet, overpayment = _lock_overpayment(session, qb_payment_id)
        if (replay := idempotency.stored_result(session, key, OPERATION, params)) is not None:
            return OverpaymentCreditResult(**replay, replayed=True)
        if wallet is None or overpayment is None:
            raise UnknownQBOverpayment(qb_payment_id)
        entered = session.exec(select(Credit).where(Credit.qb_payment_id == qb_payment_id)).first()
        if entered is not None:
            raise QBOverpaymentAlreadyEntered(qb_payment_id, _id(entered.id), entered.created_by, entered.created_at)
        before = wallet.available_credit_minor
        reason = f"Overpayment on QuickBooks payment {qb_payment_id} of {overpayment.qb_txn_date.isoformat()}"
        credit_id = grant_credit(
            session, wallet, overpayment.amount_minor, reason, actor, qb_payment_id=qb_payment_id, action=OPERATION
        )
        result = OverpaymentCreditResult(
            credit_id=credit_id,
            qb_payment_id=qb_payment_id,
            client_id=wallet.id,
            client_name=wallet.name,
            currency=wallet.currency,
            amount_minor=overpayment.amount_minor,
            available_before_minor=before,
            available_after_minor=wallet.available_credit_minor,
        )
        idempotency.remember(session, key, OPERATION, params, result_to_store(result))
        return result


def _lock_overpayment(session: Session, qb_payment_id: str) -> tuple[Wallet | None, QBOverpayment | None]:
    """The overpayment, read again once its client is locked (the sync changes it only under that lock)."""
    for _ in range(3):
        overpayment = _overpayment(session, qb_payment_id)
        if overpayment is None:
            return None, None
        wallet = lock_wallet(session, overpayment.client_id)
        overpayment = _overpayment(session, qb_payment_id)
        if overpayment is None or overpayment.client_id == wallet.id:
            return (wallet, overpayment) if overpayment else (None, None)
    return None, None  # it keeps moving between clients: refuse rather than guess


def _overpayment(session: Session, qb_payment_id: str) -> QBOverpayment | None:
    statement = select(QBOverpayment).where(QBOverpayment.qb_payment_id == qb_payment_id)
    return session.exec(statement.execution_options(populate_existing=True)).first()


def _id(value: int | None) -> int:
    assert value is not None, "the row was flushed, so it has an id"
    return value
