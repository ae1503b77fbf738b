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
from bot.render import blocks, credit_sentences, sentences
from ledger import operations
from ledger.approvals import WriteRequest
from ledger.credit_ops import reversals, wallets
from ledger.errors import LedgerError, NotReversed, UnknownApplication, UnknownCredit, UnknownTransfer, UnknownWriteOff
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
    "SELECT r.id, i.number, COALESCE(r.amount_minor, p.amount_minor), c.currency, p.project_id FROM payment p "
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


# --- issue 17: the undo of a move is a move back, of a transfer a transfer back, of a write-off a reinstatement, of
# an apply-all the reversal of its applications; each keyed by what it undoes, so it happens at most once.


def undo_move(ctx: Context, value: str) -> Reply:
    raw_id, _, from_invoice = value.partition(":")
    application_id = _id(raw_id, UnknownApplication)
    asked = f"Undo of the move of credit application #{application_id} (back to {from_invoice})"
    require_billing_admin(ctx, "undo moves", "move_application", asked, application_id=application_id)
    by = WriteRequest(ctx.caller.actor, f"undo-move:{application_id}")
    result = ctx.db.transact(reversals.move_application, application_id, from_invoice, by, reason=asked)
    return _undone(ctx, credit_sentences.moved(result), result.replayed)


def undo_transfer(ctx: Context, value: str) -> Reply:
    transfer_id = _id(value, UnknownTransfer)
    require_billing_admin(ctx, "undo transfers", "transfer_credit", f"Undo of transfer #{transfer_id}")
    result = ctx.db.transact(wallets.undo_transfer, transfer_id, ctx.caller.actor)
    return _undone(ctx, credit_sentences.transferred(result), result.replayed)


def undo_write_off(ctx: Context, value: str) -> Reply:
    write_off_id = _id(value, UnknownWriteOff)
    asked = f"Undo of write-off #{write_off_id}"
    require_billing_admin(ctx, "undo write-offs", "reinstate_write_off", asked, credit_id=write_off_id)
    by = WriteRequest(ctx.caller.actor, f"undo-write-off:{write_off_id}")
    result = ctx.db.transact(wallets.reinstate_write_off, write_off_id, by, reason=asked)
    return _undone(ctx, credit_sentences.reinstated(result), result.replayed)


def undo_apply_all(ctx: Context, value: str) -> Reply:
    ids = [_id(part, UnknownApplication) for part in value.split(",") if part.strip()]
    if not ids:
        raise UnknownApplication(value)
    asked = f"Undo of apply-all (applications {', '.join(f'#{i}' for i in ids)})"
    require_billing_admin(ctx, "undo credit applications", "reverse_application", asked, application_id=ids[0])
    results = ctx.db.transact(_reverse_each, ids, ctx.caller.actor, asked)
    sentence = " ".join(sentences.reversed_(result) for result in results)
    return _undone(ctx, sentence, all(result.replayed for result in results))


def _reverse_each(unit: Unit, ids: list[int], actor: str, reason: str) -> list[operations.ReverseResult]:
    """Every application of one apply-all reversed in one unit: all or none."""
    return [
        operations.reverse_application(unit, i, WriteRequest(actor, f"undo-apply-all:{i}"), reason=reason) for i in ids
    ]


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
