"""QuickBooks Online payloads for tests, shaped as the QuickBooks API reference shows them.

Amounts are JSON numbers (`"TotalAmt": 250.5`), ids and SyncTokens strings, times with a UTC offset, extra
fields QuickBooks always sends (`domain`, `sparse`, `DepositToAccountRef`, ...) included so the parser is
tested against what it will really read. Documents go through JSON text, as they would from a file.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from ledger.db import Database
from ledger.qbo import SyncSummary, read_feed, sync_feed
from ledger.tables import Invoice, Payment, QBOverpayment, Reversal
from ledger.totals import stored_totals, totals_from_entries
from tests.builders import client, credit, import_rows, invoice

CREATED = "2026-10-05T09:30:00-07:00"

Entity = dict[str, Any]


def qbo_invoice(
    qbo_id: str,
    doc_number: str | None,
    customer: str = "58",
    total: float = 1000.00,
    sync_token: str = "0",
    created: str = CREATED,
    currency: str | None = "USD",
    **extra: Any,
) -> Entity:
    entity: Entity = {
        "Id": qbo_id,
        "SyncToken": sync_token,
        "domain": "QBO",
        "sparse": False,
        "TxnDate": "2026-10-05",
        "DueDate": "2026-11-04",
        "CustomerRef": {"value": customer, "name": f"Customer {customer}"},
        "TotalAmt": total,
        "Balance": total,
        "Line": [
            {
                "Id": "1",
                "LineNum": 1,
                "Amount": total,
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"}},
            },
            {"Amount": total, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}},
        ],
        "MetaData": {"CreateTime": created, "LastUpdatedTime": created},
        **extra,
    }
    if doc_number is not None:
        entity["DocNumber"] = doc_number
    if currency is not None:
        entity["CurrencyRef"] = {"value": currency, "name": "United States Dollar"}
    return entity


def link(txn_type: str, txn_id: str, amount: float) -> dict[str, Any]:
    return {"Amount": amount, "LinkedTxn": [{"TxnId": txn_id, "TxnType": txn_type}]}


def qbo_payment(
    qbo_id: str,
    lines: list[dict[str, Any]],
    customer: str = "58",
    sync_token: str = "0",
    unapplied: float = 0,
    txn_date: str = "2026-10-10",
    currency: str | None = "USD",
    total: float | None = None,
    **extra: Any,
) -> Entity:
    """A received payment; TotalAmt is what QuickBooks computes (invoice lines - credit memo lines + unapplied)."""
    if total is None:
        signed = sum(line["Amount"] if _linked_type(line) == "Invoice" else -line["Amount"] for line in lines)
        total = round(signed + unapplied, 2)
    entity: Entity = {
        "Id": qbo_id,
        "SyncToken": sync_token,
        "domain": "QBO",
        "sparse": False,
        "TxnDate": txn_date,
        "CustomerRef": {"value": customer, "name": f"Customer {customer}"},
        "DepositToAccountRef": {"value": "4"},
        "PaymentMethodRef": {"value": "1"},
        "TotalAmt": total,
        "UnappliedAmt": unapplied,
        "ProcessPayment": False,
        "Line": lines,
        "MetaData": {"CreateTime": "2026-10-10T11:00:00-07:00", "LastUpdatedTime": "2026-10-10T11:00:00-07:00"},
        **extra,
    }
    if currency is not None:
        entity["CurrencyRef"] = {"value": currency, "name": "United States Dollar"}
    return entity


def memo_payment(qbo_id: str, invoice_id: str, memo_id: str, amount: float, **extra: Any) -> Entity:
    """QuickBooks' $0 payment: a credit memo applied to an invoice."""
    return qbo_payment(qbo_id, [link("Invoice", invoice_id, amount), link("CreditMemo", memo_id, amount)], **extra)


def voided(payment: Entity, sync_token: str) -> Entity:
    """The payment as QuickBooks returns it after a void: every amount zero, "Voided" in PrivateNote."""
    return {
        **payment,
        "SyncToken": sync_token,
        "TotalAmt": 0,
        "UnappliedAmt": 0,
        "PrivateNote": "Voided",
        "Line": [],
        "MetaData": {"CreateTime": "2026-10-10T11:00:00-07:00", "LastUpdatedTime": "2026-10-12T08:00:00-07:00"},
    }


def qbo_credit_memo(qbo_id: str, customer: str = "58", total: float = 100.0, remaining: float = 100.0) -> Entity:
    return {
        "Id": qbo_id,
        "SyncToken": "0",
        "domain": "QBO",
        "sparse": False,
        "DocNumber": f"CM-{qbo_id}",
        "TxnDate": "2026-10-08",
        "CustomerRef": {"value": customer, "name": f"Customer {customer}"},
        "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
        "TotalAmt": total,
        "RemainingCredit": remaining,
        "Balance": remaining,
        "Line": [{"Amount": total, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}],
        "MetaData": {"CreateTime": "2026-10-08T10:00:00-07:00", "LastUpdatedTime": "2026-10-08T10:00:00-07:00"},
    }


def deleted(qbo_id: str) -> Entity:
    """A deleted entity as change data capture reports it."""
    return {
        "status": "Deleted",
        "domain": "QBO",
        "Id": qbo_id,
        "MetaData": {"LastUpdatedTime": "2026-10-13T10:00:00-07:00"},
    }


def cdc(**groups: list[Entity]) -> dict[str, Any]:
    """A change data capture response: one QueryResponse group per entity type, with QuickBooks' paging fields."""
    query_response = [
        {name: entities, "startPosition": 1, "maxResults": len(entities), "totalCount": len(entities)}
        for name, entities in groups.items()
    ]
    return {"CDCResponse": [{"QueryResponse": query_response}], "time": "2026-10-14T12:00:00.000-07:00"}


def query(**groups: list[Entity]) -> dict[str, Any]:
    response: dict[str, Any] = {**groups, "startPosition": 1, "maxResults": sum(len(g) for g in groups.values())}
    return {"QueryResponse": response, "time": "2026-10-14T12:00:00.000-07:00"}


def sync(db: Database, document: dict[str, Any]) -> SyncSummary:
    """Sync a response the way `creditbot sync-qb` does: through JSON text."""
    summary = db.transact(sync_feed, read_feed(json.dumps(document), "feed.json"))
    with db.read() as unit:
        session = unit.session
        assert stored_totals(session) == totals_from_entries(session), "running totals must equal the entries"
    return summary


def _linked_type(line: dict[str, Any]) -> str:
    return line["LinkedTxn"][0]["TxnType"]


def ledger_state(db: Database) -> dict[str, Any]:
    """What a QuickBooks sync decides, compared across runs: postings, live QuickBooks payments, overpayments."""
    with db.read() as unit:
        session = unit.session
        invoices = {
            row.number: (row.posted_to_qb_at, row.qb_invoice_id, row.cash_paid_minor, row.qb_credit_memos_minor)
            for row in session.exec(select(Invoice))
        }
        reversed_ids = set(session.exec(select(Reversal.payment_id)).all())
        live = sorted(
            (row.invoice_id, row.kind, row.amount_minor, row.received_on.isoformat())
            for row in session.exec(select(Payment).where(Payment.created_by == "qbo"))
            if row.id not in reversed_ids
        )
        overpayments = {
            row.qb_payment_id: (row.client_id, row.amount_minor, row.currency, row.qb_txn_date)
            for row in session.exec(select(QBOverpayment))
        }
    return {"invoices": invoices, "live_payments": live, "overpayments": overpayments}


def load_overpaid_client(db: Database) -> None:
    """Acme paid $620 in QuickBooks for a $500 invoice ($120 unapplied on QuickBooks payment 180), and has $50.00
    of credit here."""
    import_rows(
        db,
        clients=[client("C1", "Acme Legal", qb_customer_id="58")],
        invoices=[invoice("INV-1002", "C1", "500.00")],
        credits=[credit("CR-1", "C1", "50.00")],
    )
    sync(
        db,
        cdc(
            Invoice=[qbo_invoice("131", "INV-1002", total=500.00)],
            Payment=[qbo_payment("180", [link("Invoice", "131", 500.00)], unapplied=120.00)],
        ),
    )
