"""`/credit scan`: run a scan now and answer with the open findings (the alerting stays with scheduled runs)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from bot.render.findings import scan_reply_blocks
from bot.settings import Settings
from ledger import scans
from ledger.db import Database
from ledger.driver import DriverRead, Statement, statement


def scan_options(settings: Settings) -> scans.ScanOptions:
    return scans.ScanOptions(duplicate_window_days=settings.duplicate_window_days)


def scan_blocks(db: Database, settings: Settings) -> list[dict[str, Any]]:
    """Scan (incrementally) and return Block Kit blocks of every open finding, with their buttons."""
    report = scans.run_scan(db, scan_options(settings))
    with db.read() as session:
        findings = scans.open_findings(session)
    return scan_reply_blocks(findings, opened=len(report.opened))


# Asked on every balance and invoice reply, as plain SQL on the driver connection (no SQLAlchemy work per statement),
# served by the partial index ix_scan_finding_live_invoice. One statement per count of invoice numbers (a reply
# shows at most a dozen invoices), spelled once.
@cache
def _open_on_invoices(count: int) -> Statement:
    numbers = ", ".join("?" * count)
    return statement(
        "SELECT invoice_number, kind, detail FROM scan_finding"
        f" WHERE invoice_number IN ({numbers}) AND closed_at IS NULL"
    )


def invoice_findings(read: DriverRead, invoice_numbers: Sequence[str]) -> dict[str, list[str]]:
    """Open findings on these invoices, one readable line each (for balance and invoice replies)."""
    if not invoice_numbers:
        return {}
    found: dict[str, list[str]] = {}
    for number, kind, detail in read.rows(_open_on_invoices(len(invoice_numbers)), invoice_numbers):
        if number is not None:
            found.setdefault(number, []).append(f"{scans.FindingKind(kind).title}: {detail}")
    return found
