"""`/credit write-off CLIENT AMOUNT --reason "..."`: credit the client will not use leaves the wallet (Undo: back)."""

from __future__ import annotations

from bot.handlers.context import Context
from bot.handlers.grammar import WriteOff
from bot.handlers.permissions import require_billing_admin
from bot.handlers.reply import Reply
from bot.render import blocks, credit_sentences
from bot.render.blocks import Button
from ledger.credit_ops import wallets
from ledger.credit_ops.wallets import OutflowResult


def write_off(ctx: Context, command: WriteOff) -> Reply:
    asked = f"write-off {command.client} {command.amount} --reason {command.reason}"
    require_billing_admin(ctx, "write off credit", "write_off_credit", asked, client=command.client)
    result = ctx.db.transact(
        wallets.write_off_credit, command.client, command.amount, command.reason, ctx.caller.request
    )
    return written_off_reply(result)


def written_off_reply(result: OutflowResult) -> Reply:
    sentence = credit_sentences.written_off(result)
    undo = Button("Undo", "undo_write_off", str(result.credit_id))
    return Reply(text=sentence, blocks=blocks.write_done(sentence, undo), wrote=not result.replayed)
