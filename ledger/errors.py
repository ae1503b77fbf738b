"""Every refusal the ledger can give, one typed exception each.

Errors are part of the interface: `code` is stable for scripts (`{"error": {"code", "message"}}`), `message`
says in a billing person's words what was refused, why, and what to do. Slack and the CLI render them the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ledger.wording import possessive


class LedgerError(Exception):
    """A refusal: nothing was written."""

    code = "ledger_error"
    # False for the one kind that is not a refusal: the request was recorded and is carried out later.
    changed_nothing = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class InvalidAmount(LedgerError):
    code = "invalid_amount"

    def __init__(self, text: str, why: str) -> None:
        super().__init__(f"“{text}” is not a valid amount: {why}.")
        self.text = text


class InvalidCurrency(LedgerError):
    code = "invalid_currency"

    def __init__(self, currency: str) -> None:
        super().__init__(f"“{currency}” is not a currency code creditbot knows; use an ISO 4217 code such as USD.")


class UnknownClient(LedgerError):
    code = "unknown_client"

    def __init__(self, query: str, suggestions: Sequence[str] = ()) -> None:
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else " Check the client's id or name."
        super().__init__(f"No client matches “{query}”.{hint}")
        self.query = query
        self.suggestions = list(suggestions)


class AmbiguousClient(LedgerError):
    code = "ambiguous_client"

    def __init__(self, query: str, candidates: Sequence[str]) -> None:
        super().__init__(
            f"“{query}” matches several clients: {', '.join(candidates)}. Use the client's id or full name."
        )
        self.query = query
        self.suggestions = list(candidates)


class UnknownInvoice(LedgerError):
    code = "unknown_invoice"

    def __init__(self, number: str) -> None:
        super().__init__(f"No invoice numbered “{number}”. Check the number on the invoice.")
        self.number = number


class UnknownApplication(LedgerError):
    code = "unknown_application"

    def __init__(self, application_id: object) -> None:
        super().__init__(
            f"There is no credit application #{application_id}. "
            "The id is shown when the credit is applied and in the invoice's payment history."
        )


class UnknownProject(LedgerError):
    code = "unknown_project"

    def __init__(self, project: str, client_name: str, projects: Sequence[str]) -> None:
        known = f" Its projects are: {', '.join(projects)}." if projects else " It has no projects."
        whose = possessive(client_name)
        super().__init__(f"“{project}” is not one of {whose} projects, so it cannot tag this credit.{known}")


class InsufficientCredit(LedgerError):
    code = "insufficient_credit"

    def __init__(self, requested: str, available: str, client_name: str) -> None:
        super().__init__(
            f"Cannot apply {requested}: {client_name} has only {available} of credit available. "
            "Apply a smaller amount, or issue a credit first."
        )


class ExceedsBalanceDue(LedgerError):
    code = "exceeds_balance_due"

    def __init__(self, requested: str, balance_due: str, number: str) -> None:
        super().__init__(
            f"Cannot apply {requested}: that is more than the {balance_due} still owed on invoice {number}. "
            "Apply at most the balance due."
        )


class NothingToApply(LedgerError):
    code = "nothing_to_apply"

    def __init__(self, number: str, why: str) -> None:
        super().__init__(f"Nothing to apply to invoice {number}: {why}.")


class InvoicePostedToQuickBooks(LedgerError):
    code = "posted_to_quickbooks"

    def __init__(self, number: str, posted_at: datetime) -> None:
        super().__init__(
            f"Invoice {number} was posted to QuickBooks on {posted_at:%Y-%m-%d %H:%M} UTC, so its credits are "
            "managed in QuickBooks only: apply or undo the credit memo there, and it will come back here as a payment."
        )
        self.number = number


class NotAnApplication(LedgerError):
    code = "not_a_credit_application"

    def __init__(self, payment_id: int, kind: str) -> None:
        super().__init__(
            f"Payment #{payment_id} is a {kind} payment, not a credit application; only applied credits can be "
            "reversed here."
        )


class AlreadyReversed(LedgerError):
    code = "already_reversed"

    def __init__(self, application_id: int, reversed_at: datetime) -> None:
        super().__init__(
            f"Credit application #{application_id} was already reversed on {reversed_at:%Y-%m-%d %H:%M} UTC; "
            "there is nothing left to undo."
        )


class IdempotencyConflict(LedgerError):
    code = "idempotency_key_reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"The request key “{key}” was already used for a different request. Use a new key for a new request."
        )


class CurrencyMismatch(LedgerError):
    code = "currency_mismatch"

    def __init__(self, what: str, currency: str, client_currency: str) -> None:
        super().__init__(f"{what} is in {currency}, but the client is billed in {client_currency}.")


class SchemaOutOfDate(LedgerError):
    code = "schema_out_of_date"

    def __init__(self, current: str | None, head: str) -> None:
        at = f"revision {current}" if current else "no creditbot schema"
        super().__init__(
            f"The database is at {at}, but this creditbot needs revision {head}. Run `creditbot db upgrade` first."
        )


class ImportRowError(LedgerError):
    """A CSV import refused: names the file, line and column."""

    code = "invalid_import"

    def __init__(self, file: str, line: int | None, column: str | None, why: str) -> None:
        where = file if line is None else f"{file}:{line}"
        column_part = f", column {column}" if column else ""
        super().__init__(f"{where}{column_part}: {why}. Nothing was imported.")
        self.file, self.line, self.column, self.why = file, line, column, why


class PermissionRefused(LedgerError):
    code = "not_permitted"

    def __init__(self, action: str) -> None:
        super().__init__(
            f"Sorry, only billing admins can {action}. Ask a billing admin, or have your Slack id added to "
            "CREDITBOT_BILLING_ADMINS."
        )


class UnknownCredit(LedgerError):
    code = "unknown_credit"

    def __init__(self, credit_id: object) -> None:
        super().__init__(f"There is no credit #{credit_id}. The id is shown when the credit is issued.")


class CreditAlreadyRevoked(LedgerError):
    code = "credit_already_revoked"

    def __init__(self, credit_id: int, revoked_at: datetime) -> None:
        super().__init__(
            f"Credit #{credit_id} was already taken back on {revoked_at:%Y-%m-%d %H:%M} UTC; there is nothing left "
            "to undo."
        )


class CreditNotRevocable(LedgerError):
    code = "credit_not_revocable"

    def __init__(self, credit_id: int) -> None:
        super().__init__(f"Credit entry #{credit_id} is itself the undo of a credit, so it cannot be undone.")


class CreditAlreadyUsed(LedgerError):
    code = "credit_already_used"

    def __init__(self, credit_id: int, amount: str, available: str, client_name: str) -> None:
        super().__init__(
            f"Cannot take back credit #{credit_id} ({amount}): {client_name} has only {available} of credit left, "
            "the rest is already applied to invoices. Reverse those applications first, then undo the credit."
        )


class UnknownApprovalRequest(LedgerError):
    code = "unknown_approval_request"

    def __init__(self, request_id: object) -> None:
        super().__init__(f"There is no approval request #{request_id}.")


class ApprovalAlreadyDecided(LedgerError):
    code = "approval_already_decided"

    def __init__(self, request_id: int, status: str, decided_by: str | None, decided_at: datetime | None) -> None:
        by = f" by {decided_by}" if decided_by else ""
        at = f" on {decided_at:%Y-%m-%d %H:%M} UTC" if decided_at else ""
        super().__init__(f"Approval request #{request_id} was already {status}{by}{at}; it cannot change now.")
        self.status = status


class SelfApproval(LedgerError):
    code = "self_approval"

    def __init__(self, request_id: int) -> None:
        super().__init__(
            f"You asked for request #{request_id}, so a second billing admin has to approve it. "
            "You can still reject it to withdraw it."
        )


class NotReversed(LedgerError):
    code = "not_reversed"

    def __init__(self, application_id: int) -> None:
        super().__init__(f"Credit application #{application_id} is not reversed, so there is no reversal to undo.")


class ApprovalRequired(LedgerError):
    """A gated write above the approval threshold: nothing was written; a request for approval can be opened."""

    code = "approval_required"

    def __init__(
        self, action: str, params: dict[str, object], client_id: str, what: str, amount: str, threshold: str,
        used: str | None,
    ) -> None:  # fmt: skip
        recent = f" (with the {used} done without approval in the last 24 hours)" if used else ""
        super().__init__(
            f"{what}{recent} is above the approval threshold of {threshold} per client in 24 hours, so a second "
            "billing admin must approve it."
        )
        self.action, self.params, self.client_id, self.what = action, params, client_id, what
        self.amount, self.threshold = amount, threshold


class InvalidApprovalThreshold(LedgerError):
    code = "invalid_approval_threshold"

    def __init__(self, entry: str, why: str) -> None:
        super().__init__(
            f"CREDITBOT_APPROVAL_THRESHOLD entry “{entry}” is not valid ({why}); write it like USD:1000,EUR:900 "
            "or a bare 1000."
        )


# --- credit operations (issue 17) -----------------------------------------------------------------------


class ReversalExceedsApplication(LedgerError):
    code = "exceeds_application"

    def __init__(self, application_id: int, requested: str, remaining: str) -> None:
        super().__init__(
            f"Cannot reverse {requested} of credit application #{application_id}: only {remaining} of it is still "
            "applied (earlier partial reversals gave the rest back). Reverse at most that much."
        )


class MoveToSameInvoice(LedgerError):
    code = "move_to_same_invoice"

    def __init__(self, application_id: int, number: str) -> None:
        super().__init__(
            f"Credit application #{application_id} is already on invoice {number}; name another invoice of the "
            "same client to move it to."
        )


class MoveToOtherClient(LedgerError):
    code = "move_to_other_client"

    def __init__(self, application_id: int, client_name: str, number: str, other_name: str) -> None:
        super().__init__(
            f"Cannot move credit application #{application_id} to invoice {number}: that invoice bills "
            f"{other_name}, and {client_name}'s credit can only pay {client_name}'s invoices. To give credit to "
            "another client, use `transfer`."
        )


class TransferToSameClient(LedgerError):
    code = "transfer_to_same_client"

    def __init__(self, client_name: str) -> None:
        super().__init__(f"Cannot transfer credit from {client_name} to itself; name two different clients.")


class TransferCurrencyMismatch(LedgerError):
    code = "transfer_currency_mismatch"

    def __init__(self, from_name: str, from_currency: str, to_name: str, to_currency: str) -> None:
        super().__init__(
            f"Cannot transfer credit from {from_name} ({from_currency}) to {to_name} ({to_currency}): credit moves "
            "only between clients billed in the same currency."
        )


class ExceedsAvailableCredit(LedgerError):
    """A refund, write-off or transfer of more than the wallet holds beyond what is applied."""

    code = "exceeds_available_credit"

    def __init__(self, verb: str, requested: str, available: str, client_name: str) -> None:
        super().__init__(
            f"Cannot {verb} {requested}: {client_name} has only {available} of credit available (the rest is "
            "applied to invoices). Reverse applications first, or use a smaller amount."
        )


class ReasonRequired(LedgerError):
    code = "reason_required"

    def __init__(self, action: str) -> None:
        super().__init__(f'Say why ({action}): the reason goes into the history. Add --reason "...".')


class InvalidDate(LedgerError):
    code = "invalid_date"

    def __init__(self, text: str, what: str = "date") -> None:
        super().__init__(f"“{text}” is not a valid {what}: write it as YYYY-MM-DD, e.g. 2026-12-31.")


class ExpiryInPast(LedgerError):
    code = "expiry_in_past"

    def __init__(self, expires_on: object, today: object) -> None:
        super().__init__(
            f"A credit cannot expire on {expires_on}: that is before today ({today}). A credit is usable through "
            "its expiry date; give today or a later date, or no expiry."
        )


class RefundReferenceTaken(LedgerError):
    code = "refund_reference_taken"

    def __init__(self, reference: str) -> None:
        super().__init__(
            f"Refund receipt reference “{reference}” is already used by another refund. Give the receipt's own "
            "reference, or leave it out and creditbot numbers the receipt."
        )


class NothingToApplyAll(LedgerError):
    code = "nothing_to_apply_all"

    def __init__(self, client_name: str, why: str) -> None:
        super().__init__(f"Nothing to apply for {client_name}: {why}.")


class UnknownWriteOff(LedgerError):
    code = "unknown_write_off"

    def __init__(self, credit_id: object) -> None:
        super().__init__(f"There is no write-off #{credit_id}. The id is shown when the credit is written off.")


class WriteOffAlreadyReinstated(LedgerError):
    code = "write_off_already_reinstated"

    def __init__(self, credit_id: int, reinstated_at: datetime) -> None:
        super().__init__(
            f"Write-off #{credit_id} was already undone on {reinstated_at:%Y-%m-%d %H:%M} UTC; there is nothing "
            "left to undo."
        )


class UnknownTransfer(LedgerError):
    code = "unknown_transfer"

    def __init__(self, transfer_id: object) -> None:
        super().__init__(f"There is no credit transfer #{transfer_id}.")


class InvalidCreditSearch(LedgerError):
    code = "invalid_credit_search"

    def __init__(self, why: str) -> None:
        super().__init__(f"Cannot search credits: {why}.")


class CreditExpired(LedgerError):
    code = "credit_expired"

    def __init__(self, credit_id: int, expired_at: datetime | None) -> None:
        when = f" on {expired_at:%Y-%m-%d}" if expired_at else ""
        super().__init__(
            f"Credit #{credit_id} expired{when}: what was left of it is no longer in the wallet, so it cannot be "
            "taken back. Write off or refund available credit instead."
        )


class UnusableText(LedgerError):
    """A name, number or reason that cannot be stored or looked up as typed (too long, a control character)."""

    code = "unusable_text"

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"The {what} {why}. Nothing was changed.")
        self.what = what


class DatabaseUnreachable(LedgerError):
    """The database in DATABASE_URL cannot be opened or reached: nothing was read or written."""

    code = "database_unreachable"

    def __init__(self, database: str, why: str) -> None:
        super().__init__(f"Cannot reach the database {database}: {why}. Nothing was changed.")
        self.database = database
        self.why = why
