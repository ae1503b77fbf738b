"""The ledger's configurable rules, carried by the `Database` into every unit of work, so no front end can skip one.

- `approval`: which writes need a second billing admin (ledger/approvals.py).
- `scan`: the scans' options (`ScanOptions`; None: the defaults), which a write also uses when it settles the
  findings it resolved (ledger/scans/settle.py).

Plain values, so opening a database for a read loads none of the scans (tests/test_cli_lean.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.thresholds import ApprovalThresholds


@dataclass(frozen=True)
class ScanOptions:
    """The scans' settings (ledger/scans/detectors.py), from CREDITBOT_DUPLICATE_WINDOW_DAYS and
    CREDITBOT_EXPIRY_WARNING_DAYS."""

    duplicate_window_days: int = 7
    # credit_expiring warns this many days before a credit's expiry date (CREDITBOT_EXPIRY_WARNING_DAYS).
    expiry_warning_days: int = 14


@dataclass(frozen=True)
class Rules:
    approval: ApprovalThresholds = field(default_factory=ApprovalThresholds)
    scan: ScanOptions | None = None
