"""`/credit scan`: run a scan now and answer with the open findings (the alerting stays with scheduled runs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import Session

from bot.render.findings import scan_reply_blocks
from bot.settings import Settings
from ledger import scans
from ledger.db import Database
from ledger.scans.models import ScanFinding


def scan_options(settings: Settings) -> scans.ScanOptions:
    return scans.ScanOptions(duplicate_window_days=settings.duplicate_window_days)


def scan_blocks(db: Database, settings: Settings) -> list[dict[str, Any]]:
    """Scan (incrementally) and return Block Kit blocks of every open finding, with their buttons."""
    report = scans.run_scan(db, scan_options(settings))
    with db.read() as session:
        findings = scans.open_findings(session)
    return scan_reply_blocks(findings, opened=len(report.opened))


# Asked on every balance and invoice reply: one prepared statement (compiled once), served by the partial index
# ix_scan_finding_live_invoice.
_FINDINGS = ScanFinding.__table__  # type: ignore[attr-defined]
_OPEN_ON_INVOICES = select(_FINDINGS.c.invoice_number, _FINDINGS.c.kind, _FINDINGS.c.detail).where(
    _FINDINGS.c.invoice_number.in_(bindparam("numbers", expanding=True)), _FINDINGS.c.closed_at.is_(None)
)


def invoice_findings(session: Session, invoice_numbers: Sequence[str]) -> dict[str, list[str]]:
    """Open findings on these invoices, one readable line each (for balance and invoice replies)."""
    if not invoice_numbers:
        return {}
    found: dict[str, list[str]] = {}
    for number, kind, detail in session.execute(_OPEN_ON_INVOICES, {"numbers": list(invoice_numbers)}):
        if number is not None:
            found.setdefault(number, []).append(f"{scans.FindingKind(kind).title}: {detail}")
    return found
