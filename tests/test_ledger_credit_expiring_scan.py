"""The `credit_expiring` finding: a credit that still holds money warns CREDITBOT_EXPIRY_WARNING_DAYS ahead of its
expiry date, and closes once the credit is used or has expired."""

from __future__ import annotations

from datetime import timedelta

from ledger import operations, scans
from ledger.approvals import WriteRequest
from ledger.scans import FindingKind, ScanOptions
from tests.builders import client, import_rows, invoice
from tests.ledger_time import days_pass


def expiring(db, days: int = 14) -> list[scans.StoredFinding]:
    scans.run_scan(db, ScanOptions(expiry_warning_days=days))
    with db.read() as unit:
        return [f for f in scans.open_findings(unit) if f.kind is FindingKind.CREDIT_EXPIRING]


def test_a_credit_expiring_within_the_window_is_a_finding_until_it_is_used(db):
    import_rows(db, clients=[client("C1", "Acme Legal")], invoices=[invoice("INV-1", total="1000.00")])
    with db.read() as unit:
        today = unit.now.date()
    soon, later = today + timedelta(days=5), today + timedelta(days=40)
    db.transact(operations.issue_credit, "C1", "80.00", "promo", WriteRequest("t", "i1"), expires_on=soon)
    db.transact(operations.issue_credit, "C1", "60.00", "promo", WriteRequest("t", "i2"), expires_on=later)
    [finding] = expiring(db)
    assert finding.amount_minor == 8000 and finding.client_id == "C1"
    assert f"can be used through {soon.isoformat()} (in 5 days)" in finding.detail
    assert expiring(db, days=3) == []  # outside a shorter window
    db.transact(operations.apply_credit, "INV-1", "30.00", None, WriteRequest("t", "a"))
    [finding] = expiring(db)
    assert finding.amount_minor == 5000  # the application drew on the credit that expires first
    db.transact(operations.apply_credit, "INV-1", "50.00", None, WriteRequest("t", "a2"))
    assert expiring(db) == []


def test_an_expired_credit_is_no_longer_a_warning(db):
    import_rows(db, clients=[client("C1")])
    with db.read() as unit:
        today = unit.now.date()
    db.transact(operations.issue_credit, "C1", "80.00", "promo", WriteRequest("t", "i1"), expires_on=today)
    assert len(expiring(db)) == 1
    days_pass(db, 1)
    assert expiring(db) == []
