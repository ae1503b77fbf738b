"""Syncs racing each other and credit applications on the same client: no deadlock, no duplicate, totals exact."""

from __future__ import annotations

import json

from ledger import operations
from ledger.approvals import WriteRequest
from ledger.db import Database
from ledger.qbo import read_feed, sync_feed
from ledger.totals import stored_totals, totals_from_entries
from tests.builders import client, credit, import_rows, invoice, race
from tests.qbo_payloads import cdc, ledger_state, link, memo_payment, qbo_invoice, qbo_payment, sync

WORKERS = 8


def test_racing_syncs_of_one_payments_versions_end_at_the_newest(db):
    import_rows(db, clients=[client("C1", qb_customer_id="58")], invoices=[invoice("INV-1", "C1", "1000.00")])
    sync(db, cdc(Invoice=[qbo_invoice("130", "INV-1")]))
    versions = [memo_payment("160", "130", "150", 100.0 + n, sync_token=str(n)) for n in range(WORKERS)]

    def send(own: Database, n: int) -> object:
        return own.transact(sync_feed, read_feed(json.dumps(cdc(Payment=[versions[n]])), f"feed-{n}.json"))

    outcomes = race(db, send, WORKERS)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    state = ledger_state(db)
    assert [(kind, amount) for _, kind, amount, _ in state["live_payments"]] == [("QBCreditMemo", 10000 + 100 * 7)]
    with db.read() as unit:
        session = unit.session
        assert stored_totals(session) == totals_from_entries(session)


def test_a_sync_and_credit_applications_on_one_client_do_not_deadlock(db):
    import_rows(
        db,
        clients=[client("C1", qb_customer_id="58")],
        invoices=[invoice("INV-1", "C1", "1000.00"), invoice("INV-2", "C1", "5000.00")],
        credits=[credit("CR-1", "C1", "1000.00")],
    )
    sync(db, cdc(Invoice=[qbo_invoice("130", "INV-1")]))

    def work(own: Database, n: int) -> object:
        if n % 2:
            return own.transact(operations.apply_credit, "INV-2", "10.00", None, WriteRequest(f"t{n}", f"k{n}"))
        payment = qbo_payment(f"17{n}", [link("Invoice", "130", 10.0)], unapplied=1.0)
        return own.transact(sync_feed, read_feed(json.dumps(cdc(Payment=[payment])), f"feed-{n}.json"))

    outcomes = race(db, work, WORKERS)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    state = ledger_state(db)
    assert len(state["live_payments"]) == WORKERS // 2 and len(state["overpayments"]) == WORKERS // 2
    with db.read() as unit:
        session = unit.session
        assert stored_totals(session) == totals_from_entries(session)
