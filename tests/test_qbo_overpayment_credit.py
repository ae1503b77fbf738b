"""Entering a QuickBooks overpayment as client credit (R6): once per QuickBooks payment, also under racing clicks."""

from __future__ import annotations

import pytest
from sqlmodel import select

from ledger.approvals import WriteRequest
from ledger.db import Database
from ledger.errors import IdempotencyConflict
from ledger.qbo.errors import QBOverpaymentAlreadyEntered, UnknownQBOverpayment
from ledger.qbo.overpayments import enter_qb_overpayment_as_credit
from ledger.tables import Credit, HistoryEntry
from ledger.totals import stored_totals, totals_from_entries
from tests.builders import available, race
from tests.qbo_payloads import cdc, link, load_overpaid_client, qbo_payment, sync


@pytest.fixture
def overpaid(db):
    """Acme paid $620 in QuickBooks for a $500 invoice: $120 unapplied on QuickBooks payment 180."""
    load_overpaid_client(db)
    return db


def test_entering_an_overpayment_issues_a_credit_linked_to_the_quickbooks_payment(overpaid):
    result = overpaid.transact(enter_qb_overpayment_as_credit, "180", WriteRequest("slack:U1", "key-1"))

    assert (result.amount_minor, result.available_before_minor, result.available_after_minor) == (12000, 5000, 17000)
    assert (result.client_id, result.qb_payment_id, result.replayed) == ("C1", "180", False)
    assert available(overpaid) == 17000
    with overpaid.read() as unit:
        session = unit.session
        entered = session.exec(select(Credit).where(Credit.qb_payment_id == "180")).one()
        entry = session.exec(select(HistoryEntry).where(HistoryEntry.action == "enter_qb_overpayment")).one()
        assert stored_totals(session) == totals_from_entries(session)
    assert entered.created_by == "slack:U1" and "QuickBooks payment 180" in entered.reason
    assert entry.actor == "slack:U1" and entry.after["credit_issued"] == "120.00"
    assert entry.before == {"available_credit": "50.00"}


def test_a_second_attempt_is_refused_and_adds_nothing(overpaid):
    first = overpaid.transact(enter_qb_overpayment_as_credit, "180", WriteRequest("slack:U1", "key-1"))
    with pytest.raises(QBOverpaymentAlreadyEntered, match=f"already entered as client credit #{first.credit_id}"):
        overpaid.transact(enter_qb_overpayment_as_credit, "180", WriteRequest("slack:U2", "key-2"))
    assert available(overpaid) == 17000


def test_the_same_request_key_replays_the_first_result(overpaid):
    first = overpaid.transact(enter_qb_overpayment_as_credit, "180", WriteRequest("slack:U1", "key-1"))
    again = overpaid.transact(enter_qb_overpayment_as_credit, "180", WriteRequest("slack:U1", "key-1"))
    assert again.replayed and again.credit_id == first.credit_id
    assert available(overpaid) == 17000


def test_a_request_key_reused_for_another_payment_is_a_conflict(overpaid):
    overpaid.transact(enter_qb_overpayment_as_credit, "180", WriteRequest("slack:U1", "key-1"))
    sync(overpaid, cdc(Payment=[qbo_payment("181", [], unapplied=30.00)]))
    with pytest.raises(IdempotencyConflict):
        overpaid.transact(enter_qb_overpayment_as_credit, "181", WriteRequest("slack:U1", "key-1"))


def test_an_overpayment_never_seen_or_gone_from_quickbooks_is_refused(overpaid):
    with pytest.raises(UnknownQBOverpayment, match="QuickBooks payment 999 shows no overpayment"):
        overpaid.transact(enter_qb_overpayment_as_credit, "999", WriteRequest("slack:U1", "key-1"))
    applied = qbo_payment("180", [link("Invoice", "131", 500.00)], sync_token="1")
    sync(overpaid, cdc(Payment=[applied]))  # the unapplied money was refunded or applied in QuickBooks
    with pytest.raises(UnknownQBOverpayment):
        overpaid.transact(enter_qb_overpayment_as_credit, "180", WriteRequest("slack:U1", "key-2"))
    assert available(overpaid) == 5000


def test_the_credit_follows_the_latest_amount_quickbooks_shows(overpaid):
    sync(overpaid, cdc(Payment=[qbo_payment("180", [link("Invoice", "131", 500.00)], unapplied=80.00, sync_token="1")]))
    assert (
        overpaid.transact(enter_qb_overpayment_as_credit, "180", WriteRequest("slack:U1", "key-1")).amount_minor == 8000
    )


def test_racing_clicks_enter_the_overpayment_exactly_once(overpaid):
    clicks = 12

    def click(own: Database, n: int) -> object:
        # Half the clicks are one person's double click (one key), the rest other admins (own keys).
        key = "double-click" if n % 2 else f"admin-{n}"
        return own.transact(enter_qb_overpayment_as_credit, "180", WriteRequest(f"slack:U{n}", key))

    outcomes = race(overpaid, click, clicks)  # a refusal or a bug is an outcome, checked below
    issued = [o for o in outcomes if not isinstance(o, Exception) and not o.replayed]
    replayed = [o for o in outcomes if not isinstance(o, Exception) and o.replayed]
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(issued) == 1, outcomes
    assert all(isinstance(r, QBOverpaymentAlreadyEntered) for r in refused), refused
    assert all(r.credit_id == issued[0].credit_id for r in replayed)
    assert len(issued) + len(replayed) + len(refused) == clicks
    with overpaid.read() as unit:
        session = unit.session
        assert len(session.exec(select(Credit).where(Credit.qb_payment_id == "180")).all()) == 1
        assert stored_totals(session) == totals_from_entries(session)
    assert available(overpaid) == 17000
