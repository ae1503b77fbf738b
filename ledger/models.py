"""The ledger's tables.

Money columns are BIGINT counts of the currency's minor unit. Times are aware, stored as UTC. Credits, credit
applications and reversals are append-only: nothing here is updated or deleted by the tool; a reversal is
a new row pointing at what it reverses. Imported rows may be edited by a re-import, and each edit leaves
its old values in `history`.

Running totals (`Client.credits_*`, `Invoice.*_minor` paid columns) are kept in the same transaction as the
entries they summarize, so a balance read touches one client's rows, never all payments; tests recompute
them from the entries after every step.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, text
from sqlmodel import Field, SQLModel

# BIGINT ids on PostgreSQL; INTEGER (the rowid alias, so autoincrementing) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def money_column() -> Any:
    return Field(default=0, sa_type=BigInteger, nullable=False)


class PaymentKind(enum.StrEnum):
    CASH = "cash"
    CHECK = "check"
    ACH = "ach"
    CARD = "card"
    WIRE = "wire"
    ACCOUNT_CREDIT = "AccountCredit"
    QB_CREDIT_MEMO = "QBCreditMemo"
    QB_PAYMENT = "QBPayment"

    @property
    def is_cash(self) -> bool:
        return self not in (PaymentKind.ACCOUNT_CREDIT, PaymentKind.QB_CREDIT_MEMO)

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]

    @classmethod
    def parse(cls, text: str) -> PaymentKind:
        wanted = text.strip().lower()
        for kind in cls:
            if kind.value.lower() == wanted:
                return kind
        raise ValueError(text)


_KIND_LABELS = {
    PaymentKind.CASH: "Cash payment",
    PaymentKind.CHECK: "Check payment",
    PaymentKind.ACH: "ACH payment",
    PaymentKind.CARD: "Card payment",
    PaymentKind.WIRE: "Wire payment",
    PaymentKind.ACCOUNT_CREDIT: "Client credit applied (AccountCredit, not cash)",
    PaymentKind.QB_CREDIT_MEMO: "QuickBooks credit memo (not cash)",
    PaymentKind.QB_PAYMENT: "Payment received in QuickBooks",
}


class Client(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    # Lower-cased name: client names are unique case-insensitively.
    name_key: str = Field(max_length=200, unique=True)
    currency: str = Field(default="USD", max_length=3)
    qb_customer_id: str | None = Field(default=None, max_length=64, unique=True)
    credits_issued_minor: int = money_column()
    credits_applied_minor: int = money_column()
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def available_credit_minor(self) -> int:
        return self.credits_issued_minor - self.credits_applied_minor


class Project(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(foreign_key="client.id", index=True, max_length=64)
    name: str = Field(max_length=200)


class Invoice(SQLModel, table=True):
    __table_args__ = (
        # The open invoices of a client, without reading its settled ones. Queries must repeat this
        # predicate exactly (OPEN_INVOICE_SQL) for SQLite and PostgreSQL to use the index.
        Index(
            "ix_invoice_open_by_client",
            "client_id",
            sqlite_where=text("total_minor <> cash_paid_minor + credits_applied_minor + qb_credit_memos_minor"),
            postgresql_where=text("total_minor <> cash_paid_minor + credits_applied_minor + qb_credit_memos_minor"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    number: str = Field(max_length=64, unique=True)
    client_id: str = Field(foreign_key="client.id", index=True, max_length=64)
    project_id: str | None = Field(default=None, foreign_key="project.id", max_length=64)
    issued_on: date
    total_minor: int = money_column()
    posted_to_qb_at: datetime | None = None
    qb_invoice_id: str | None = Field(default=None, max_length=64, index=True)
    updated_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    cash_paid_minor: int = money_column()
    credits_applied_minor: int = money_column()
    qb_credit_memos_minor: int = money_column()

    @property
    def balance_due_minor(self) -> int:
        return self.total_minor - self.cash_paid_minor - self.credits_applied_minor - self.qb_credit_memos_minor


OPEN_INVOICE_SQL = "total_minor <> cash_paid_minor + credits_applied_minor + qb_credit_memos_minor"


class Credit(SQLModel, table=True):
    """A grant to a client's credit wallet (R1)."""

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    external_id: str | None = Field(default=None, max_length=64, unique=True)
    client_id: str = Field(foreign_key="client.id", index=True, max_length=64)
    amount_minor: int = money_column()
    issued_on: date
    reason: str = Field(default="")
    # Set when the credit records a QuickBooks overpayment (R6): one credit per QuickBooks payment.
    qb_payment_id: str | None = Field(default=None, max_length=64, unique=True)
    created_by: str = Field(default="import", max_length=120)
    created_at: datetime = Field(default_factory=utcnow)


class Payment(SQLModel, table=True):
    """Anything that reduces an invoice's balance: cash kinds, credit applications (R2), credit memos (R5)."""

    # A client's payments by kind; with the tag and amount in the index, a balance read sums a client's credits per
    # project from the index alone, however many applications the client has (migration 0007).
    __table_args__ = (Index("ix_payment_client_kind_project", "client_id", "kind", "project_id", "amount_minor"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    external_id: str | None = Field(default=None, max_length=64, unique=True)
    invoice_id: int = Field(sa_column=Column(BigId, ForeignKey("invoice.id"), nullable=False, index=True))
    client_id: str = Field(foreign_key="client.id", max_length=64)
    kind: str = Field(max_length=16)
    amount_minor: int = money_column()
    received_on: date
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None
    # Tracking tag only (R7): a credit is never restricted to a project.
    project_id: str | None = Field(default=None, max_length=64)
    created_by: str = Field(default="import", max_length=120)


class Reversal(SQLModel, table=True):
    """Undoes one payment's effect. Unique per payment, so a second reversal cannot be written."""

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    payment_id: int = Field(sa_column=Column(BigId, ForeignKey("payment.id"), nullable=False, unique=True))
    actor: str = Field(max_length=120)
    reason: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow)


class HistoryEntry(SQLModel, table=True):
    """Append-only record of every change and every refused write: who, when, what, before and after."""

    __tablename__ = "history"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=120)
    action: str = Field(max_length=40)
    outcome: str = Field(default="done", max_length=16)
    client_id: str | None = Field(default=None, max_length=64, index=True)
    invoice_id: int | None = Field(default=None, sa_column=Column(BigId, nullable=True, index=True))
    subject: str = Field(default="", max_length=120)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    detail: str = Field(default="")


class IdempotencyKey(SQLModel, table=True):
    """A write's key, the hash of its parameters, and its first result, stored in the write's transaction."""

    __tablename__ = "idempotency_key"

    key: str = Field(primary_key=True, max_length=200)
    operation: str = Field(max_length=40)
    request_hash: str = Field(max_length=64)
    result: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
