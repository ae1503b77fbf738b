"""Refusals of the QuickBooks sync and of entering a QuickBooks overpayment as credit.

They are `LedgerError`s, so Slack and the CLI render them like every other refusal (a stable code and one
message in a billing person's words), and nothing was written when one is raised.
"""

from __future__ import annotations

from datetime import datetime

from ledger.errors import ExceedsBalanceDue, LedgerError


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


# --- the live connection (ledger/qbo/connection.py, api.py, poll.py, memos.py) -----------------------------


class QBONotConfigured(LedgerError):
    code = "qbo_not_configured"

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            f"QuickBooks Online is not set up: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing. "
            "Set them in the environment or .env (the README's “QuickBooks Online sync” section says where each "
            "comes from)."
        )
        self.missing = missing


class QBONotConnected(LedgerError):
    code = "qbo_not_connected"

    def __init__(self) -> None:
        super().__init__(
            "creditbot is not connected to QuickBooks. A QuickBooks admin connects it once: run "
            "`creditbot qb connect` and open the link it prints."
        )


class QBOConnectionBroken(LedgerError):
    code = "qbo_connection_broken"

    def __init__(self, why: str) -> None:
        super().__init__(
            f"The QuickBooks connection is broken ({why}). Nothing was sent to QuickBooks. Reconnect: run "
            "`creditbot qb connect` and have a QuickBooks admin open the link."
        )
        self.why = why


class QBOAuthorizationFailed(LedgerError):
    code = "qbo_authorization_failed"

    def __init__(self, why: str) -> None:
        super().__init__(f"Connecting to QuickBooks did not work: {why}. Run `creditbot qb connect` to start again.")
        self.why = why


class QuickBooksRefused(LedgerError):
    """QuickBooks answered with a Fault: its own words are quoted."""

    code = "quickbooks_refused"

    def __init__(self, doing: str, errors: list[tuple[str, str]], status: int) -> None:
        said = "; ".join(f"“{message}{': ' + detail if detail else ''}”" for message, detail in errors) or "no reason"
        super().__init__(f"QuickBooks refused to {doing}: {said} (HTTP {status}). Nothing was changed here.")
        self.doing, self.errors, self.status = doing, errors, status

    @property
    def says_too_old(self) -> bool:
        """CDC's refusal of a changedSince more than 30 days back."""
        return any("30 days" in f"{message} {detail}" for message, detail in self.errors)


class QuickBooksUnavailable(LedgerError):
    code = "quickbooks_unavailable"

    def __init__(self, doing: str, why: str) -> None:
        super().__init__(
            f"Could not {doing}: QuickBooks did not answer ({why}), even after retrying. Nothing was changed here; "
            "try again later."
        )
        self.doing, self.why = doing, why


class MemoApplicationWaiting(LedgerError):
    """QuickBooks did not answer the payment that applies a memo: the action stays recorded and pending, and the
    next poll sends it (with the same requestid, so QuickBooks creates one payment even if it got this one)."""

    code = "quickbooks_application_waiting"
    changed_nothing = False

    def __init__(self, doing: str, why: str, action_id: int) -> None:
        super().__init__(
            f"Could not {doing} now: QuickBooks did not answer ({why}), even after retrying. The application is "
            f"recorded (#{action_id}) and goes to QuickBooks with the next QuickBooks poll; do not ask for it again."
        )
        self.doing, self.why, self.action_id = doing, why, action_id


class MemoApplicationAlreadyWaiting(LedgerError):
    code = "quickbooks_application_already_waiting"

    def __init__(self, what: str, action_id: int) -> None:
        super().__init__(
            f"Applying {what} is already waiting for QuickBooks (#{action_id}): it goes with the next QuickBooks "
            "poll. `creditbot qb poll` sends it now."
        )
        self.action_id = action_id


class InvoiceNotInQuickBooks(LedgerError):
    code = "invoice_not_in_quickbooks"

    def __init__(self, number: str) -> None:
        super().__init__(
            f"Invoice {number} is not posted to QuickBooks, so there is no QuickBooks credit memo to apply: apply "
            f"the client's credit here instead (`/credit apply {number}`)."
        )


class InvoicePaidInQuickBooks(LedgerError):
    code = "invoice_paid_in_quickbooks"

    def __init__(self, number: str) -> None:
        super().__init__(f"Invoice {number} is already paid in full in QuickBooks; there is nothing to apply.")


class NoOpenCreditMemos(LedgerError):
    code = "no_open_credit_memos"

    def __init__(self, client_name: str, number: str) -> None:
        super().__init__(
            f"{client_name} has no open credit memo in QuickBooks (none with credit left), so nothing can be applied "
            f"to invoice {number}. Create the credit memo in QuickBooks first."
        )


class UnknownCreditMemo(LedgerError):
    code = "unknown_credit_memo"

    def __init__(self, memo: str, client_name: str, open_memos: list[str]) -> None:
        known = f" Its open credit memos are: {', '.join(open_memos)}." if open_memos else ""
        super().__init__(f"{client_name} has no open QuickBooks credit memo {memo}.{known}")


class CreditMemoTooSmall(LedgerError):
    code = "credit_memo_too_small"

    def __init__(self, memo: str, left: str, asked: str) -> None:
        super().__init__(
            f"Cannot apply {asked}: QuickBooks credit memo {memo} has only {left} left. Apply at most {left}, or "
            "choose another credit memo."
        )


class MoreThanInvoiceOwes(ExceedsBalanceDue):
    """The ledger's ExceedsBalanceDue, measured against the balance QuickBooks shows (its own stable code)."""

    code = "more_than_invoice_owes"

    def __init__(self, number: str, balance: str, asked: str) -> None:
        super().__init__(asked, f"{balance} QuickBooks shows", number)


class OverpaymentTooSmall(LedgerError):
    code = "overpayment_too_small"

    def __init__(self, qb_payment_id: str, left: str, asked: str) -> None:
        super().__init__(
            f"Cannot apply {asked}: QuickBooks payment {qb_payment_id} has only {left} unapplied now. Apply at most "
            f"{left}."
        )
