"""A write settles the findings it resolved in its own transaction: the very next read no longer shows them."""

from __future__ import annotations

from sqlmodel import select

from ledger import scans
from ledger.demo import load_demo
from ledger.tables import Payment, ScanFinding
from tests.slack_standin import running_bot


def live_kinds(db) -> list[str]:
    with db.read() as unit:
        query = select(ScanFinding.kind).where(ScanFinding.closed_at.is_(None)).order_by(ScanFinding.kind)
        return list(unit.session.exec(query))


def application_id(db, external_id: str) -> int:
    with db.read() as unit:
        return unit.session.exec(select(Payment.id).where(Payment.external_id == external_id)).one()


def test_reversing_the_duplicate_clears_it_from_the_next_balance_and_ask(db, slack):
    load_demo(db)
    scans.run_scan(db)
    assert "duplicate_credit" in live_kinds(db)
    with running_bot(db, slack) as bot:
        assert "Duplicate credit" in bot.slash("invoice INV-1003").all_text
        reversed_reply = bot.slash(f"reverse {application_id(db, 'PAY-5')}")
        assert "is back in" in reversed_reply.all_text

        assert "Duplicate credit" not in bot.slash("invoice INV-1003").all_text
        assert "Duplicate credit" not in bot.slash("balance acme").all_text
    assert "duplicate_credit" not in live_kinds(db)
    # The next scan agrees with what the write settled: it neither re-opens nor closes anything more.
    report = scans.run_scan(db)
    assert (report.opened, report.closed) == ([], 0)


def test_a_write_on_an_invoice_without_findings_reads_once_and_changes_no_finding(db, slack):
    load_demo(db)
    scans.run_scan(db)
    before = live_kinds(db)
    with running_bot(db, slack) as bot:
        assert bot.slash("apply INV-1002 100").all_text.startswith("Applied")
    assert live_kinds(db) == before


def test_moving_the_duplicate_to_another_invoice_clears_it_too(db, slack):
    """Every write that moves the running totals settles what it resolved, not only `reverse`."""
    load_demo(db)
    scans.run_scan(db)
    with running_bot(db, slack) as bot:
        moved = bot.slash(f"move {application_id(db, 'PAY-5')} INV-1002")
        assert "INV-1002" in moved.all_text and "Refused" not in moved.all_text, moved.all_text
        assert "Duplicate credit" not in bot.slash("invoice INV-1003").all_text
    assert "duplicate_credit" not in live_kinds(db)
    report = scans.run_scan(db)
    assert (report.opened, report.closed) == ([], 0)
