"""Write subcommands: issue, apply, reverse. Billing admins only; each reply says what changed and offers Undo.

Every write carries the request's idempotency key (a Slack retry of the same slash command has the same
trigger_id, so the ledger answers it with the first result instead of writing twice).
"""

from __future__ import annotations

from bot.handlers.context import Context
from bot.handlers.grammar import Apply, Issue, Reverse
from bot.handlers.permissions import require_billing_admin
from bot.handlers.reply import Reply
from bot.render import blocks, credit_sentences, sentences
from bot.render.blocks import Button
from ledger import operations
from ledger.operations import ApplyResult, IssueResult, ReverseResult


def issue(ctx: Context, command: Issue) -> Reply:
    asked = f"issue {command.client} {command.amount} {command.reason}"
    require_billing_admin(ctx, "issue credits", "issue_credit", asked, client=command.client)
    request = ctx.caller.request
    result = ctx.db.transact(
        operations.issue_credit, command.client, command.amount, command.reason, request, expires_on=command.expires_on
    )
    return issued_reply(result)


def apply(ctx: Context, command: Apply) -> Reply:
    asked = " ".join(part for part in ("apply", command.invoice, command.amount, command.project) if part)
    require_billing_admin(ctx, "apply credits", "apply_credit", asked, invoice=command.invoice)
    request = ctx.caller.request
    result = ctx.db.transact(operations.apply_credit, command.invoice, command.amount, command.project, request)
    return applied_reply(result)


def reverse(ctx: Context, command: Reverse) -> Reply:
    asked = " ".join(part for part in ("reverse", str(command.application_id), command.amount) if part)
    require_billing_admin(
        ctx, "reverse credit applications", "reverse_application", asked, application_id=command.application_id
    )
    result = ctx.db.transact(
        operations.reverse_application, command.application_id, ctx.caller.request, amount=command.amount
    )
    return reversed_reply(result)


def issued_reply(result: IssueResult) -> Reply:
    sentence = sentences.issued(result)
    undo = Button("Undo", "undo_issue", str(result.credit_id))
    return Reply(text=sentence, blocks=blocks.write_done(sentence, undo), wrote=not result.replayed)


def applied_reply(result: ApplyResult) -> Reply:
    sentence = sentences.applied(result)
    undo = Button("Undo", "undo_apply", str(result.application_id))
    return Reply(text=sentence, blocks=blocks.write_done(sentence, undo), wrote=not result.replayed)


def reversed_reply(result: ReverseResult) -> Reply:
    partial = result.remaining_application_id is not None or result.reversed_application_id not in (
        None, result.application_id)  # fmt: skip
    sentence = credit_sentences.reversed_part(result) if partial else sentences.reversed_(result)
    # The Undo applies again what this reversal gave back, keyed by the row it reversed.
    undo = Button("Undo", "undo_reverse", str(result.reversed_application_id or result.application_id))
    return Reply(text=sentence, blocks=blocks.write_done(sentence, undo), wrote=not result.replayed)
