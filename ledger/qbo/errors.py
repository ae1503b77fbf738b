"""Refusals of the QuickBooks sync and of entering a QuickBooks overpayment as credit.

They are `LedgerError`s, so Slack and the CLI render them like every other refusal (a stable code and one
message in a billing person's words), and nothing was written when one is raised.
"""

from __future__ import annotations

from datetime import datetime

from ledger.errors import LedgerError


class QBOFeedError(LedgerError):
    """A QuickBooks feed that cannot be read: not JSON, not shaped as QuickBooks returns it, or a bad value."""

    code = "invalid_qbo_feed"

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}. Nothing was synced.")
        self.where, self.why = where, why


class UnknownQBOverpayment(LedgerError):
    code = "unknown_qb_overpayment"

    def __init__(self, qb_payment_id: str) -> None:
        super().__init__(
            f"QuickBooks payment {qb_payment_id} shows no overpayment here: either the sync has not seen it yet (run "
            "`creditbot sync-qb` with the latest QuickBooks changes) or QuickBooks no longer shows it as unapplied "
            "(it was applied, voided or deleted there). Nothing was entered."
        )
        self.qb_payment_id = qb_payment_id


class QBOverpaymentAlreadyEntered(LedgerError):
    code = "qb_overpayment_already_entered"

    def __init__(self, qb_payment_id: str, credit_id: int, entered_by: str, entered_at: datetime) -> None:
        super().__init__(
            f"The overpayment on QuickBooks payment {qb_payment_id} was already entered as client credit "
            f"#{credit_id} by {entered_by} on {entered_at:%Y-%m-%d %H:%M} UTC. A QuickBooks overpayment is entered "
            "only once; nothing was added."
        )
        self.qb_payment_id, self.credit_id = qb_payment_id, credit_id
