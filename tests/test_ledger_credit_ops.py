"""Issue 17's credit operations as a billing clerk asks for them: "reverse only 100 of that", "move this credit to the
other invoice", "move Acme's credit to its subsidiary", "refund it", "write it off", "does this credit expire?",
"apply their credit to the oldest invoices", "show me their credits". Real SQLite and PostgreSQL ledgers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from ledger import approvals, operations, reads
from ledger.approvals import WriteRequest
from ledger.credit_ops import apply_all, expiry, reversals, wallets
from ledger.errors import (
    AlreadyReversed,
    ApprovalRequired,
    CreditExpired,
    ExceedsAvailableCredit,
    ExceedsBalanceDue,
    ExpiryInPast,
    InvalidCreditSearch,
    InvalidDate,
    InvoicePostedToQuickBooks,
    MoveToOtherClient,
    MoveToSameInvoice,
    NothingToApplyAll,
    ReasonRequired,
    RefundReferenceTaken,
    ReversalExceedsApplication,
    TransferCurrencyMismatch,
    TransferToSameClient,
    WriteOffAlreadyReinstated,
)
from ledger.rules import Rules
from ledger.tables import CreditRefund, HistoryEntry
from ledger.thresholds import ApprovalThresholds
from ledger.totals import stored_totals, totals_from_entries
from tests.builders import available, client, credit, due, import_rows, invoice, row_counts
from tests.ledger_time import days_pass


def by(key: str, actor: str = "cli:alice") -> WriteRequest:
    return WriteRequest(actor, key)


def totals_agree(db) -> bool:
    with db.read() as unit:
        return stored_totals(unit.session) == totals_from_entries(unit.session)


def two_invoices(db, credit_amount: str = "500.00") -> None:
    import_rows(
        db,
        clients=[client("C1"), client("C2"), client("E1", currency="EUR")],
        invoices=[invoice("INV-1", total="400.00"), invoice("INV-2", total="300.00"), invoice("INV-3", "C2"),
                  invoice("INV-P", total="200.00", posted_to_qb_at="2026-10-05T14:30:00Z", qb_invoice_id="9")],
        credits=[credit("CR-1", amount=credit_amount), credit("CR-2", "C2", "50.00"), credit("CR-E", "E1", "80.00")],
    )  # fmt: skip


# --- partial reversal --------------------------------------------------------------------------------------


def test_a_partial_reversal_gives_back_only_that_much_and_keeps_the_rest_applied(db):
    two_invoices(db)
    applied = db.transact(operations.apply_credit, "INV-1", "300.00", None, by("a"))
    first = db.transact(operations.reverse_application, applied.application_id, by("r1"), amount="100.00")
    assert (first.amount_minor, first.remaining_minor) == (10000, 20000)
    assert first.remaining_application_id is not None and first.application_id == applied.application_id
    assert available(db) == 50000 - 20000 and due(db, "INV-1") == 40000 - 20000
    second = db.transact(operations.reverse_application, applied.application_id, by("r2"), amount="150.00")
    assert second.reversed_application_id == first.remaining_application_id and second.remaining_minor == 5000
    with pytest.raises(ReversalExceedsApplication, match=r"only \$50.00 of it is still applied"):
        db.transact(operations.reverse_application, applied.application_id, by("r3"), amount="50.01")
    rest = db.transact(operations.reverse_application, applied.application_id, by("r4"))
    assert rest.amount_minor == 5000 and rest.remaining_application_id is None
    with pytest.raises(AlreadyReversed):
        db.transact(operations.reverse_application, applied.application_id, by("r5"), amount="0.01")
    assert available(db) == 50000 and due(db, "INV-1") == 40000 and totals_agree(db)


def test_a_partial_reversal_is_idempotent_and_refused_on_a_posted_invoice(db):
    two_invoices(db)
    applied = db.transact(operations.apply_credit, "INV-1", "100.00", None, by("a"))
    once = db.transact(operations.reverse_application, applied.application_id, by("r"), amount="40")
    again = db.transact(operations.reverse_application, applied.application_id, by("r"), amount="40")
    assert again.replayed and again.reversal_id == once.reversal_id and available(db) == 50000 - 6000


# --- move ------------------------------------------------------------------------------------------------


def test_move_takes_credit_off_one_invoice_and_puts_it_on_another_in_one_step(db):
    two_invoices(db)
    applied = db.transact(operations.apply_credit, "INV-1", "250.00", None, by("a"))
    moved = db.transact(reversals.move_application, applied.application_id, "INV-2", by("m"), amount="100.00")
    assert (moved.from_invoice, moved.to_invoice, moved.amount_minor) == ("INV-1", "INV-2", 10000)
    assert due(db, "INV-1") == 40000 - 15000 and due(db, "INV-2") == 30000 - 10000
    assert available(db) == 50000 - 25000 and totals_agree(db)
    whole = db.transact(reversals.move_application, applied.application_id, "inv-2", by("m2"))
    assert whole.amount_minor == 15000 and whole.remaining_application_id is None
    assert due(db, "INV-1") == 40000 and due(db, "INV-2") == 30000 - 25000


def test_move_refuses_other_clients_the_same_invoice_posted_invoices_and_more_than_is_owed(db):
    two_invoices(db)
    applied = db.transact(operations.apply_credit, "INV-1", "350.00", None, by("a"))
    before = row_counts(db, HistoryEntry)
    with pytest.raises(MoveToOtherClient, match="use `transfer`"):
        db.transact(reversals.move_application, applied.application_id, "INV-3", by("m1"))
    with pytest.raises(MoveToSameInvoice):
        db.transact(reversals.move_application, applied.application_id, "INV-1", by("m2"))
    with pytest.raises(InvoicePostedToQuickBooks):
        db.transact(reversals.move_application, applied.application_id, "INV-P", by("m3"))
    with pytest.raises(ExceedsBalanceDue):
        db.transact(reversals.move_application, applied.application_id, "INV-2", by("m4"))
    assert row_counts(db, HistoryEntry) == before and due(db, "INV-1") == 5000


# --- transfer --------------------------------------------------------------------------------------------


def test_transfer_moves_credit_between_related_clients_in_one_step(db):
    two_invoices(db)
    result = db.transact(wallets.transfer_credit, "C1", "C2", "120.00", "Acme to its subsidiary", by("t"))
    assert (result.from_available_after_minor, result.to_available_after_minor) == (38000, 17000)
    assert available(db, "C1") == 38000 and available(db, "C2") == 17000 and totals_agree(db)
    with db.read() as unit:
        lines = unit.session.exec(select(HistoryEntry).where(HistoryEntry.action == "transfer_credit")).all()
    assert {line.client_id for line in lines} == {"C1", "C2"}
    assert all(line.detail == "Acme to its subsidiary" for line in lines)


def test_transfer_refusals(db):
    two_invoices(db)
    db.transact(operations.apply_credit, "INV-1", "400.00", None, by("a"))
    with pytest.raises(ExceedsAvailableCredit, match=r"Cannot transfer \$100.01: Client C1 has only \$100.00"):
        db.transact(wallets.transfer_credit, "C1", "C2", "100.01", "why", by("t1"))
    with pytest.raises(TransferCurrencyMismatch):
        db.transact(wallets.transfer_credit, "C1", "E1", "1.00", "why", by("t2"))
    with pytest.raises(TransferToSameClient):
        db.transact(wallets.transfer_credit, "C1", "Client C1", "1.00", "why", by("t3"))
    with pytest.raises(ReasonRequired):
        db.transact(wallets.transfer_credit, "C1", "C2", "1.00", "  ", by("t4"))
    assert available(db, "C1") == 10000 and available(db, "C2") == 5000


def test_undo_of_a_transfer_sends_it_back_once(db):
    two_invoices(db)
    sent = db.transact(wallets.transfer_credit, "C1", "C2", "20.00", "why", by("t"))
    back = db.transact(wallets.undo_transfer, sent.transfer_id, "slack:U1")
    again = db.transact(wallets.undo_transfer, sent.transfer_id, "slack:U2")
    assert back.to_client_id == "C1" and again.replayed
    assert available(db, "C1") == 50000 and available(db, "C2") == 5000


# --- refund and write-off --------------------------------------------------------------------------------


def test_refund_pays_credit_out_with_a_receipt_for_the_billing_system_and_quickbooks(db):
    two_invoices(db)
    numbered = db.transact(wallets.refund_credit, "C1", "75.00", "client asked", by("f1"))
    typed = db.transact(wallets.refund_credit, "C1", "25.00", "client asked", by("f2"), reference="CHK-1001")
    assert numbered.reference == f"RF-{numbered.credit_id}" and typed.reference == "CHK-1001"
    assert available(db) == 40000 and totals_agree(db)
    with db.read() as unit:
        receipts = unit.session.exec(select(CreditRefund).order_by(CreditRefund.id)).all()
    assert [(r.reference, r.amount_minor, r.follow_status) for r in receipts] == [
        (numbered.reference, 7500, "pending"), ("CHK-1001", 2500, "pending")]  # fmt: skip
    with pytest.raises(RefundReferenceTaken):
        db.transact(wallets.refund_credit, "C1", "1.00", "again", by("f3"), reference="CHK-1001")


def test_refund_and_write_off_never_take_the_wallet_below_what_is_applied(db):
    two_invoices(db)
    db.transact(operations.apply_credit, "INV-1", "400.00", None, by("a"))
    db.transact(operations.apply_credit, "INV-2", "50.00", None, by("a2"))
    for op in (wallets.refund_credit, wallets.write_off_credit):
        with pytest.raises(ExceedsAvailableCredit):
            db.transact(op, "C1", "50.01", "why", by(f"x-{op.__name__}"))
    off = db.transact(wallets.write_off_credit, "C1", "50.00", "unused for years", by("w"))
    assert available(db) == 0 and off.available_after_minor == 0


def test_undo_of_a_write_off_brings_the_credit_back_once(db):
    two_invoices(db)
    off = db.transact(wallets.write_off_credit, "C1", "100.00", "unused", by("w"))
    back = db.transact(wallets.reinstate_write_off, off.credit_id, by("u"))
    assert back.amount_minor == 10000 and available(db) == 50000
    with pytest.raises(WriteOffAlreadyReinstated):
        db.transact(wallets.reinstate_write_off, off.credit_id, by("u2"))


# --- expiry ----------------------------------------------------------------------------------------------


def today(db):
    with db.read() as unit:
        return unit.now.date()


def test_credit_that_expires_is_used_first_and_its_remainder_leaves_the_day_after(db):
    import_rows(db, clients=[client("C1")], invoices=[invoice("INV-1", total="1000.00")], credits=[credit("CR-1")])
    soon = (today(db) + timedelta(days=2)).isoformat()
    later = (today(db) + timedelta(days=30)).isoformat()
    db.transact(operations.issue_credit, "C1", "80.00", "promo", by("i1"), expires_on=soon)
    db.transact(operations.issue_credit, "C1", "60.00", "promo", by("i2"), expires_on=later)
    db.transact(operations.apply_credit, "INV-1", "50.00", None, by("a"))  # drawn from the 80 that expires first
    days_pass(db, 2)
    assert available(db) == 10000 + 8000 + 6000 - 5000  # usable through its expiry day
    days_pass(db, 1)
    assert available(db) == 10000 + 6000  # the 30 left of the 80 expired; the read already leaves it out
    assert db.transact(expiry.expire_credits)[0].amount_minor == 3000
    assert db.transact(expiry.expire_credits) == [] and available(db) == 16000 and totals_agree(db)
    with db.read() as unit:
        lines = unit.session.exec(select(HistoryEntry).where(HistoryEntry.action == "expire_credit")).all()
    assert [line.after["credit_expired"] for line in lines] == ["30.00"]


def test_a_write_on_an_expired_wallet_records_the_expiry_first(db):
    import_rows(db, clients=[client("C1")], invoices=[invoice("INV-1", total="1000.00")])
    db.transact(operations.issue_credit, "C1", "80.00", "promo", by("i1"), expires_on=today(db).isoformat())
    days_pass(db, 1)
    with pytest.raises(Exception, match="no credit available"):
        db.transact(operations.apply_credit, "INV-1", None, None, by("a"))
    with pytest.raises(CreditExpired):
        db.transact(operations.revoke_credit, 1, by("v"))


def test_expiry_dates_in_the_past_or_malformed_are_refused(db):
    import_rows(db, clients=[client("C1")])
    with pytest.raises(ExpiryInPast):
        db.transact(operations.issue_credit, "C1", "1.00", "x", by("i1"),
                    expires_on=(today(db) - timedelta(days=1)).isoformat())  # fmt: skip
    with pytest.raises(InvalidDate):
        db.transact(operations.issue_credit, "C1", "1.00", "x", by("i2"), expires_on="31/12/2026")


def test_transferred_credit_keeps_its_expiry(db):
    import_rows(db, clients=[client("C1"), client("C2")])
    db.transact(operations.issue_credit, "C1", "40.00", "promo", by("i1"), expires_on=today(db).isoformat())
    db.transact(wallets.transfer_credit, "C1", "C2", "40.00", "subsidiary", by("t"))
    days_pass(db, 1)
    assert available(db, "C2") == 0


def test_the_csv_import_reads_expires_on(db):
    soon = (today(db) + timedelta(days=1)).isoformat()
    import_rows(db, clients=[client("C1")], credits=[credit("CR-1", amount="10.00", expires_on=soon)])
    days_pass(db, 2)
    assert available(db) == 0


# --- apply-all -------------------------------------------------------------------------------------------


def test_apply_all_dry_run_shows_the_plan_and_writes_nothing(db):
    two_invoices(db, credit_amount="500.00")
    before = row_counts(db, HistoryEntry)
    plan = db.transact(apply_all.apply_all, "C1", by("p"), order=apply_all.LARGEST_FIRST, dry_run=True)
    assert [(line["invoice_number"], line["amount_minor"]) for line in plan.lines] == [
        ("INV-1", 40000),
        ("INV-2", 10000),
    ]
    assert plan.posted_skipped == 1 and row_counts(db, HistoryEntry) == before and available(db) == 50000


def test_apply_all_spreads_the_credit_oldest_first_in_one_step(db):
    import_rows(
        db,
        clients=[client("C1")],
        invoices=[invoice("NEW", total="300.00", issued_on="2026-10-09"), invoice("OLD", total="100.00")],
        credits=[credit("CR-1", amount="250.00")],
    )
    result = db.transact(apply_all.apply_all, "C1", by("all"))
    assert [(line["invoice_number"], line["amount_minor"]) for line in result.lines] == [("OLD", 10000), ("NEW", 15000)]
    assert available(db) == 0 and due(db, "NEW") == 15000 and totals_agree(db)
    with pytest.raises(NothingToApplyAll, match="no credit available"):
        db.transact(apply_all.apply_all, "C1", by("all-2"))
    assert db.transact(apply_all.apply_all, "C1", by("all")).replayed


# --- approvals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "call"),
    [
        (approvals.TRANSFER, lambda db, b: db.transact(wallets.transfer_credit, "C1", "C2", "200.00", "why", b)),
        (approvals.REFUND, lambda db, b: db.transact(wallets.refund_credit, "C1", "200.00", "why", b)),
        (approvals.WRITE_OFF, lambda db, b: db.transact(wallets.write_off_credit, "C1", "200.00", "why", b)),
        (approvals.APPLY_ALL, lambda db, b: db.transact(apply_all.apply_all, "C1", b)),
    ],
)
def test_operations_above_the_threshold_wait_for_approval_and_carry_out_once_approved(db, action, call):
    two_invoices(db)
    gated = db.with_rules(Rules(approval=ApprovalThresholds.parse("100")))
    with pytest.raises(ApprovalRequired) as held:
        call(gated, WriteRequest("slack:U1", "k"))
    assert held.value.action == action and available(db) == 50000
    opened = gated.transact(approvals.open_request, action, held.value.params, "slack:U1", "req", "C1")
    gated.transact(approvals.decide, opened.request.id, "slack:U2", True)
    request = gated.transact(approvals.get_request, opened.request.id)
    gated.transact(operations.carry_out_approved, request)
    assert available(db) < 50000 and totals_agree(db)


def test_a_move_above_the_threshold_waits_for_approval(db):
    two_invoices(db)
    applied = db.transact(operations.apply_credit, "INV-1", "200.00", None, by("a"))
    gated = db.with_rules(Rules(approval=ApprovalThresholds.parse("100")))
    with pytest.raises(ApprovalRequired) as held:
        gated.transact(reversals.move_application, applied.application_id, "INV-2", WriteRequest("u", "k"))
    assert held.value.action == approvals.MOVE and due(db, "INV-2") == 30000


# --- search ----------------------------------------------------------------------------------------------


def test_credits_lists_entries_newest_first_filtered_and_paged(db):
    two_invoices(db)
    applied = db.transact(operations.apply_credit, "INV-1", "100.00", None, by("a"))
    db.transact(operations.reverse_application, applied.application_id, by("r"), amount="30.00")
    db.transact(wallets.refund_credit, "C1", "20.00", "asked", by("f"))
    with db.read() as unit:
        everything = reads.credit_entries(unit, reads.CreditFilter(client="C1"))
        kinds = {entry.kind for entry in everything.entries}
        big = reads.credit_entries(unit, reads.CreditFilter(client="C1", min_amount="100", kind="applied"))
        page = reads.credit_entries(unit, reads.CreditFilter(page_size=2))
        refunds = reads.credit_entries(unit, reads.CreditFilter(kind="refunded"))
    assert kinds == {"grant", "applied", "reversed", "refund"}
    assert [entry.amount_minor for entry in big.entries] == [-10000]
    assert len(page.entries) == 2 and page.has_more
    assert [(entry.client_id, entry.amount_minor) for entry in refunds.entries] == [("C1", -2000)]
    with db.read() as unit, pytest.raises(InvalidCreditSearch, match="not a kind"):
        reads.credit_entries(unit, reads.CreditFilter(kind="gifts"))
