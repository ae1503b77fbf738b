"""`/credit transfer FROM_CLIENT TO_CLIENT AMOUNT --reason "..."`: credit to a related client, same currency."""

from __future__ import annotations

from bot.handlers.context import Context
from bot.handlers.grammar import Transfer
from bot.handlers.permissions import require_billing_admin
from bot.handlers.reply import Reply
from bot.render import blocks, credit_sentences
from bot.render.blocks import Button
from ledger.credit_ops import wallets
from ledger.credit_ops.wallets import TransferResult


def transfer(ctx: Context, command: Transfer) -> Reply:
    asked = f"transfer {command.from_client} {command.to_client} {command.amount} --reason {command.reason}"
    require_billing_admin(ctx, "transfer credit", "transfer_credit", asked, client=command.from_client)
    result = ctx.db.transact(
        wallets.transfer_credit, command.from_client, command.to_client, command.amount, command.reason,
        ctx.caller.request,
    )  # fmt: skip
    return transferred_reply(result)


def transferred_reply(result: TransferResult) -> Reply:
    sentence = credit_sentences.transferred(result)
    undo = Button("Undo", "undo_transfer", str(result.transfer_id))
    return Reply(text=sentence, blocks=blocks.write_done(sentence, undo), wrote=not result.replayed)
