"""Approval thresholds: above which amount, per currency, a gated write needs a second billing admin.

Parsed from `CREDITBOT_APPROVAL_THRESHOLD` by the settings, so this module stays light (no database layer); the
rule that uses them is ledger/approvals.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.errors import InvalidApprovalThreshold
from ledger.money import normalize_currency, parse_amount

ANY_CURRENCY = "*"


@dataclass(frozen=True)
class ApprovalThresholds:
    """Amounts above which a gated write needs a second billing admin, per currency (`*`: any currency)."""

    by_currency: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> ApprovalThresholds:
        """`USD:1000,EUR:900` or a bare `1000` (every currency, in the client's own); empty: no approvals."""
        entries: list[tuple[str, str]] = []
        for part in (text or "").replace(";", ",").split(","):
            item = part.strip()
            if not item:
                continue
            currency, _, amount = item.rpartition(":")
            code = normalize_currency(currency) if currency.strip() else ANY_CURRENCY
            if any(seen == code for seen, _ in entries):
                raise InvalidApprovalThreshold(item, f"{code} is given twice")
            try:
                parse_amount(amount, "USD" if code == ANY_CURRENCY else code)
            except Exception as bad:
                raise InvalidApprovalThreshold(item, getattr(bad, "message", str(bad))) from None
            entries.append((code, amount.strip()))
        return cls(tuple(entries))

    def threshold_minor(self, currency: str) -> int | None:
        """The threshold for `currency` in its minor units, or None when that currency needs no approvals."""
        found = dict(self.by_currency)
        amount = found.get(currency, found.get(ANY_CURRENCY))
        return None if amount is None else parse_amount(amount, currency, allow_zero=True)

    def describe(self) -> str:
        return ", ".join(f"{c}:{a}" if c != ANY_CURRENCY else a for c, a in self.by_currency) or "none"

    def __bool__(self) -> bool:
        return bool(self.by_currency)
