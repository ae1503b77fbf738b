"""The ledger's writes, as a billing person would describe them (R1, R2, R4, R7, R8)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ledger import operations, reads
from ledger.approvals import WriteRequest
from ledger.errors import (
    AlreadyReversed,
    ExceedsBalanceDue,
    IdempotencyConflict,
    InsufficientCredit,
    InvalidAmount,
    InvoicePostedToQuickBooks,
    NotAnApplication,
    NothingToApply,
    UnknownApplication,
    UnknownInvoice,
    UnknownProject,
)
from ledger.kinds import PaymentKind
from ledger.tables import HistoryEntry, IdempotencyKey, Payment, Reversal
from ledger.totals import stored_totals, totals_from_entries
from tests.builders import client, credit, import_rows, invoice, payment, simple_ledger


def _row_counts(db) -> tuple[int, ...]:
    with db.read() as unit:
        session = unit.session
        return tuple(
            session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Payment, Reversal, HistoryEntry, IdempotencyKey)
        )


def _balance(db, client_query: str = "C1"):
    with db.read() as unit:
        return reads.client_balance(unit, client_query)


def test_apply_records_an_account_credit_payment_and_draws_on_the_wallet(db):
    simple_ledger(db, credit_amount="500.00", total="1000.00")
    result = db.transact(operations.apply_credit, "INV-1", "200.00", None, WriteRequest("cli:alice", "k1"))
    assert result.amount_minor == 20000
    assert (result.available_before_minor, result.available_after_minor) == (50000, 30000)
    assert (result.balance_due_before_minor, result.balance_due_after_minor) == (100000, 80000)
    with db.read() as unit:
        detail = reads.invoice_detail(unit, "INV-1")
    assert [(p.kind, p.amount_minor) for p in detail.payments] == [(PaymentKind.ACCOUNT_CREDIT, 20000)]
    assert detail.summary.credits_applied_minor == 20000 and detail.summary.cash_paid_minor == 0


def test_apply_without_amount_applies_the_smaller_of_credit_and_balance(db):
    simple_ledger(db, credit_amount="1500.00", total="1000.00")
    assert db.transact(operations.apply_credit, "INV-1", None, None, WriteRequest("t", "k1")).amount_minor == 100000
    simple_ledger_client2 = [client("C2"), invoice("INV-2", "C2", total="900.00"), credit("CR-2", "C2", "250.00")]
    import_rows(db, clients=[simple_ledger_client2[0]], invoices=[simple_ledger_client2[1]],
                credits=[simple_ledger_client2[2]])  # fmt: skip
    assert db.transact(operations.apply_credit, "INV-2", None, None, WriteRequest("t", "k2")).amount_minor == 25000


def test_apply_without_amount_refuses_when_nothing_can_be_applied(db):
    simple_ledger(db, credit_amount="100.00")
    db.transact(operations.apply_credit, "INV-1", None, None, WriteRequest("t", "k1"))
    with pytest.raises(NothingToApply, match="no credit available"):
        db.transact(operations.apply_credit, "INV-1", None, None, WriteRequest("t", "k2"))


def test_apply_refuses_more_than_the_available_credit(db):
    simple_ledger(db, credit_amount="100.00")
    before = _row_counts(db)
    with pytest.raises(InsufficientCredit, match=r"only \$100.00 of credit available"):
        db.transact(operations.apply_credit, "INV-1", "100.01", None, WriteRequest("t", "k1"))
    assert _row_counts(db) == before


def test_apply_refuses_more_than_the_balance_due(db):
    simple_ledger(db, credit_amount="5000.00", total="1000.00")
    with pytest.raises(ExceedsBalanceDue, match=r"more than the \$1,000.00 still owed on invoice INV-1"):
        db.transact(operations.apply_credit, "INV-1", "1000.01", None, WriteRequest("t", "k1"))


def test_apply_refuses_posted_invoice(db):
    import_rows(
        db,
        clients=[client("C1")],
        invoices=[invoice("INV-9", posted_to_qb_at="2026-10-05T14:30:00Z", qb_invoice_id="77")],
        credits=[credit("CR-1")],
    )
    before = _row_counts(db)
    with pytest.raises(InvoicePostedToQuickBooks) as refused:
        db.transact(operations.apply_credit, "INV-9", "10.00", None, WriteRequest("t", "k1"))
    assert "posted to QuickBooks on 2026-10-05 14:30 UTC" in refused.value.message
    assert "managed in QuickBooks" in refused.value.message
    assert _row_counts(db) == before


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        ("0", "greater than zero"),
        ("-5", "positive"),
        ("1,000.00", "thousands separators"),
        ("$5", "currency sign"),
        ("1e3", "plain decimal"),
        ("10.001", "at most 2 decimals"),
        ("abc", "plain decimal"),
    ],
)
def test_apply_refuses_malformed_amounts(db, amount, why):
    simple_ledger(db)
    before = _row_counts(db)
    with pytest.raises(InvalidAmount, match=why):
        db.transact(operations.apply_credit, "INV-1", amount, None, WriteRequest("t", "k1"))
    assert _row_counts(db) == before


def test_amount_decimals_follow_the_clients_currency(db):
    import_rows(db, clients=[client("J1", currency="JPY")], invoices=[invoice("INV-J", "J1", total="50000")],
                credits=[credit("CR-J", "J1", "3000")])  # fmt: skip
    with pytest.raises(InvalidAmount, match="JPY has no decimals"):
        db.transact(operations.apply_credit, "INV-J", "100.5", None, WriteRequest("t", "k1"))
    assert db.transact(operations.apply_credit, "INV-J", "1200", None, WriteRequest("t", "k2")).amount_minor == 1200


def test_project_tag_must_be_one_of_the_clients_projects(db):
    simple_ledger(db)
    import_rows(db, clients=[client("C2")], projects=[{"project_id": "P2", "client_id": "C2", "name": "Other"}])
    with pytest.raises(UnknownProject, match="Its projects are: P1"):
        db.transact(operations.apply_credit, "INV-1", "10.00", "P2", WriteRequest("t", "k1"))
    result = db.transact(operations.apply_credit, "INV-1", "10.00", "P1", WriteRequest("t", "k2"))
    assert result.project_id == "P1"
    assert _balance(db).credits_by_project_minor == {"P1": 1000}


def test_credits_are_client_level_and_never_cross_clients(db):
    simple_ledger(db, credit_amount="500.00")
    import_rows(db, clients=[client("C2")], invoices=[invoice("INV-2", "C2")])
    with pytest.raises(InsufficientCredit, match="Client C2 has only"):
        db.transact(operations.apply_credit, "INV-2", "1.00", None, WriteRequest("t", "k1"))


def test_same_key_same_request_returns_the_first_result_and_writes_nothing(db):
    simple_ledger(db)
    first = db.transact(operations.apply_credit, "INV-1", "50.00", None, WriteRequest("t", "slack:double-click"))
    before = _row_counts(db)
    again = db.transact(operations.apply_credit, "INV-1", "50.00", None, WriteRequest("t", "slack:double-click"))
    assert again.replayed and again.application_id == first.application_id
    assert _row_counts(db) == before
    assert _balance(db).available_credit_minor == 45000


def test_same_key_with_other_parameters_is_refused(db):
    simple_ledger(db)
    db.transact(operations.apply_credit, "INV-1", "50.00", None, WriteRequest("t", "k1"))
    with pytest.raises(IdempotencyConflict):
        db.transact(operations.apply_credit, "INV-1", "60.00", None, WriteRequest("t", "k1"))


def test_reverse_restores_wallet_and_invoice_and_only_once(db):
    simple_ledger(db, credit_amount="500.00")
    applied = db.transact(operations.apply_credit, "INV-1", "200.00", None, WriteRequest("t", "k1"))
    undone = db.transact(operations.reverse_application, applied.application_id, WriteRequest("t", "k2"))
    assert (undone.available_after_minor, undone.balance_due_after_minor) == (50000, 100000)
    with pytest.raises(AlreadyReversed):
        db.transact(operations.reverse_application, applied.application_id, WriteRequest("t", "k3"))
    assert db.transact(operations.reverse_application, applied.application_id, WriteRequest("t", "k2")).replayed
    with db.read() as unit:
        detail = reads.invoice_detail(unit, "INV-1")
    assert detail.payments[0].reversed_at is not None


def test_reverse_refuses_cash_payments_unknown_ids_and_posted_invoices(db):
    import_rows(
        db,
        clients=[client("C1")],
        invoices=[invoice("INV-1"), invoice("INV-P", posted_to_qb_at="2026-10-05T00:00:00Z")],
        credits=[credit("CR-1")],
        payments=[payment("PAY-1", "INV-1", "check"), payment("PAY-2", "INV-P", "AccountCredit", "50.00")],
    )
    with db.read() as unit:
        session = unit.session
        ids = dict(session.execute(select(Payment.external_id, Payment.id)).all())
    with pytest.raises(NotAnApplication):
        db.transact(operations.reverse_application, ids["PAY-1"], WriteRequest("t", "k1"))
    with pytest.raises(InvoicePostedToQuickBooks):
        db.transact(operations.reverse_application, ids["PAY-2"], WriteRequest("t", "k2"))
    with pytest.raises(UnknownApplication):
        db.transact(operations.reverse_application, 999_999, WriteRequest("t", "k3"))


def test_issue_credit_adds_to_the_wallet_by_client_name(db):
    simple_ledger(db, credit_amount="100.00")
    result = db.transact(
        operations.issue_credit, "client c1", Decimal("25.50"), "Goodwill", WriteRequest("slack:U1", "k1")
    )
    assert (result.available_before_minor, result.available_after_minor) == (10000, 12550)
    with db.read() as unit:
        _, lines = reads.history(unit, "C1")
    assert [(line.actor, line.action) for line in lines][-1] == ("slack:U1", "issue_credit")


def test_unknown_invoice_is_refused(db):
    simple_ledger(db)
    with pytest.raises(UnknownInvoice):
        db.transact(operations.apply_credit, "INV-404", "1.00", None, WriteRequest("t", "k1"))


def test_every_write_is_in_the_history_with_before_and_after(db):
    simple_ledger(db)
    applied = db.transact(operations.apply_credit, "INV-1", "200.00", None, WriteRequest("cli:alice", "k1"))
    db.transact(
        operations.reverse_application, applied.application_id, WriteRequest("cli:bob", "k2"), reason="wrong invoice"
    )
    with db.read() as unit:
        _, [imported, *lines] = reads.history(unit, "INV-1")
    assert (imported.actor, imported.action) == ("import", "import")  # the import that created the invoice
    assert [(line.actor, line.action) for line in lines] == [
        ("cli:alice", "apply_credit"),
        ("cli:bob", "reverse_application"),
    ]
    assert lines[0].before == {"available_credit": "500.00", "balance_due": "1000.00"}
    assert lines[1].after["available_credit"] == "500.00" and lines[1].detail == "wrong invoice"


def test_refusals_can_be_recorded_without_changing_balances(db):
    simple_ledger(db)
    db.transact(operations.record_refusal, "slack:U9", "apply_credit", "not a billing admin", client_id="C1")
    with db.read() as unit:
        session = unit.session
        _, lines = reads.history(unit, "C1")
        assert stored_totals(session) == totals_from_entries(session)
    assert lines[-1].outcome == "refused"
    assert _balance(db).available_credit_minor == 50000


def test_a_limited_balance_reads_the_oldest_invoices_and_counts_them_all(db):
    import_rows(
        db,
        clients=[client("C1")],
        invoices=[invoice(f"INV-{n:02d}", issued_on=f"2026-10-{n:02d}") for n in range(1, 16)],
    )
    with db.read() as unit:
        limited = reads.client_balance(unit, "C1", invoice_limit=12)
        everything = reads.client_balance(unit, "C1")
    assert [i.number for i in limited.invoices] == [f"INV-{n:02d}" for n in range(1, 13)]
    assert limited.open_invoice_count == everything.open_invoice_count == len(everything.invoices) == 15
