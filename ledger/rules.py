"""The ledger's configurable rules, carried by the `Database` into every unit of work, so no front end can skip one.

- `approval`: which writes need a second billing admin (ledger/approvals.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.approvals import ApprovalThresholds


@dataclass(frozen=True)
class Rules:
    approval: ApprovalThresholds = field(default_factory=ApprovalThresholds)
