"""`/credit apply-all CLIENT [--oldest-first|--largest-first] [--dry-run]`, and the preview's Apply button.

A dry run answers with the plan and an "Apply this plan" button (`apply_all_confirm`, value "CLIENT_ID|ORDER");
clicking it applies with the click's own request key, so a double click applies once. The ledger plans again at
the click, so the reply says what was actually applied."""

from __future__ import annotations

from bot.handlers.context import Context
from bot.handlers.grammar import ApplyAll
from bot.handlers.permissions import require_billing_admin
from bot.handlers.reply import Reply
from bot.render import blocks, credit_sentences
from bot.render.blocks import Button
from ledger.credit_ops import apply_all as ledger_apply_all
from ledger.credit_ops.apply_all import ApplyAllResult
from ledger.errors import UnknownClient


def apply_all(ctx: Context, command: ApplyAll) -> Reply:
    asked = " ".join(["apply-all", command.client, f"--{command.order}"] + (["--dry-run"] if command.dry_run else []))
    if not command.dry_run:
        require_billing_admin(ctx, "apply credits", "apply_all", asked, client=command.client)
    result = ctx.db.transact(
        ledger_apply_all.apply_all, command.client, ctx.caller.request, order=command.order, dry_run=command.dry_run
    )
    return applied_all_reply(result)


def confirm(ctx: Context, value: str) -> Reply:
    client_id, _, order = value.partition("|")
    if order not in ledger_apply_all.ORDERS:
        raise UnknownClient(value)
    require_billing_admin(ctx, "apply credits", "apply_all", f"apply-all {client_id} --{order}", client=client_id)
    result = ctx.db.transact(ledger_apply_all.apply_all, client_id, ctx.caller.request, order=order)
    reply = applied_all_reply(result)
    return Reply(text=reply.text, blocks=reply.blocks, wrote=reply.wrote, replace_original=True)


def applied_all_reply(result: ApplyAllResult) -> Reply:
    sentence = credit_sentences.applied_all(result)
    lines = "\n".join(f"• {blocks.esc(line)}" for line in credit_sentences.apply_all_lines(result))
    if result.dry_run:
        preview = Button("Apply this plan", "apply_all_confirm", f"{result.client_id}|{result.order}", style="primary")
        text = f":mag: {blocks.esc(sentence)}\n{lines}"
        return Reply(text=sentence, blocks=blocks.message(text, "Nothing was changed yet.", [preview]))
    ids = ",".join(str(line["application_id"]) for line in result.lines)
    undo = Button("Undo", "undo_apply_all", ids) if len(ids) <= 2000 else None
    text = f":white_check_mark: {blocks.esc(sentence)}\n{lines}"
    return Reply(text=sentence, blocks=blocks.message(text, buttons=[undo] if undo else []), wrote=not result.replayed)
