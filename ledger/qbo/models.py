"""Tables of the QuickBooks Online sync.

- `qb_txn`: every QuickBooks entity the sync has seen, by (entity type, QuickBooks Id), with the last SyncToken
  applied and that version's fields (`payload`). The unique key is what makes a re-sent, reordered or stale feed
  harmless: a version older than the one recorded is ignored, and a deleted entity stays deleted. A version that
  could not be matched yet (`unresolved`: unknown customer or invoice) is tried again by every later sync.
- `qb_txn_payment`: which ledger payments a QuickBooks payment produced (a payment's id is unique here, so a ledger
  payment belongs to one QuickBooks payment). Live ones are those without a reversal.
- `qb_overpayment`: money a client overpaid in QuickBooks (`Payment.UnappliedAmt`). It never enters the wallet by
  itself (R6); a person may enter it once as a client credit (`credit.qb_payment_id` is unique). Read by the scans.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, UniqueConstraint
from sqlmodel import Field, SQLModel

from ledger.models import BigId, money_column, utcnow


class QBTxnStatus:
    """What the ledger holds for a QuickBooks entity's last applied version."""

    RECORDED = "recorded"  # fully matched and applied
    UNRESOLVED = "unresolved"  # part of it could not be matched (unknown customer or invoice, other currency)
    VOIDED = "voided"  # voided in QuickBooks: amounts zeroed, its effect removed here
    DELETED = "deleted"  # deleted in QuickBooks (a tombstone: older versions sent later are ignored)


class QBTxn(SQLModel, table=True):
    __tablename__ = "qb_txn"
    __table_args__ = (UniqueConstraint("entity_type", "qbo_id", name="uq_qb_txn_entity"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    entity_type: str = Field(max_length=16)  # "Invoice", "Payment", "CreditMemo", as QuickBooks names them
    qbo_id: str = Field(max_length=32)
    # The last SyncToken applied; None for a delete of an entity never seen before.
    sync_token: int | None = Field(default=None, sa_type=BigInteger)
    status: str = Field(max_length=16, index=True)
    client_id: str | None = Field(default=None, foreign_key="client.id", max_length=64)
    invoice_id: int | None = Field(default=None, sa_column=Column(BigId, ForeignKey("invoice.id"), nullable=True))
    qb_updated_at: datetime | None = None  # MetaData.LastUpdatedTime of the applied version
    # The applied version's fields as the sync read them (not kept for deletes).
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    synced_at: datetime = Field(default_factory=utcnow)


class QBTxnPayment(SQLModel, table=True):
    __tablename__ = "qb_txn_payment"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    qb_txn_id: int = Field(sa_column=Column(BigId, ForeignKey("qb_txn.id"), nullable=False, index=True))
    payment_id: int = Field(sa_column=Column(BigId, ForeignKey("payment.id"), nullable=False, unique=True))


class QBOverpayment(SQLModel, table=True):
    """One row per QuickBooks payment with unapplied money; the amount follows the payment's latest SyncToken."""

    __tablename__ = "qb_overpayment"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    qb_payment_id: str = Field(max_length=64, unique=True)
    client_id: str = Field(foreign_key="client.id", index=True, max_length=64)
    amount_minor: int = money_column()
    currency: str = Field(max_length=3)
    qb_txn_date: date
    seen_at: datetime = Field(default_factory=utcnow)
