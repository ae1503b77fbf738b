"""The ledger's configurable rules, carried by the `Database` into every unit of work, so no front end can skip one.

- `approval`: which writes need a second billing admin (ledger/approvals.py).
- `scan`: the scans' options (a `ledger.scans.ScanOptions`; None: the defaults), which a write also uses when it
  settles the findings it resolved (ledger/scans/settle.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.thresholds import ApprovalThresholds


@dataclass(frozen=True)
class Rules:
    approval: ApprovalThresholds = field(default_factory=ApprovalThresholds)
    # Typed loosely: ledger.scans imports the database, which imports these rules.
    scan: Any = None
