"""The Undo buttons on write replies. Each reverses one write, for billing admins only, at most once.

- Undo of `issue`: takes the credit back (`revoke_credit`; refused once any of it is applied).
- Undo of `apply`: reverses the application.
- Undo of `reverse`: applies the same amount to the same invoice again (with the same project tag). Its key is
  the reversal's, not the click's: two messages can carry this button (a retried `/credit reverse` gets the
  first reply again), and one reversal must be undone at most once whichever of them is clicked.
A double click on one button carries one request key, so the ledger replays the first result.
"""

from __future__ import annotations

from sqlmodel import select

from bot.commands.context import Context
from bot.commands.reply import Reply
from bot.permissions import require_billing_admin
from bot.render import blocks, sentences
from ledger import operations
from ledger.errors import LedgerError, NotReversed, UnknownApplication, UnknownCredit
from ledger.models import Client, Invoice, Payment, PaymentKind, Reversal
from ledger.money import decimal_str


def undo_issue(ctx: Context, value: str) -> Reply:
    credit_id = _id(value, UnknownCredit)
    asked = f"Undo of credit #{credit_id}"
    require_billing_admin(ctx, "undo credits", "revoke_credit", asked, credit_id=credit_id)
    result = operations.revoke_credit(ctx.db, credit_id, ctx.caller.actor, ctx.caller.request_key, reason=asked)
    return _undone(ctx, sentences.revoked(result), result.replayed)


def undo_apply(ctx: Context, value: str) -> Reply:
    application_id = _id(value, UnknownApplication)
    asked = f"Undo of credit application #{application_id}"
    require_billing_admin(ctx, "undo credit applications", "reverse_application", asked, application_id=application_id)
    result = operations.reverse_application(
        ctx.db, application_id, ctx.caller.actor, ctx.caller.request_key, reason=asked
    )
    return _undone(ctx, sentences.reversed_(result), result.replayed)


def undo_reverse(ctx: Context, value: str) -> Reply:
    application_id = _id(value, UnknownApplication)
    asked = f"Undo of the reversal of credit application #{application_id}"
    require_billing_admin(ctx, "undo reversals", "apply_credit", asked, application_id=application_id)
    with ctx.db.read() as session:
        payment = session.get(Payment, application_id)
        if payment is None or payment.kind != PaymentKind.ACCOUNT_CREDIT.value:
            raise UnknownApplication(application_id)
        reversal = session.exec(select(Reversal).where(Reversal.payment_id == application_id)).first()
        if reversal is None:
            raise NotReversed(application_id)
        invoice = session.get(Invoice, payment.invoice_id)
        client = session.get(Client, payment.client_id)
        assert invoice is not None and client is not None, "a payment's invoice and client exist (foreign keys)"
        amount = decimal_str(payment.amount_minor, client.currency)
    result = operations.apply_credit(
        ctx.db, invoice.number, amount, payment.project_id, ctx.caller.actor, f"undo-reversal:{reversal.id}"
    )
    return _undone(ctx, sentences.applied(result), result.replayed)


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
