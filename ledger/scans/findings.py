"""The finding vocabulary (a fixed interface) and the plain result a detector returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.money import decimal_str


class FindingKind(enum.StrEnum):
    DUPLICATE_CREDIT = "duplicate_credit"
    OVERAPPLIED_CREDIT = "overapplied_credit"
    NEGATIVE_BALANCE = "negative_balance"
    POST_SYNC_EDIT = "post_sync_edit"
    CREDIT_AFTER_POSTING = "credit_after_posting"
    QB_OVERPAYMENT_UNREFLECTED = "qb_overpayment_unreflected"
    CREDIT_EXPIRING = "credit_expiring"

    @property
    def faq_entry(self) -> str:
        """The FAQ entry that explains this kind: "finding-duplicate-credit"."""
        return "finding-" + self.value.replace("_", "-")

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {
    FindingKind.DUPLICATE_CREDIT: "Duplicate credit",
    FindingKind.OVERAPPLIED_CREDIT: "Over-applied credit",
    FindingKind.NEGATIVE_BALANCE: "Negative balance",
    FindingKind.POST_SYNC_EDIT: "Edited after posting to QuickBooks",
    FindingKind.CREDIT_AFTER_POSTING: "Credit applied after posting to QuickBooks",
    FindingKind.QB_OVERPAYMENT_UNREFLECTED: "QuickBooks overpayment not held as credit",
    FindingKind.CREDIT_EXPIRING: "Credit expiring soon",
}

# The order findings are listed in: money counted twice first.
KIND_ORDER = {kind: position for position, kind in enumerate(FindingKind)}


@dataclass(frozen=True)
class Finding:
    """What a detector found; equal findings from an incremental and a full scan compare equal."""

    kind: FindingKind
    fingerprint: str
    scope: str
    detail: str
    invoice_id: int | None = None
    invoice_number: str | None = None
    client_id: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    payment_ids: tuple[int, ...] = field(default=())


@dataclass(frozen=True)
class StoredFinding:
    """A finding as the store holds it, with the client's name for display."""

    id: int
    kind: FindingKind
    fingerprint: str
    occurrence: int
    invoice_id: int | None
    invoice_number: str | None
    client_id: str | None
    client_name: str | None
    amount_minor: int | None
    currency: str | None
    detail: str
    payment_ids: tuple[int, ...]
    state: str
    first_seen: datetime
    closed_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    alert_state: str
    alert_channel: str | None
    alert_ts: str | None

    @property
    def qb_payment_id(self) -> str | None:
        """The QuickBooks payment a qb_overpayment_unreflected finding is about (its fingerprint names it)."""
        if self.kind is not FindingKind.QB_OVERPAYMENT_UNREFLECTED:
            return None
        return self.fingerprint.partition("qb_payment=")[2] or None

    @property
    def amount(self) -> str | None:
        if self.amount_minor is None or self.currency is None:
            return None
        return decimal_str(self.amount_minor, self.currency)

    def as_json(self) -> dict[str, Any]:
        """The `creditbot scan --json` shape (a fixed interface)."""
        return {
            "kind": self.kind.value,
            "invoice": self.invoice_number,
            "client": self.client_id,
            "amount": self.amount,
            "detail": self.detail,
            "first_seen": self.first_seen.isoformat(),
        }
