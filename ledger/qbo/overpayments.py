"""Entering a QuickBooks overpayment as a client credit (R6), at most once per QuickBooks payment.

An overpayment made in QuickBooks never flows back by itself; the sync only notes it (`qb_overpayment`). A person
may enter it as a credit to the client's wallet. Invariants:
- At most one credit per QuickBooks payment: `credit.qb_payment_id` is unique, and the client row is locked while
  checking, so two concurrent clicks give one credit and one refusal (or a replay, with the same request key).
- `Client.credits_issued_minor` moves with the credit, in the same transaction, and the history says who did it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger import idempotency
from ledger.approvals import WriteRequest
from ledger.idempotency import result_to_store
from ledger.operations import Wallet, grant_credit, lock_wallet
from ledger.qbo.errors import QBOverpaymentAlreadyEntered, UnknownQBOverpayment
from ledger.unit import Unit, statement

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


def enter_qb_overpayment_as_credit(unit: Unit, qb_payment_id: str, by: WriteRequest) -> OverpaymentCreditResult:
    """Issue a credit for the overpayment on QuickBooks payment `qb_payment_id`, linked to that payment."""
    qb_payment_id = qb_payment_id.strip()
    params = {"qb_payment_id": qb_payment_id}
    wallet, overpayment = _lock_overpayment(unit, qb_payment_id)
    if (replay := idempotency.stored_result(unit, by.key, OPERATION, params)) is not None:
        return OverpaymentCreditResult(**replay, replayed=True)
    if wallet is None or overpayment is None:
        raise UnknownQBOverpayment(qb_payment_id)
    amount_minor, txn_date = overpayment
    entered = unit.row(_ENTERED, (qb_payment_id,))
    if entered is not None:
        credit_id, created_by, created_at = entered
        raise QBOverpaymentAlreadyEntered(qb_payment_id, credit_id, created_by, unit.read_time(created_at))
    before = wallet.available_credit_minor
    reason = f"Overpayment on QuickBooks payment {qb_payment_id} of {unit.read_day(txn_date).isoformat()}"
    credit_id = grant_credit(unit, wallet, amount_minor, reason, by.actor, qb_payment_id=qb_payment_id,
                             action=OPERATION)  # fmt: skip
    result = OverpaymentCreditResult(
        credit_id=credit_id,
        qb_payment_id=qb_payment_id,
        client_id=wallet.id,
        client_name=wallet.name,
        currency=wallet.currency,
        amount_minor=amount_minor,
        available_before_minor=before,
        available_after_minor=wallet.available_credit_minor,
    )
    idempotency.remember(unit, by.key, OPERATION, params, result_to_store(result))
    return result


_OVERPAYMENT = statement("SELECT client_id, amount_minor, qb_txn_date FROM qb_overpayment WHERE qb_payment_id = ?")
_ENTERED = statement("SELECT id, created_by, created_at FROM credit WHERE qb_payment_id = ?")


def _lock_overpayment(unit: Unit, qb_payment_id: str) -> tuple[Wallet | None, tuple[int, object] | None]:
    """The overpayment (amount, date), read again once its client is locked (the sync changes it only under that
    lock)."""
    for _ in range(3):
        found = unit.row(_OVERPAYMENT, (qb_payment_id,))
        if found is None:
            return None, None
        wallet = lock_wallet(unit, found[0])
        again = unit.row(_OVERPAYMENT, (qb_payment_id,))
        if again is None:
            return None, None
        if again[0] == wallet.id:
            return wallet, (again[1], again[2])
    return None, None  # it keeps moving between clients: refuse rather than guess
