"""What one QuickBooks sync did, as plain data: the CLI prints it, `--json` gives it to scripts.

Amounts are minor units here and decimal strings in JSON, in the client's currency, like every other JSON the
ledger gives. Problems are what the sync could not apply and did not drop: each says which QuickBooks entity and
why, and the entity is tried again by the next sync (it is kept as `unresolved`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.money import decimal_str


class ProblemCode:
    UNKNOWN_CUSTOMER = "unknown_customer"
    UNKNOWN_INVOICE = "unknown_invoice"
    CURRENCY_MISMATCH = "currency_mismatch"
    CUSTOMER_MISMATCH = "customer_mismatch"
    QB_INVOICE_ID_CONFLICT = "qb_invoice_id_conflict"
    UNSUPPORTED_LINK = "unsupported_link"
    INVOICE_DELETED = "invoice_deleted_in_quickbooks"
    OVERPAYMENT_ALREADY_ENTERED = "overpayment_changed_after_entered_as_credit"


@dataclass(frozen=True)
class Problem:
    code: str
    entity_type: str
    qbo_id: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "entity": self.entity_type, "qbo_id": self.qbo_id, "message": self.message}


@dataclass(frozen=True)
class PostedInvoice:
    invoice_number: str
    qb_invoice_id: str
    posted_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "invoice_number": self.invoice_number,
            "qb_invoice_id": self.qb_invoice_id,
            "posted_at": self.posted_at.isoformat(),
        }


@dataclass(frozen=True)
class Drift:
    """The QuickBooks total of a posted invoice differs from the ledger's; the ledger's is kept."""

    invoice_number: str
    qb_invoice_id: str
    currency: str
    ledger_total_minor: int
    qb_total_minor: int
    voided_in_quickbooks: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "invoice_number": self.invoice_number,
            "qb_invoice_id": self.qb_invoice_id,
            "currency": self.currency,
            "ledger_total": decimal_str(self.ledger_total_minor, self.currency),
            "qb_total": decimal_str(self.qb_total_minor, self.currency),
            "voided_in_quickbooks": self.voided_in_quickbooks,
        }


@dataclass(frozen=True)
class PaymentChange:
    """A ledger payment the sync wrote (`recorded`) or undid through a reversal (`reversed`)."""

    qb_payment_id: str
    payment_id: int
    external_id: str
    invoice_number: str
    kind: str
    currency: str
    amount_minor: int
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        shown = {
            "qb_payment_id": self.qb_payment_id,
            "payment_id": self.payment_id,
            "external_id": self.external_id,
            "invoice_number": self.invoice_number,
            "kind": self.kind,
            "currency": self.currency,
            "amount": decimal_str(self.amount_minor, self.currency),
        }
        return shown | ({"reason": self.reason} if self.reason else {})


@dataclass(frozen=True)
class OverpaymentChange:
    """Unapplied money on a QuickBooks payment: `new`, `updated` (a later SyncToken) or `cleared` (gone there)."""

    qb_payment_id: str
    client_id: str
    currency: str
    change: str
    amount_minor: int
    previous_minor: int | None = None

    def as_json(self) -> dict[str, Any]:
        shown = {
            "qb_payment_id": self.qb_payment_id,
            "client_id": self.client_id,
            "currency": self.currency,
            "change": self.change,
            "amount": decimal_str(self.amount_minor, self.currency),
        }
        if self.previous_minor is not None:
            shown["previous_amount"] = decimal_str(self.previous_minor, self.currency)
        return shown


@dataclass
class SyncSummary:
    entities: int = 0  # distinct entities applied (newest version of each)
    unchanged: int = 0  # already applied at this SyncToken: nothing to do
    stale: int = 0  # older than the version the ledger has, or deleted in QuickBooks: ignored
    retried: int = 0  # unresolved entities from earlier syncs, tried again
    credit_memos_seen: int = 0
    invoices_posted: list[PostedInvoice] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    payments_recorded: list[PaymentChange] = field(default_factory=list)
    payments_reversed: list[PaymentChange] = field(default_factory=list)
    overpayments: list[OverpaymentChange] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)  # (entity type, QuickBooks Id) newly deleted
    problems: list[Problem] = field(default_factory=list)
    other_entities: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(
            self.invoices_posted or self.payments_recorded or self.payments_reversed or self.overpayments
        ) or bool(self.deleted)

    def counts(self) -> str:
        """One line for the history and the CLI."""
        parts = [
            f"{self.entities} entities",
            f"{len(self.invoices_posted)} invoices posted",
            f"{len(self.payments_recorded)} payments recorded",
            f"{len(self.payments_reversed)} reversed",
            f"{len(self.overpayments)} overpayment changes",
            f"{len(self.drift)} drifted totals",
            f"{len(self.problems)} problems",
        ]
        return ", ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {
            "entities": self.entities,
            "unchanged": self.unchanged,
            "stale": self.stale,
            "retried": self.retried,
            "credit_memos_seen": self.credit_memos_seen,
            "invoices_posted": [posted.as_json() for posted in self.invoices_posted],
            "drift": [drift.as_json() for drift in self.drift],
            "payments_recorded": [change.as_json() for change in self.payments_recorded],
            "payments_reversed": [change.as_json() for change in self.payments_reversed],
            "overpayments": [change.as_json() for change in self.overpayments],
            "deleted": [{"entity": entity_type, "qbo_id": qbo_id} for entity_type, qbo_id in self.deleted],
            "problems": [problem.as_json() for problem in self.problems],
            "other_entities": self.other_entities,
        }
