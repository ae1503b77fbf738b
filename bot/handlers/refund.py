"""`/credit refund CLIENT AMOUNT --reason "..." [--reference RECEIPT]`: credit paid out as money.

No Undo button: the money has left (a refund recorded by mistake is corrected by issuing the credit again)."""

from __future__ import annotations

from bot.handlers.context import Context
from bot.handlers.grammar import Refund
from bot.handlers.permissions import require_billing_admin
from bot.handlers.reply import Reply
from bot.render import blocks, credit_sentences
from ledger.credit_ops import wallets
from ledger.credit_ops.wallets import OutflowResult


def refund(ctx: Context, command: Refund) -> Reply:
    asked = f"refund {command.client} {command.amount} --reason {command.reason}"
    require_billing_admin(ctx, "refund credit", "refund_credit", asked, client=command.client)
    result = ctx.db.transact(
        wallets.refund_credit, command.client, command.amount, command.reason, ctx.caller.request,
        reference=command.reference,
    )  # fmt: skip
    return refunded_reply(result)


def refunded_reply(result: OutflowResult) -> Reply:
    sentence = credit_sentences.refunded(result)
    return Reply(text=sentence, blocks=blocks.write_done(sentence, None), wrote=not result.replayed)
