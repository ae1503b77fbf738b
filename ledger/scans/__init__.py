"""Scans: find the credit mistakes that make balances lie (R8, R9), keep them as findings, alert each once.

- `run_scan(db, ScanOptions(...), full=False)`: evaluate the detectors (incrementally by default) and store
  the findings (`ledger.scans.scanner`).
- `open_findings(unit)`, `acknowledge(unit, id, actor)` (`ledger.scans.store`).
- `claim_alerts` / `mark_attempt` / `record_posted` / `release`: the database side of posting each alert
  exactly once (`ledger.scans.alerting`); the Slack side lives in `bot.jobs.alerts`.
- `claim_slot` / `finish_slot`: each scheduled slot runs once across instances (`ledger.scans.slots`).
- `reverse_duplicate(db, id, actor)`: the fix for a duplicate credit (`ledger.scans.duplicates`).

Nothing here imports Slack or the bot.
"""

from ledger.rules import ScanOptions
from ledger.scans.alerting import AlertBatch, EarlierAttempt, claim_alerts, mark_attempt, record_posted, release
from ledger.scans.duplicates import DuplicateReversal, FindingNoLongerOpen, NotADuplicateFinding, reverse_duplicate
from ledger.scans.findings import Finding, FindingKind, StoredFinding
from ledger.scans.scanner import ScanBusy, ScanReport, evaluate_all, run_scan
from ledger.scans.slots import claim_slot, finish_slot
from ledger.scans.store import (
    AcknowledgeResult,
    UnknownFinding,
    acknowledge,
    findings_by_id,
    findings_of_message,
    get_finding,
    open_findings,
)

__all__ = [
    "AcknowledgeResult",
    "AlertBatch",
    "DuplicateReversal",
    "EarlierAttempt",
    "Finding",
    "FindingKind",
    "FindingNoLongerOpen",
    "NotADuplicateFinding",
    "ScanBusy",
    "ScanOptions",
    "ScanReport",
    "StoredFinding",
    "UnknownFinding",
    "acknowledge",
    "claim_alerts",
    "claim_slot",
    "evaluate_all",
    "findings_by_id",
    "findings_of_message",
    "finish_slot",
    "get_finding",
    "mark_attempt",
    "open_findings",
    "record_posted",
    "release",
    "reverse_duplicate",
    "run_scan",
]
