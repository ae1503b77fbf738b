"""The Undo buttons on write replies. Each reverses one write, for billing admins only, at most once.

- Undo of `issue`: takes the credit back (`revoke_credit`; refused once any of it is applied).
- Undo of `apply`: reverses the application.
- Undo of `reverse`: applies the same amount to the same invoice again (with the same project tag). Its key is
  the reversal's, not the click's: two messages can carry this button (a retried `/credit reverse` gets the
  first reply again), and one reversal must be undone at most once whichever of them is clicked.
A double click on one button carries one request key, so the ledger replays the first result.
"""

from __future__ import annotations

from bot.handlers.context import Context
from bot.handlers.permissions import require_billing_admin
from bot.handlers.reply import Reply
from bot.render import blocks, sentences
from ledger import operations
from ledger.approvals import WriteRequest
from ledger.errors import LedgerError, NotReversed, UnknownApplication, UnknownCredit
from ledger.money import decimal_str
from ledger.unit import Unit, statement


def undo_issue(ctx: Context, value: str) -> Reply:
    credit_id = _id(value, UnknownCredit)
    asked = f"Undo of credit #{credit_id}"
    require_billing_admin(ctx, "undo credits", "revoke_credit", asked, credit_id=credit_id)
    result = ctx.db.transact(operations.revoke_credit, credit_id, ctx.caller.request, reason=asked)
    return _undone(ctx, sentences.revoked(result), result.replayed)


def undo_apply(ctx: Context, value: str) -> Reply:
    application_id = _id(value, UnknownApplication)
    asked = f"Undo of credit application #{application_id}"
    require_billing_admin(ctx, "undo credit applications", "reverse_application", asked, application_id=application_id)
    result = ctx.db.transact(operations.reverse_application, application_id, ctx.caller.request, reason=asked)
    return _undone(ctx, sentences.reversed_(result), result.replayed)


def undo_reverse(ctx: Context, value: str) -> Reply:
    application_id = _id(value, UnknownApplication)
    asked = f"Undo of the reversal of credit application #{application_id}"
    require_billing_admin(ctx, "undo reversals", "apply_credit", asked, application_id=application_id)
    result = ctx.db.transact(_apply_again, application_id, ctx.caller.actor)
    return _undone(ctx, sentences.applied(result), result.replayed)


_REVERSED_APPLICATION = statement(
    "SELECT r.id, i.number, p.amount_minor, c.currency, p.project_id FROM payment p "
    "JOIN invoice i ON i.id = p.invoice_id JOIN client c ON c.id = p.client_id "
    "LEFT JOIN reversal r ON r.payment_id = p.id WHERE p.id = ? AND p.kind = 'AccountCredit'"
)


def _apply_again(unit: Unit, application_id: int, actor: str) -> operations.ApplyResult:
    """Apply a reversed application's amount to its invoice again, keyed by the reversal: at most once per reversal."""
    found = unit.row(_REVERSED_APPLICATION, (application_id,))
    if found is None:
        raise UnknownApplication(application_id)
    reversal_id, number, amount_minor, currency, project_id = found
    if reversal_id is None:
        raise NotReversed(application_id)
    amount = decimal_str(amount_minor, currency)
    by = WriteRequest(actor, f"undo-reversal:{reversal_id}")
    return operations.apply_credit(unit, number, amount, project_id, by)


def _undone(ctx: Context, sentence: str, replayed: bool) -> Reply:
    return Reply(
        text=f"Undone: {sentence}",
        blocks=blocks.undone(sentence, ctx.caller.actor),
        wrote=not replayed,
        replace_original=True,
    )


def _id(value: str, unknown: type[LedgerError]) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise unknown(value)  # type: ignore[call-arg]
    return int(text)
