"""Each finding kind, found where it is and nowhere else (the noise around it), on SQLite and PostgreSQL.

Ledgers are built through the real CSV import and the ledger's own operations; scans run as `creditbot scan`
runs them. Every test also checks that an incremental scan and a full one agree.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ledger import operations, scans
from ledger.approvals import WriteRequest
from ledger.qbo.overpayments import enter_qb_overpayment_as_credit
from ledger.scans import FindingKind, ScanOptions
from tests.builders import client, credit, import_rows, invoice, payment
from tests.qbo_payloads import cdc, qbo_payment, sync

POSTED = "2026-10-05T12:00:00Z"
BEFORE, AFTER = "2026-10-04T08:00:00Z", "2026-10-07T08:00:00Z"


def scan(db, *, full: bool = False, window: int = 7) -> list[scans.StoredFinding]:
    scans.run_scan(db, ScanOptions(duplicate_window_days=window), full=full)
    with db.read() as unit:
        return scans.open_findings(unit)


def of_kind(findings, kind: FindingKind) -> list[scans.StoredFinding]:
    return [finding for finding in findings if finding.kind is kind]


def summary(findings) -> set[tuple[str, str | None, str | None, str | None]]:
    return {(f.kind.value, f.invoice_number, f.client_id, f.amount) for f in findings}


def assert_full_agrees(db, window: int = 7) -> None:
    with db.read() as unit:
        stored = {(f.fingerprint, f.detail, f.amount_minor) for f in scans.open_findings(unit)}
    fresh = {(f.fingerprint, f.detail, f.amount_minor) for f in scans.evaluate_all(db, ScanOptions(window))}
    assert stored == fresh


# --- duplicate_credit -----------------------------------------------------------------------------------


def duplicate_ledger(db) -> None:
    import_rows(
        db,
        clients=[client("C1"), client("C2")],
        invoices=[invoice("INV-1"), invoice("INV-2"), invoice("INV-3"), invoice("INV-4", "C2")],
        credits=[credit("CR-1", amount="900.00"), credit("CR-2", "C2", amount="900.00")],
        payments=[
            # the duplicate: the same 100.00 twice, two days apart
            payment("P1", "INV-1", "AccountCredit", "100.00", received_on="2026-10-03"),
            payment("P2", "INV-1", "AccountCredit", "100.00", received_on="2026-10-05"),
            # noise: another amount on the same invoice, a cash payment of the same amount
            payment("P3", "INV-1", "AccountCredit", "50.00", received_on="2026-10-04"),
            payment("P4", "INV-1", "check", "100.00", received_on="2026-10-04"),
            # noise: the same amount twice, but 10 days apart
            payment("P5", "INV-2", "AccountCredit", "100.00", received_on="2026-10-01"),
            payment("P6", "INV-2", "AccountCredit", "100.00", received_on="2026-10-11"),
            # noise: the same amount on different invoices and clients
            payment("P7", "INV-3", "AccountCredit", "100.00", received_on="2026-10-03"),
            payment("P8", "INV-4", "AccountCredit", "100.00", received_on="2026-10-03"),
        ],
    )


def test_duplicate_credit_names_the_payments_involved(db):
    duplicate_ledger(db)
    found = scan(db)
    assert summary(found) == {("duplicate_credit", "INV-1", "C1", "100.00")}
    [duplicate] = found
    assert "P1 on 2026-10-03" in duplicate.detail and "P2 on 2026-10-05" in duplicate.detail
    assert "P3" not in duplicate.detail and "P4" not in duplicate.detail
    with db.read() as unit:
        session = unit.session
        assert list(duplicate.payment_ids) == [payment_id(session, "P1"), payment_id(session, "P2")]
    assert_full_agrees(db)


def test_duplicate_window_comes_from_the_setting(db):
    duplicate_ledger(db)
    assert {f.invoice_number for f in scan(db, window=10)} == {"INV-1", "INV-2"}
    assert {f.invoice_number for f in scan(db, window=1)} == set()
    assert_full_agrees(db, window=1)


def test_three_applications_in_a_row_are_one_finding(db):
    import_rows(
        db,
        clients=[client("C1")],
        invoices=[invoice("INV-1")],
        credits=[credit("CR-1", amount="900.00")],
        payments=[
            payment("P1", "INV-1", "AccountCredit", "100.00", received_on="2026-10-01"),
            payment("P2", "INV-1", "AccountCredit", "100.00", received_on="2026-10-06"),
            payment("P3", "INV-1", "AccountCredit", "100.00", received_on="2026-10-11"),
        ],
    )
    [duplicate] = scan(db)
    assert (len(duplicate.payment_ids), duplicate.amount) == (3, "200.00")
    assert "applied 3 times" in duplicate.detail


def test_a_reversed_duplicate_is_no_longer_a_finding(db):
    duplicate_ledger(db)
    [duplicate] = scan(db)
    db.transact(operations.reverse_application, duplicate.payment_ids[1], WriteRequest("test", "undo-p2"))
    assert scan(db) == []
    assert_full_agrees(db)


# --- overapplied_credit ---------------------------------------------------------------------------------


def overapplied_ledger(db) -> None:
    import_rows(
        db,
        clients=[client("C1"), client("C2"), client("C3")],
        invoices=[invoice("INV-1"), invoice("INV-2"), invoice("INV-3", "C2"), invoice("INV-4", "C3")],
        credits=[credit("CR-1", amount="100.00"), credit("CR-2", "C2", amount="100.00")],
        payments=[
            payment("P1", "INV-1", "AccountCredit", "80.00"),
            payment("P2", "INV-2", "AccountCredit", "80.00"),
            # noise: C2 applies exactly what it was issued; C3 pays cash only
            payment("P3", "INV-3", "AccountCredit", "100.00"),
            payment("P4", "INV-4", "cash", "500.00"),
        ],
    )


def test_overapplied_credit_is_a_finding_on_the_client(db):
    overapplied_ledger(db)
    found = scan(db)
    assert summary(found) == {("overapplied_credit", None, "C1", "60.00")}
    assert "$160.00 of credit applied" in found[0].detail and "only $100.00 issued" in found[0].detail
    assert_full_agrees(db)


def test_issuing_the_missing_credit_closes_the_finding(db):
    overapplied_ledger(db)
    scan(db)
    db.transact(operations.issue_credit, "C1", "60.00", "promised credit", WriteRequest("test", "issue-1"))
    assert scan(db) == []


def test_a_finding_found_again_unchanged_is_not_written_again(db):
    overapplied_ledger(db)
    import_rows(db, clients=[client("C1")], payments=[payment("P9", "INV-1", "AccountCredit", "80.00")])
    scan(db)
    before = live_rows(db)
    assert {kind for _id, kind, _at in before} == {"overapplied_credit", "duplicate_credit"}
    # A new invoice and a cash payment on the over-applied client's invoices: the incremental scan evaluates
    # C1 and INV-1 again and finds the same findings, which stay as they were stored (same rows, same times).
    import_rows(db, clients=[client("C1")], invoices=[invoice("INV-9")], payments=[payment("P10", "INV-9")])
    report = scans.run_scan(db)
    runs = {run.kind: run for run in report.detectors}
    assert runs["overapplied_credit"].mode == "incremental" and runs["overapplied_credit"].scopes == 1
    assert (report.opened, report.updated, report.closed) == ([], 0, 0)
    assert live_rows(db) == before
    assert_full_agrees(db)


def live_rows(db) -> list[tuple]:
    with db.read() as unit:
        query = text("SELECT id, kind, changed_at FROM scan_finding WHERE closed_at IS NULL ORDER BY id")
        return [tuple(row) for row in unit.session.execute(query)]


# --- negative_balance -----------------------------------------------------------------------------------


def test_negative_balance_counts_cash_credits_and_credit_memos(db):
    import_rows(
        db,
        clients=[client("C1")],
        invoices=[invoice("INV-1", total="100.00"), invoice("INV-2", total="100.00"), invoice("INV-3", total="100.00")],
        credits=[credit("CR-1", amount="500.00")],
        payments=[
            payment("P1", "INV-1", "cash", "60.00"),
            payment("P2", "INV-1", "AccountCredit", "30.00"),
            payment("P3", "INV-1", "QBCreditMemo", "40.00"),
            # noise: paid exactly; and an overpayment whose credit part is reversed below
            payment("P4", "INV-2", "check", "70.00"),
            payment("P5", "INV-2", "AccountCredit", "30.00"),
            payment("P6", "INV-3", "check", "100.00"),
            payment("P7", "INV-3", "AccountCredit", "20.00"),
        ],
    )
    assert summary(scan(db)) == {
        ("negative_balance", "INV-1", "C1", "30.00"),
        ("negative_balance", "INV-3", "C1", "20.00"),
    }
    with db.read() as unit:
        session = unit.session
        p7 = payment_id(session, "P7")
    db.transact(operations.reverse_application, p7, WriteRequest("test", "undo-p7"))
    found = scan(db)
    assert summary(found) == {("negative_balance", "INV-1", "C1", "30.00")}
    assert "cash $60.00, credits applied $30.00, QuickBooks credit memos $40.00" in found[0].detail
    assert_full_agrees(db)


# --- post_sync_edit -------------------------------------------------------------------------------------


def posted_ledger(db) -> None:
    import_rows(
        db,
        clients=[client("C1")],
        invoices=[
            invoice("INV-1", total="1000.00", posted_to_qb_at=POSTED, qb_invoice_id="Q1"),
            invoice("INV-2", total="1000.00", posted_to_qb_at=POSTED, qb_invoice_id="Q2"),
            invoice("INV-3", total="1000.00"),
        ],
        payments=[
            payment("P1", "INV-1", "check", "100.00"),
            payment("P2", "INV-2", "check", "100.00"),
            payment("P3", "INV-3", "check", "100.00"),
        ],
    )


def test_an_invoice_total_edited_after_posting_is_a_post_sync_edit(db):
    posted_ledger(db)
    assert scan(db) == []
    import_rows(
        db,
        clients=[client("C1")],
        invoices=[
            invoice("INV-1", total="1250.00", posted_to_qb_at=POSTED, qb_invoice_id="Q1", updated_at=AFTER),
            # noise: edited before it was posted (its updated_at is earlier than the posting)
            invoice("INV-2", total="900.00", posted_to_qb_at=POSTED, qb_invoice_id="Q2", updated_at=BEFORE),
            # noise: an invoice never posted
            invoice("INV-3", total="1100.00", updated_at=AFTER),
        ],
    )
    found = scan(db)
    assert summary(found) == {("post_sync_edit", "INV-1", "C1", "250.00")}
    assert "total $1,000.00 → $1,250.00 on 2026-10-07 08:00 UTC" in found[0].detail
    assert "posted to QuickBooks on 2026-10-05 12:00 UTC" in found[0].detail
    assert_full_agrees(db)


def test_a_payment_edited_after_posting_is_a_post_sync_edit(db):
    posted_ledger(db)
    scan(db)
    import_rows(
        db,
        clients=[client("C1")],
        payments=[
            payment("P1", "INV-1", "cash", "100.00", updated_at="2026-10-09T10:00:00Z"),
            # noise: the payment of an unposted invoice
            payment("P3", "INV-3", "check", "300.00", updated_at="2026-10-09T10:00:00Z"),
        ],
    )
    found = scan(db)
    assert summary(found) == {("post_sync_edit", "INV-1", "C1", None)}
    assert found[0].detail.startswith("Payment P1 on invoice INV-1 was changed after")
    assert "kind check → cash on 2026-10-09 10:00 UTC" in found[0].detail
    assert_full_agrees(db)


def test_an_updated_at_after_posting_is_a_post_sync_edit_even_without_a_recorded_edit(db):
    import_rows(
        db,
        clients=[client("C1")],
        invoices=[
            invoice("INV-1", posted_to_qb_at=POSTED, updated_at="2026-10-06T00:00:00Z"),
            invoice("INV-2", posted_to_qb_at=POSTED, updated_at="2026-10-05T11:00:00Z"),
        ],
        payments=[
            payment("P1", "INV-2", "check", "100.00", updated_at="2026-10-08T00:00:00Z"),
            payment("P2", "INV-2", "check", "100.00", updated_at="2026-10-01T00:00:00Z"),
        ],
    )
    found = scan(db)
    assert {(f.invoice_number, f.detail.split(" was changed")[0]) for f in found} == {
        ("INV-1", "Invoice INV-1"),
        ("INV-2", "Payment P1 on invoice INV-2"),
    }
    assert all("last edited in the billing system" in f.detail for f in found)


def test_an_edit_of_other_fields_without_updated_at_is_not_a_post_sync_edit(db):
    posted_ledger(db)
    import_rows(
        db,
        clients=[client("C1")],
        invoices=[invoice("INV-1", total="1000.00", posted_to_qb_at=POSTED, qb_invoice_id="Q1-renumbered")],
    )
    assert scan(db) == []


# --- credit_after_posting -------------------------------------------------------------------------------


def test_a_credit_entered_after_posting_is_flagged_but_a_credit_memo_is_not(db):
    import_rows(
        db,
        clients=[client("C1")],
        invoices=[invoice("INV-1", posted_to_qb_at=POSTED), invoice("INV-2")],
        credits=[credit("CR-1", amount="500.00")],
        payments=[
            payment("P1", "INV-1", "AccountCredit", "75.00", created_at="2026-10-06T09:00:00Z"),
            # noise: a QuickBooks credit memo, a credit entered before posting, cash after posting, an unposted invoice
            payment("P2", "INV-1", "QBCreditMemo", "50.00", created_at="2026-10-06T09:00:00Z"),
            payment("P3", "INV-1", "AccountCredit", "20.00", created_at="2026-10-04T09:00:00Z"),
            payment("P4", "INV-1", "wire", "100.00", created_at="2026-10-06T09:00:00Z"),
            payment("P5", "INV-2", "AccountCredit", "75.00", created_at="2026-10-06T09:00:00Z"),
        ],
    )
    found = scan(db)
    assert summary(found) == {("credit_after_posting", "INV-1", "C1", "75.00")}
    assert "(P1) was entered on invoice INV-1 on 2026-10-06 09:00 UTC by import" in found[0].detail
    assert_full_agrees(db)


# --- qb_overpayment_unreflected -------------------------------------------------------------------------


def test_a_quickbooks_overpayment_is_a_finding_until_it_is_entered_as_credit(db):
    import_rows(db, clients=[client("C1", "Acme Legal", qb_customer_id="58"), client("C2", qb_customer_id="59")])
    sync(db, cdc(Payment=[qbo_payment("181", [], unapplied=120.00), qbo_payment("182", [], customer="59")]))
    found = scan(db)
    assert summary(found) == {("qb_overpayment_unreflected", None, "C1", "120.00")}
    assert "Acme Legal overpaid $120.00 in QuickBooks (payment 181 of 2026-10-10)" in found[0].detail

    db.transact(enter_qb_overpayment_as_credit, "181", WriteRequest("test", "enter-181"))
    assert scan(db) == []
    assert_full_agrees(db)


# --- the whole vocabulary at once -----------------------------------------------------------------------


def test_the_demo_ledger_has_its_two_planted_mistakes(db):
    from ledger.demo import load_demo

    load_demo(db)
    assert summary(scan(db)) == {
        ("duplicate_credit", "INV-1003", "C-ACME", "600.00"),
        ("post_sync_edit", "INV-2001", "C-BIRCH", "600.00"),
    }
    assert summary(scan(db, full=True)) == summary(scan(db))


@pytest.mark.parametrize("kind", list(FindingKind))
def test_every_kind_names_its_faq_entry(kind):
    assert kind.faq_entry == "finding-" + kind.value.replace("_", "-")


def payment_id(session, external_id: str) -> int:
    from sqlmodel import select

    from ledger.tables import Payment

    return session.exec(select(Payment.id).where(Payment.external_id == external_id)).one()
