"""Read models: a client's balance and an invoice's detail, with cash, credits and credit memos apart (R3).

They return plain dataclasses with amounts in minor units; the bot and the CLI render them.
A balance read touches the client's row, its open invoices (a partial index) and its credit
applications, never the whole payment table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col
from sqlmodel import select as select_model

from ledger.db import driver_read_in
from ledger.driver import DriverRead, statement
from ledger.errors import UnknownInvoice
from ledger.lookup import find_client, find_invoice
from ledger.models import (
    OPEN_INVOICE_SQL,
    Client,
    HistoryEntry,
    Invoice,
    Payment,
    PaymentKind,
    Reversal,
)
from ledger.money import decimal_str

UNTAGGED = "(no project)"


@dataclass(frozen=True)
class ClientRef:
    id: str
    name: str
    currency: str

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "currency": self.currency}


@dataclass(frozen=True)
class InvoiceSummary:
    number: str
    total_minor: int
    cash_paid_minor: int
    credits_applied_minor: int
    qb_credit_memos_minor: int
    posted_to_qb_at: datetime | None
    qb_invoice_id: str | None
    issued_on: date

    @property
    def balance_due_minor(self) -> int:
        return self.total_minor - self.cash_paid_minor - self.credits_applied_minor - self.qb_credit_memos_minor

    @property
    def posted_to_qb(self) -> bool:
        return self.posted_to_qb_at is not None

    def as_json(self, currency: str) -> dict[str, Any]:
        return {
            "number": self.number,
            "total": decimal_str(self.total_minor, currency),
            "cash_paid": decimal_str(self.cash_paid_minor, currency),
            "credits_applied": decimal_str(self.credits_applied_minor, currency),
            "qb_credit_memos": decimal_str(self.qb_credit_memos_minor, currency),
            "balance_due": decimal_str(self.balance_due_minor, currency),
            "posted_to_qb": self.posted_to_qb,
        }


@dataclass(frozen=True)
class ClientBalance:
    client: ClientRef
    credits_issued_minor: int
    credits_applied_minor: int
    invoices: list[InvoiceSummary]
    credits_by_project_minor: dict[str, int]
    # All open invoices, also when `invoices` holds only the oldest few (client_balance's invoice_limit).
    open_invoice_count: int

    @property
    def available_credit_minor(self) -> int:
        return self.credits_issued_minor - self.credits_applied_minor

    def as_json(self) -> dict[str, Any]:
        currency = self.client.currency
        return {
            "client": self.client.as_json(),
            "available_credit": decimal_str(self.available_credit_minor, currency),
            "invoices": [invoice.as_json(currency) for invoice in self.invoices],
            "credits_by_project": {
                project: decimal_str(minor, currency) for project, minor in self.credits_by_project_minor.items()
            },
        }


@dataclass(frozen=True)
class PaymentLine:
    id: int
    external_id: str | None
    kind: PaymentKind
    amount_minor: int
    received_on: date
    created_at: datetime
    created_by: str
    project_id: str | None
    reversed_at: datetime | None

    def as_json(self, currency: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "external_id": self.external_id,
            "type": self.kind.value,
            "label": self.kind.label,
            "amount": decimal_str(self.amount_minor, currency),
            "received_on": self.received_on.isoformat(),
            "project_id": self.project_id,
            "reversed": self.reversed_at is not None,
        }


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    actor: str
    action: str
    outcome: str
    subject: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "outcome": self.outcome,
            "subject": self.subject,
            "before": self.before,
            "after": self.after,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class InvoiceDetail:
    client: ClientRef
    summary: InvoiceSummary
    project_id: str | None
    payments: list[PaymentLine]
    history: list[HistoryLine] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        currency = self.client.currency
        return {
            **self.summary.as_json(currency),
            "client": self.client.as_json(),
            "currency": currency,
            "project_id": self.project_id,
            "posted_to_qb_at": self.summary.posted_to_qb_at.isoformat() if self.summary.posted_to_qb_at else None,
            "qb_invoice_id": self.summary.qb_invoice_id,
            "payments": [payment.as_json(currency) for payment in self.payments],
            "history": [line.as_json() for line in self.history],
        }


# The balance read is the bot's hottest path: plain SQL on the driver connection (see ledger/driver.py), so each
# statement costs SQLite's or PostgreSQL's own work and not SQLAlchemy's ~0.1 ms of bookkeeping, and the read model
# is built from plain rows. The open invoices come from a partial index (ix_invoice_open_by_client), credits by
# project from the payment (client_id, kind, project_id, amount_minor) index alone.
_CLIENT = Client.__table__  # type: ignore[attr-defined]

_CLIENT_BY_ID = statement(
    "SELECT id, name, currency, credits_issued_minor, credits_applied_minor FROM client WHERE id = ?"
)
_OPEN_INVOICES_SQL = (
    "SELECT number, total_minor, cash_paid_minor, credits_applied_minor, qb_credit_memos_minor, posted_to_qb_at,"
    f" qb_invoice_id, issued_on FROM invoice WHERE client_id = ? AND {OPEN_INVOICE_SQL}"  # the index's predicate
    " ORDER BY issued_on, number"
)
_OPEN_INVOICES = statement(_OPEN_INVOICES_SQL)
_FIRST_OPEN_INVOICES = statement(f"{_OPEN_INVOICES_SQL} LIMIT ?")
_OPEN_INVOICE_COUNT = statement(f"SELECT count(*) FROM invoice WHERE client_id = ? AND {OPEN_INVOICE_SQL}")
_CREDITS_BY_PROJECT = statement(
    "SELECT project_id, sum(amount_minor) FROM payment WHERE client_id = ? AND kind = ?"
    " AND NOT EXISTS (SELECT 1 FROM reversal WHERE reversal.payment_id = payment.id) GROUP BY project_id"
)


def client_balance(session: Session, client_query: str, invoice_limit: int | None = None) -> ClientBalance:
    """The client's credit and open invoices; with `invoice_limit`, only the oldest that many invoices are read
    (a Slack reply shows a dozen) and `open_invoice_count` still counts them all.

    The client is an id, a name or part of one (`find_client`); read in the Session's transaction."""
    read = driver_read_in(session)
    balance = balance_by_id(read, client_query.strip(), invoice_limit)
    if balance is None:  # not an exact id: a name or part of one
        balance = balance_by_id(read, find_client(session, client_query).id, invoice_limit)
        assert balance is not None  # the client was just found
    return balance


def balance_by_id(read: DriverRead, client_id: str, invoice_limit: int | None = None) -> ClientBalance | None:
    """The balance of the client with this exact id, or None if there is none (see `client_balance`)."""
    client = read.row(_CLIENT_BY_ID, (client_id,))
    if client is None:
        return None
    client_id, name, currency, issued, applied = client
    if invoice_limit is None:
        invoices = read.rows(_OPEN_INVOICES, (client_id,))
        open_count = len(invoices)
    else:
        invoices = read.rows(_FIRST_OPEN_INVOICES, (client_id, invoice_limit))
        open_count = read.one(_OPEN_INVOICE_COUNT, (client_id,))[0]
    by_project = read.rows(_CREDITS_BY_PROJECT, (client_id, PaymentKind.ACCOUNT_CREDIT.value))
    return ClientBalance(
        client=ClientRef(id=client_id, name=name, currency=currency),
        credits_issued_minor=issued,
        credits_applied_minor=applied,
        invoices=[_open_invoice(read, row) for row in invoices],
        # R7: credit applied per project tag, for reporting; reversed applications do not count.
        credits_by_project_minor={
            project_id or UNTAGGED: int(total) for project_id, total in sorted(by_project, key=lambda r: r[0] or "")
        },
        open_invoice_count=open_count,
    )


def _open_invoice(read: DriverRead, row: tuple[Any, ...]) -> InvoiceSummary:
    number, total, cash, credits, memos, posted_at, qb_invoice_id, issued_on = row
    return InvoiceSummary(
        number, total, cash, credits, memos, read.read_time(posted_at), qb_invoice_id, read.read_day(issued_on)
    )


def first_client_id(session: Session) -> str | None:
    """The first client's id (None in an empty ledger): a read to run before any request, to warm things up."""
    return session.execute(select(_CLIENT.c.id).order_by(_CLIENT.c.id).limit(1)).scalar()


def invoice_detail(session: Session, number: str) -> InvoiceDetail:
    invoice = find_invoice(session, number)
    client = session.get(Client, invoice.client_id)
    assert client is not None
    rows = session.exec(
        select_model(Payment, Reversal.created_at)
        .join(Reversal, col(Reversal.payment_id) == Payment.id, isouter=True)
        .where(Payment.invoice_id == invoice.id)
        .order_by(col(Payment.received_on), col(Payment.id))
    ).all()
    payments = [_payment_line(payment, reversed_at) for payment, reversed_at in rows]
    return InvoiceDetail(
        client=_ref(client),
        summary=_summary(invoice),
        project_id=invoice.project_id,
        payments=payments,
        history=invoice_history(session, invoice),
    )


def invoice_history(session: Session, invoice: Invoice) -> list[HistoryLine]:
    entries = session.exec(
        select_model(HistoryEntry).where(HistoryEntry.invoice_id == invoice.id).order_by(col(HistoryEntry.id))
    ).all()
    return [_history_line(entry) for entry in entries]


def client_history(session: Session, client: Client, limit: int = 200) -> list[HistoryLine]:
    entries = session.exec(
        select_model(HistoryEntry)
        .where(HistoryEntry.client_id == client.id)
        .order_by(col(HistoryEntry.id).desc())
        .limit(limit)
    ).all()
    return [_history_line(entry) for entry in reversed(entries)]


def history(session: Session, client_or_invoice: str) -> tuple[str, list[HistoryLine]]:
    """The change history of an invoice (by number) or else of a client; returns what it found and the lines."""
    try:
        invoice = find_invoice(session, client_or_invoice)
    except UnknownInvoice:
        client = find_client(session, client_or_invoice)
        return f"client {client.name}", client_history(session, client)
    return f"invoice {invoice.number}", invoice_history(session, invoice)


def _ref(client: Client) -> ClientRef:
    return ClientRef(id=client.id, name=client.name, currency=client.currency)


def _summary(invoice: Invoice) -> InvoiceSummary:
    return InvoiceSummary(
        number=invoice.number,
        total_minor=invoice.total_minor,
        cash_paid_minor=invoice.cash_paid_minor,
        credits_applied_minor=invoice.credits_applied_minor,
        qb_credit_memos_minor=invoice.qb_credit_memos_minor,
        posted_to_qb_at=invoice.posted_to_qb_at,
        qb_invoice_id=invoice.qb_invoice_id,
        issued_on=invoice.issued_on,
    )


def _payment_line(payment: Payment, reversed_at: datetime | None) -> PaymentLine:
    return PaymentLine(
        id=payment.id or 0,
        external_id=payment.external_id,
        kind=PaymentKind(payment.kind),
        amount_minor=payment.amount_minor,
        received_on=payment.received_on,
        created_at=payment.created_at,
        created_by=payment.created_by,
        project_id=payment.project_id,
        reversed_at=reversed_at,
    )


def _history_line(entry: HistoryEntry) -> HistoryLine:
    return HistoryLine(
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        outcome=entry.outcome,
        subject=entry.subject,
        before=entry.before,
        after=entry.after,
        detail=entry.detail,
    )
