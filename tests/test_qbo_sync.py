"""The QuickBooks sync: postings, credit memos back as payments (R5), cash, updates, voids, deletes, overpayments
(R6), and everything it cannot match reported, never dropped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from ledger import reads
from ledger.approvals import WriteRequest
from ledger.qbo import apply_entities, parse_entity, parse_feed
from ledger.qbo.errors import QBOFeedError
from ledger.tables import Client, Credit, HistoryEntry, Invoice, Payment, QBOverpayment, QBTxn, Reversal
from tests.builders import client, import_rows, invoice
from tests.qbo_payloads import (
    cdc,
    deleted,
    ledger_state,
    link,
    memo_payment,
    qbo_credit_memo,
    qbo_invoice,
    qbo_payment,
    query,
    sync,
    voided,
)


@pytest.fixture
def ledger(db):
    """Acme (QuickBooks customer 58) with two invoices, Birch (59) with one, Chalet (60) billed in EUR."""
    import_rows(
        db,
        clients=[
            client("C1", "Acme Legal", qb_customer_id="58"),
            client("C2", "Birch Partners", qb_customer_id="59"),
            client("C3", "Chalet SA", currency="EUR", qb_customer_id="60"),
        ],
        invoices=[
            invoice("INV-1001", "C1", "1000.00"),
            invoice("INV-1002", "C1", "500.00"),
            invoice("INV-2001", "C2", "300.00"),
            invoice("INV-3001", "C3", "700.00"),
        ],
    )
    return db


def posted(db, *pairs: tuple[str, str]) -> None:
    """Post invoices to QuickBooks: (QuickBooks Id, invoice number), customer from the ledger."""
    customers = {"INV-1001": "58", "INV-1002": "58", "INV-2001": "59", "INV-3001": "60"}
    totals = {"INV-1001": 1000.00, "INV-1002": 500.00, "INV-2001": 300.00, "INV-3001": 700.00}
    currencies = {"INV-3001": "EUR"}
    sync(
        db,
        cdc(
            Invoice=[
                qbo_invoice(qbo_id, number, customers[number], totals[number], currency=currencies.get(number, "USD"))
                for qbo_id, number in pairs
            ]
        ),
    )


def detail(db, number: str) -> reads.InvoiceDetail:
    with db.read() as unit:
        return reads.invoice_detail(unit, number)


def get_invoice(db, number: str) -> Invoice:
    with db.read() as unit:
        session = unit.session
        return session.exec(select(Invoice).where(Invoice.number == number)).one()


# --- invoices ---------------------------------------------------------------------------------------------


def test_an_invoice_seen_in_quickbooks_is_marked_posted_at_its_create_time(ledger):
    summary = sync(ledger, cdc(Invoice=[qbo_invoice("130", "INV-1001", created="2026-10-05T09:30:00-07:00")]))

    row = get_invoice(ledger, "INV-1001")
    assert row.posted_to_qb_at == datetime(2026, 10, 5, 16, 30, tzinfo=UTC)
    assert row.qb_invoice_id == "130"
    assert [(p.invoice_number, p.qb_invoice_id) for p in summary.invoices_posted] == [("INV-1001", "130")]
    assert summary.drift == [] and summary.problems == []
    with ledger.read() as unit:
        session = unit.session
        entry = session.exec(select(HistoryEntry).where(HistoryEntry.action == "qb_posted")).one()
    assert entry.subject == "invoice:INV-1001" and entry.actor == "qbo"
    assert entry.before == {"posted_to_qb_at": None, "qb_invoice_id": None}


def test_an_already_posted_invoice_keeps_its_posting_time(ledger):
    sync(ledger, cdc(Invoice=[qbo_invoice("130", "INV-1001", created="2026-10-05T09:30:00-07:00")]))
    summary = sync(
        ledger, cdc(Invoice=[qbo_invoice("130", "INV-1001", sync_token="1", created="2026-12-01T09:30:00-07:00")])
    )
    assert get_invoice(ledger, "INV-1001").posted_to_qb_at == datetime(2026, 10, 5, 16, 30, tzinfo=UTC)
    assert summary.invoices_posted == []


def test_an_invoice_is_matched_by_quickbooks_id_when_its_number_differs(ledger):
    import_rows(
        ledger,
        clients=[client("C1", "Acme Legal", qb_customer_id="58")],
        invoices=[invoice("INV-1002", "C1", "500.00", qb_invoice_id="131")],
    )
    summary = sync(ledger, cdc(Invoice=[qbo_invoice("131", "1002-RENUMBERED", total=500.00)]))
    assert get_invoice(ledger, "INV-1002").posted_to_qb_at is not None
    assert [p.invoice_number for p in summary.invoices_posted] == ["INV-1002"]


def test_a_different_total_in_quickbooks_is_reported_as_drift_and_never_overwritten(ledger):
    summary = sync(ledger, cdc(Invoice=[qbo_invoice("130", "INV-1001", total=1100.00)]))

    assert [d.as_json() for d in summary.drift] == [
        {
            "invoice_number": "INV-1001",
            "qb_invoice_id": "130",
            "currency": "USD",
            "ledger_total": "1000.00",
            "qb_total": "1100.00",
            "voided_in_quickbooks": False,
        }
    ]
    assert get_invoice(ledger, "INV-1001").total_minor == 100000


def test_an_invoice_of_an_unknown_customer_or_number_is_reported_not_dropped(ledger):
    summary = sync(
        ledger,
        cdc(Invoice=[qbo_invoice("140", "INV-1001", customer="999"), qbo_invoice("141", "INV-9999", customer="58")]),
    )
    codes = sorted((p.code, p.qbo_id) for p in summary.problems)
    assert codes == [("unknown_customer", "140"), ("unknown_invoice", "141")]
    assert "QuickBooks customer 999" in summary.problems[0].message
    assert get_invoice(ledger, "INV-1001").posted_to_qb_at is None


def test_an_invoice_of_another_client_is_not_posted(ledger):
    summary = sync(ledger, cdc(Invoice=[qbo_invoice("130", "INV-2001", customer="58", total=300.00)]))
    assert [p.code for p in summary.problems] == ["customer_mismatch"]
    assert get_invoice(ledger, "INV-2001").posted_to_qb_at is None


def test_an_invoice_in_another_currency_is_reported(ledger):
    summary = sync(ledger, cdc(Invoice=[qbo_invoice("130", "INV-1001", currency="CAD")]))
    assert [p.code for p in summary.problems] == ["currency_mismatch"]
    assert "in CAD, but Acme Legal is billed in USD" in summary.problems[0].message


def test_a_query_response_is_read_like_a_cdc_response(ledger):
    summary = sync(ledger, query(Invoice=[qbo_invoice("130", "INV-1001")]))
    assert [p.invoice_number for p in summary.invoices_posted] == ["INV-1001"]


# --- credit memos applied: R5 -----------------------------------------------------------------------------


def test_a_credit_memo_applied_in_quickbooks_comes_back_as_a_credit_memo_payment(ledger):
    summary = sync(
        ledger,
        cdc(
            Invoice=[qbo_invoice("130", "INV-1001")],
            CreditMemo=[qbo_credit_memo("150", total=200.0, remaining=0)],
            Payment=[memo_payment("160", "130", "150", 200.00)],
        ),
    )

    shown = detail(ledger, "INV-1001")
    assert shown.summary.qb_credit_memos_minor == 20000
    assert shown.summary.cash_paid_minor == 0
    assert shown.summary.balance_due_minor == 80000
    assert [(p.kind.value, p.amount_minor) for p in shown.payments] == [("QBCreditMemo", 20000)]
    assert [(c.external_id, c.kind, c.amount_minor) for c in summary.payments_recorded] == [
        ("qbo:payment:160/130/memo", "QBCreditMemo", 20000)
    ]
    assert summary.credit_memos_seen == 1
    with ledger.read() as unit:
        session = unit.session
        row = session.exec(select(Payment)).one()
    assert row.created_by == "qbo" and row.received_on.isoformat() == "2026-10-10"


def test_re_sending_the_same_feed_records_nothing_twice(ledger):
    feed = cdc(Invoice=[qbo_invoice("130", "INV-1001")], Payment=[memo_payment("160", "130", "150", 200.00)])
    sync(ledger, feed)
    again = sync(ledger, feed)

    assert again.payments_recorded == [] and again.invoices_posted == []
    assert again.unchanged == 2
    with ledger.read() as unit:
        session = unit.session
        assert len(session.exec(select(Payment)).all()) == 1


def test_a_payment_listed_before_its_invoice_still_finds_it(ledger):
    document = {
        "CDCResponse": [
            {"QueryResponse": [{"Payment": [memo_payment("160", "130", "150", 200.00)]}]},
            {"QueryResponse": [{"Invoice": [qbo_invoice("130", "INV-1001")]}]},
        ],
        "time": "2026-10-14T12:00:00-07:00",
    }
    summary = sync(ledger, document)
    assert summary.problems == []
    assert detail(ledger, "INV-1001").summary.qb_credit_memos_minor == 20000


def test_a_higher_sync_token_with_another_amount_reverses_and_records_again(ledger):
    posted(ledger, ("130", "INV-1001"))
    first = sync(ledger, cdc(Payment=[memo_payment("160", "130", "150", 200.00)]))
    summary = sync(ledger, cdc(Payment=[memo_payment("160", "130", "150", 150.00, sync_token="1")]))

    assert [(c.amount_minor, c.external_id) for c in summary.payments_reversed] == [(20000, "qbo:payment:160/130/memo")]
    assert [(c.amount_minor, c.external_id) for c in summary.payments_recorded] == [
        (15000, "qbo:payment:160/130/memo/v2")
    ]
    assert detail(ledger, "INV-1001").summary.qb_credit_memos_minor == 15000
    with ledger.read() as unit:
        session = unit.session
        reversal = session.exec(select(Reversal)).one()
    assert reversal.payment_id == first.payments_recorded[0].payment_id
    assert reversal.actor == "qbo" and "SyncToken 1" in reversal.reason


def test_a_higher_sync_token_with_the_same_amounts_changes_nothing(ledger):
    posted(ledger, ("130", "INV-1001"))
    sync(ledger, cdc(Payment=[memo_payment("160", "130", "150", 200.00)]))
    summary = sync(ledger, cdc(Payment=[memo_payment("160", "130", "150", 200.00, sync_token="1", PrivateNote="x")]))
    assert summary.payments_recorded == [] and summary.payments_reversed == []


def test_a_changed_payment_date_is_recorded_again(ledger):
    posted(ledger, ("130", "INV-1001"))
    sync(ledger, cdc(Payment=[qbo_payment("170", [link("Invoice", "130", 100.00)], txn_date="2026-10-10")]))
    summary = sync(
        ledger,
        cdc(Payment=[qbo_payment("170", [link("Invoice", "130", 100.00)], txn_date="2026-10-09", sync_token="1")]),
    )
    assert [c.amount_minor for c in summary.payments_reversed] == [10000]
    live = [p for p in detail(ledger, "INV-1001").payments if p.reversed_at is None]
    assert [(p.received_on.isoformat(), p.amount_minor) for p in live] == [("2026-10-09", 10000)]


def test_an_older_sync_token_arriving_late_is_ignored(ledger):
    posted(ledger, ("130", "INV-1001"))
    sync(ledger, cdc(Payment=[memo_payment("160", "130", "150", 150.00, sync_token="3")]))
    summary = sync(ledger, cdc(Payment=[memo_payment("160", "130", "150", 200.00, sync_token="2")]))
    assert summary.stale == 1 and summary.payments_recorded == []
    assert detail(ledger, "INV-1001").summary.qb_credit_memos_minor == 15000


def test_a_voided_payment_is_undone_through_a_reversal(ledger):
    posted(ledger, ("130", "INV-1001"))
    original = memo_payment("160", "130", "150", 200.00)
    sync(ledger, cdc(Payment=[original]))
    summary = sync(ledger, cdc(Payment=[voided(original, sync_token="1")]))

    assert [c.reason for c in summary.payments_reversed] == ["QuickBooks payment 160 voided in QuickBooks"]
    shown = detail(ledger, "INV-1001")
    assert shown.summary.qb_credit_memos_minor == 0 and shown.summary.balance_due_minor == 100000
    with ledger.read() as unit:
        session = unit.session
        assert session.exec(select(QBTxn).where(QBTxn.qbo_id == "160")).one().status == "voided"
        assert len(session.exec(select(Payment)).all()) == 1  # append-only: the payment stays, reversed


def test_a_payment_deleted_in_quickbooks_is_undone_and_stays_deleted(ledger):
    posted(ledger, ("130", "INV-1001"))
    original = memo_payment("160", "130", "150", 200.00)
    sync(ledger, cdc(Payment=[original]))
    summary = sync(ledger, cdc(Payment=[deleted("160")]))
    assert summary.deleted == [("Payment", "160")]
    assert [c.amount_minor for c in summary.payments_reversed] == [20000]

    resent = sync(ledger, cdc(Payment=[memo_payment("160", "130", "150", 200.00, sync_token="5")]))
    assert resent.stale == 1 and resent.payments_recorded == []
    assert detail(ledger, "INV-1001").summary.qb_credit_memos_minor == 0


def test_a_delete_of_a_payment_never_seen_keeps_its_older_versions_out(ledger):
    posted(ledger, ("130", "INV-1001"))
    sync(ledger, cdc(Payment=[deleted("160")]))
    summary = sync(ledger, cdc(Payment=[memo_payment("160", "130", "150", 200.00)]))
    assert summary.stale == 1
    assert detail(ledger, "INV-1001").summary.qb_credit_memos_minor == 0


def test_an_invoice_deleted_in_quickbooks_is_reported_and_stays_posted(ledger):
    posted(ledger, ("130", "INV-1001"))
    summary = sync(ledger, cdc(Invoice=[deleted("130")]))
    assert [p.code for p in summary.problems] == ["invoice_deleted_in_quickbooks"]
    assert "INV-1001" in summary.problems[0].message
    assert get_invoice(ledger, "INV-1001").posted_to_qb_at is not None


# --- cash received in QuickBooks --------------------------------------------------------------------------


def test_a_payment_of_invoices_only_is_cash_received_in_quickbooks(ledger):
    posted(ledger, ("130", "INV-1001"), ("131", "INV-1002"))
    summary = sync(
        ledger, cdc(Payment=[qbo_payment("170", [link("Invoice", "130", 400.00), link("Invoice", "131", 500.00)])])
    )

    assert [(c.invoice_number, c.kind, c.amount_minor) for c in summary.payments_recorded] == [
        ("INV-1001", "QBPayment", 40000),
        ("INV-1002", "QBPayment", 50000),
    ]
    assert detail(ledger, "INV-1001").summary.cash_paid_minor == 40000
    assert detail(ledger, "INV-1002").summary.balance_due_minor == 0
    assert [p.kind.label for p in detail(ledger, "INV-1002").payments] == ["Payment received in QuickBooks"]


def test_a_payment_mixing_cash_and_a_credit_memo_splits_into_both_kinds(ledger):
    posted(ledger, ("130", "INV-1001"))
    payment = qbo_payment("171", [link("Invoice", "130", 1000.00), link("CreditMemo", "150", 250.00)])
    assert payment["TotalAmt"] == 750.00
    sync(ledger, cdc(Payment=[payment]))

    shown = detail(ledger, "INV-1001").summary
    assert (shown.cash_paid_minor, shown.qb_credit_memos_minor, shown.balance_due_minor) == (75000, 25000, 0)


def test_a_payment_of_an_invoice_not_linked_here_is_reported_and_applied_once_it_is(ledger):
    summary = sync(ledger, cdc(Payment=[qbo_payment("172", [link("Invoice", "130", 400.00)])]))
    assert [(p.code, p.qbo_id) for p in summary.problems] == [("unknown_invoice", "172")]
    assert "QuickBooks invoice 130" in summary.problems[0].message

    later = sync(ledger, cdc(Invoice=[qbo_invoice("130", "INV-1001")]))  # the payment is not sent again
    assert later.retried == 1 and later.problems == []
    assert detail(ledger, "INV-1001").summary.cash_paid_minor == 40000


def test_a_payment_of_an_unknown_customer_is_reported_and_applied_once_mapped(ledger):
    posted(ledger, ("130", "INV-1001"))
    import_rows(ledger, clients=[client("C1", "Acme Legal")])  # the QuickBooks id is removed from Acme
    summary = sync(ledger, cdc(Payment=[qbo_payment("173", [link("Invoice", "130", 100.00)])]))
    assert [p.code for p in summary.problems] == ["unknown_customer"]
    assert detail(ledger, "INV-1001").summary.cash_paid_minor == 0

    # The import that maps the customer applies the waiting payment itself: no sync needed.
    imported = import_rows(ledger, clients=[client("C1", "Acme Legal", qb_customer_id="58")])
    assert imported.quickbooks.retried == 1 and imported.quickbooks.problems == []
    assert detail(ledger, "INV-1001").summary.cash_paid_minor == 10000
    assert sync(ledger, cdc()).retried == 0


def test_a_payment_in_another_currency_is_reported_and_not_applied(ledger):
    posted(ledger, ("133", "INV-3001"))
    summary = sync(
        ledger, cdc(Payment=[qbo_payment("174", [link("Invoice", "133", 100.00)], customer="60", currency="USD")])
    )
    assert [p.code for p in summary.problems] == ["currency_mismatch"]
    assert detail(ledger, "INV-3001").summary.cash_paid_minor == 0


def test_a_payment_linking_a_journal_entry_is_reported_as_unsupported(ledger):
    posted(ledger, ("130", "INV-1001"))
    payment = qbo_payment("175", [link("Invoice", "130", 100.00), link("JournalEntry", "9", 100.00)], total=0)
    summary = sync(ledger, cdc(Payment=[payment]))
    assert [p.code for p in summary.problems] == ["unsupported_link"]
    assert summary.payments_recorded == []


# --- overpayments: R6 -------------------------------------------------------------------------------------


def test_an_overpayment_never_enters_the_wallet_and_is_noted_once(ledger):
    posted(ledger, ("131", "INV-1002"))
    payment = qbo_payment("180", [link("Invoice", "131", 500.00)], unapplied=120.00)
    summary = sync(ledger, cdc(Payment=[payment]))
    sync(ledger, cdc(Payment=[payment]))

    assert [(o.change, o.amount_minor) for o in summary.overpayments] == [("new", 12000)]
    with ledger.read() as unit:
        session = unit.session
        rows = session.exec(select(QBOverpayment)).all()
        wallet = session.get(Client, "C1")
    assert [(r.qb_payment_id, r.client_id, r.amount_minor, r.currency, r.qb_txn_date.isoformat()) for r in rows] == [
        ("180", "C1", 12000, "USD", "2026-10-10")
    ]
    assert rows[0].seen_at.tzinfo is not None
    assert (wallet.credits_issued_minor, wallet.available_credit_minor) == (0, 0)
    assert detail(ledger, "INV-1002").summary.cash_paid_minor == 50000


def test_an_unapplied_payment_without_lines_is_an_overpayment(ledger):
    summary = sync(ledger, cdc(Payment=[qbo_payment("181", [], unapplied=300.00)]))
    assert [(o.change, o.amount_minor) for o in summary.overpayments] == [("new", 30000)]
    assert summary.problems == []


def test_a_later_sync_token_updates_the_overpayment_amount(ledger):
    posted(ledger, ("131", "INV-1002"))
    sync(ledger, cdc(Payment=[qbo_payment("180", [link("Invoice", "131", 500.00)], unapplied=120.00)]))
    summary = sync(
        ledger, cdc(Payment=[qbo_payment("180", [link("Invoice", "131", 500.00)], unapplied=80.00, sync_token="1")])
    )
    assert [(o.change, o.amount_minor, o.previous_minor) for o in summary.overpayments] == [("updated", 8000, 12000)]
    with ledger.read() as unit:
        session = unit.session
        assert [r.amount_minor for r in session.exec(select(QBOverpayment))] == [8000]


def test_an_overpayment_applied_later_in_quickbooks_is_cleared(ledger):
    posted(ledger, ("130", "INV-1001"), ("131", "INV-1002"))
    sync(ledger, cdc(Payment=[qbo_payment("180", [link("Invoice", "131", 500.00)], unapplied=120.00)]))
    applied = qbo_payment("180", [link("Invoice", "131", 500.00), link("Invoice", "130", 120.00)], sync_token="1")
    summary = sync(ledger, cdc(Payment=[applied]))
    assert [o.change for o in summary.overpayments] == ["cleared"]
    assert detail(ledger, "INV-1001").summary.cash_paid_minor == 12000
    with ledger.read() as unit:
        session = unit.session
        assert session.exec(select(QBOverpayment)).all() == []


def test_an_overpayment_changed_after_it_was_entered_as_credit_is_flagged(ledger):
    from ledger.qbo.overpayments import enter_qb_overpayment_as_credit

    sync(ledger, cdc(Payment=[qbo_payment("181", [], unapplied=300.00)]))
    ledger.transact(enter_qb_overpayment_as_credit, "181", WriteRequest("slack:U1", "k1"))
    summary = sync(ledger, cdc(Payment=[voided(qbo_payment("181", [], unapplied=300.00), sync_token="1")]))

    assert [p.code for p in summary.problems] == ["overpayment_changed_after_entered_as_credit"]
    assert "credit #" in summary.problems[0].message
    with ledger.read() as unit:
        session = unit.session
        assert session.exec(select(Credit)).one().amount_minor == 30000  # the credit itself is not touched


# --- bad input writes nothing -----------------------------------------------------------------------------


def test_an_amount_with_too_many_decimals_for_the_currency_writes_nothing(ledger):
    before = ledger_state(ledger)
    bad = qbo_payment("190", [link("Invoice", "130", 100.005)], total=100.005)
    with pytest.raises(QBOFeedError, match=r"QuickBooks Payment 190: Line\[0\].Amount.*USD has at most 2 decimals"):
        sync(ledger, cdc(Invoice=[qbo_invoice("130", "INV-1001")], Payment=[bad]))
    assert ledger_state(ledger) == before
    with ledger.read() as unit:
        session = unit.session
        assert session.exec(select(QBTxn)).all() == []
        assert session.exec(select(HistoryEntry).where(HistoryEntry.actor == "qbo")).all() == []


def test_totals_stay_equal_to_entries_through_a_whole_story(ledger):
    original = memo_payment("160", "130", "150", 200.00)
    sync(
        ledger,
        cdc(
            Invoice=[qbo_invoice("130", "INV-1001"), qbo_invoice("132", "INV-2001", customer="59", total=300.00)],
            Payment=[original, qbo_payment("170", [link("Invoice", "132", 300.00)], customer="59", unapplied=5.0)],
        ),
    )
    sync(ledger, cdc(Payment=[memo_payment("160", "130", "150", 120.00, sync_token="1")]))
    sync(ledger, cdc(Payment=[voided(original, "2"), deleted("170")]))
    state = ledger_state(ledger)
    assert state["live_payments"] == []
    assert state["overpayments"] == {}
    assert detail(ledger, "INV-2001").summary.balance_due_minor == 30000


# --- the same path for a live QuickBooks connection -------------------------------------------------------


def test_entities_read_one_by_one_after_webhooks_feed_the_same_path(ledger):
    """A webhook names changed entities; each is read by id (floats, as a JSON client decodes them) or, when
    deleted, built as change data capture reports it."""
    invoice_read = {"Invoice": qbo_invoice("130", "INV-1001"), "time": "2026-10-14T12:00:00-07:00"}
    payment_read = {"Payment": memo_payment("160", "130", "150", 200.10), "time": "2026-10-14T12:00:00-07:00"}
    entities = [*parse_feed(payment_read).entities, *parse_feed(invoice_read).entities]
    summary = ledger.transact(apply_entities, entities)
    assert [c.amount_minor for c in summary.payments_recorded] == [20010]

    gone = ledger.transact(apply_entities, [parse_entity("Payment", {"status": "Deleted", "Id": "160"})])
    assert [c.amount_minor for c in gone.payments_reversed] == [20010]
    assert detail(ledger, "INV-1001").summary.qb_credit_memos_minor == 0
