"""The buttons on scan findings: Acknowledge, and Reverse duplicate (duplicate credits, billing admins only).

A click is acknowledged at once; a lazy listener carries it out and answers through `respond()`: the message
that held the button is redrawn from the store (so everyone sees who acknowledged), and the person who clicked
gets what happened. Both are idempotent: acknowledging twice keeps the first person; reversing twice replays
the first reversal (its idempotency key comes from the finding). A refusal (not an admin, a posted invoice)
is answered to the clicker only, and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.commands import registry
from bot.commands.context import Context
from bot.commands.reply import Reply
from bot.listeners.payloads import action_caller, respond_arguments, services_of
from bot.permissions import require_billing_admin
from bot.render import blocks, sentences
from bot.render.findings import ACKNOWLEDGE_ACTION, REVERSE_DUPLICATE_ACTION, alert_blocks, scan_reply_blocks
from bot.scan_reply import scan_options
from ledger import scans


def register(app: App) -> None:
    app.action(ACKNOWLEDGE_ACTION)(ack=acknowledge_click, lazy=[acknowledge_finding])
    app.action(REVERSE_DUPLICATE_ACTION)(ack=acknowledge_click, lazy=[reverse_duplicate])


def acknowledge_click(ack: Ack) -> None:
    ack()


def acknowledge_finding(
    body: dict[str, Any], action: dict[str, Any], context: dict[str, Any], respond: Respond
) -> None:
    ctx = Context(services_of(context), action_caller(body, action))

    def carry_out() -> Reply:
        result = scans.acknowledge(ctx.db, _finding_id(action), ctx.caller.actor)
        finding = result.finding
        if result.newly_acknowledged:
            text = f"Acknowledged finding #{finding.id}: it will not be alerted again."
        else:
            text = f"Finding #{finding.id} was already acknowledged by {blocks.mention(finding.acknowledged_by or '')}."
        return Reply(text=text, blocks=blocks.message(text), wrote=result.newly_acknowledged)

    _answer(ctx, body, action, respond, carry_out, tell_clicker=False)


def reverse_duplicate(body: dict[str, Any], action: dict[str, Any], context: dict[str, Any], respond: Respond) -> None:
    ctx = Context(services_of(context), action_caller(body, action))

    def carry_out() -> Reply:
        finding_id = _finding_id(action)
        with ctx.db.read() as session:
            finding = scans.get_finding(session, finding_id)
        asked = f"Reverse duplicate (finding #{finding_id})"
        require_billing_admin(
            ctx, "reverse duplicate credits", "reverse_duplicate", asked, invoice=finding.invoice_number
        )
        done = scans.reverse_duplicate(ctx.db, finding_id, ctx.caller.actor, scan_options(ctx.settings))
        lines = [sentences.reversed_(result) for result in done.reversed]
        lines += [f"Application #{payment_id} was already reversed." for payment_id in done.already_reversed]
        text = "\n".join(lines) or "Nothing left to reverse."
        return Reply(text=text, blocks=blocks.message(text), wrote=any(not r.replayed for r in done.reversed))

    _answer(ctx, body, action, respond, carry_out, tell_clicker=True)


def _answer(
    ctx: Context,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    carry_out: Callable[[], Reply],
    tell_clicker: bool,
) -> None:
    """Carry the click out (refusals and surprises worded as everywhere else) and answer.

    Done: the clicked message is redrawn for everyone (and the clicker is told what happened when asked to).
    Refused: only the clicker is told why, and the message stays as it was.
    """
    succeeded: list[bool] = []

    def attempt() -> Reply:
        reply = carry_out()
        succeeded.append(True)
        return reply

    reply = registry.answer(attempt, ctx, f"button {action.get('action_id')}={action.get('value')}")
    redrawn = _redrawn(ctx, body) if succeeded else None
    if redrawn is not None:
        respond(text=reply.text, blocks=redrawn, replace_original=True)
    if redrawn is None or tell_clicker:
        respond(**respond_arguments(reply))


def _redrawn(ctx: Context, body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The clicked message as it should look now: an alert is redrawn from its findings, a scan reply anew."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    ts = container.get("message_ts")
    with ctx.db.read() as session:
        if channel and ts:
            carried = scans.findings_of_message(session, channel, ts)
            if carried:
                return alert_blocks(carried)
        if container.get("is_ephemeral"):
            return scan_reply_blocks(scans.open_findings(session), opened=0)
    return None


def _finding_id(action: dict[str, Any]) -> int:
    value = str(action.get("value", ""))
    if not value.isdigit():
        raise scans.UnknownFinding(value or "(none)")
    return int(value)
