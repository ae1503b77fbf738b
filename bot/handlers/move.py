"""`/credit move APPLICATION_ID INVOICE [AMOUNT]`: a credit application to another invoice of the same client."""

from __future__ import annotations

from bot.handlers.context import Context
from bot.handlers.grammar import Move
from bot.handlers.permissions import require_billing_admin
from bot.handlers.reply import Reply
from bot.render import blocks, credit_sentences
from bot.render.blocks import Button
from ledger.credit_ops import reversals
from ledger.credit_ops.reversals import MoveResult


def move(ctx: Context, command: Move) -> Reply:
    asked = " ".join(part for part in ("move", str(command.application_id), command.invoice, command.amount) if part)
    require_billing_admin(ctx, "move credit applications", "move_application", asked,
                          application_id=command.application_id)  # fmt: skip
    result = ctx.db.transact(
        reversals.move_application, command.application_id, command.invoice, ctx.caller.request, amount=command.amount
    )
    return moved_reply(result)


def moved_reply(result: MoveResult) -> Reply:
    sentence = credit_sentences.moved(result)
    undo = Button("Undo", "undo_move", f"{result.new_application_id}:{result.from_invoice}")
    return Reply(text=sentence, blocks=blocks.write_done(sentence, undo), wrote=not result.replayed)
