"""The **Enter as client credit** button on a QuickBooks overpayment (R6): billing admins only, once per payment.

An overpayment made in QuickBooks never reaches the credit wallet by itself; the sync notes it and the scans alert
on it. This button enters it as a client credit linked to the QuickBooks payment. The click is acknowledged at
once; a lazy listener checks permission, carries it out with a key derived from the message and the button (a
double click or a retry is carried out once) and answers through `respond()`: the clicker is told what happened,
and the message that held the button loses it, saying who entered the credit. A second attempt from another
message is refused: the ledger allows one credit per QuickBooks payment. A refusal changes nothing.
"""

from __future__ import annotations

import copy
from typing import Any

from slack_bolt import Ack, App, Respond
from sqlmodel import select

from bot.commands import registry
from bot.commands.context import Context
from bot.commands.reply import Reply
from bot.listeners.payloads import action_caller, respond_arguments, services_of
from bot.permissions import require_billing_admin
from bot.render.blocks import esc, mention, message
from bot.render.findings import ENTER_OVERPAYMENT_ACTION
from ledger.money import format_money
from ledger.qbo.models import QBOverpayment
from ledger.qbo.overpayments import OverpaymentCreditResult, enter_qb_overpayment_as_credit

ALREADY_DONE = " (Already done with this request; nothing changed.)"


def register(app: App) -> None:
    app.action(ENTER_OVERPAYMENT_ACTION)(ack=acknowledge_click, lazy=[enter_as_credit])


def acknowledge_click(ack: Ack) -> None:
    ack()


def enter_as_credit(body: dict[str, Any], action: dict[str, Any], context: dict[str, Any], respond: Respond) -> None:
    ctx = Context(services_of(context), action_caller(body, action))
    qb_payment_id = str(action.get("value", "")).strip()
    entered: list[OverpaymentCreditResult] = []

    def carry_out() -> Reply:
        require_billing_admin(
            ctx,
            "enter QuickBooks overpayments as client credit",
            "enter_qb_overpayment",
            f"Enter as client credit (QuickBooks payment {qb_payment_id})",
            client=_client_of(ctx, qb_payment_id),
        )
        result = enter_qb_overpayment_as_credit(ctx.db, qb_payment_id, ctx.caller.actor, ctx.caller.request_key)
        entered.append(result)
        text = entered_sentence(result)
        return Reply(text=text, blocks=message(esc(text)), wrote=not result.replayed)

    reply = registry.answer(carry_out, ctx, f"button {ENTER_OVERPAYMENT_ACTION}={qb_payment_id}")
    if entered and not entered[0].replayed:  # a replayed click: the first one already redrew the message
        redrawn = _without_button(body, qb_payment_id, entered[0], ctx.caller.actor)
        if redrawn is not None:
            original = (body.get("message") or {}).get("text") or reply.text
            respond(text=original, blocks=redrawn, replace_original=True)
    respond(**respond_arguments(reply))


def entered_sentence(result: OverpaymentCreditResult) -> str:
    money = result.currency
    return (
        f"Entered the {format_money(result.amount_minor, money)} overpayment on QuickBooks payment "
        f"{result.qb_payment_id} as client credit for {result.client_name} (credit #{result.credit_id}). "
        f"Available credit: {format_money(result.available_before_minor, money)} → "
        f"{format_money(result.available_after_minor, money)}." + (ALREADY_DONE if result.replayed else "")
    )


def _client_of(ctx: Context, qb_payment_id: str) -> str | None:
    """The client the overpayment belongs to, so a refused click shows in that client's history."""
    with ctx.db.read() as session:
        row = session.exec(select(QBOverpayment).where(QBOverpayment.qb_payment_id == qb_payment_id)).first()
        return row.client_id if row else None


def _without_button(
    body: dict[str, Any], qb_payment_id: str, result: OverpaymentCreditResult, actor: str
) -> list[dict[str, Any]] | None:
    """The clicked message with this button replaced by who entered the credit (None: no message to redraw)."""
    blocks = copy.deepcopy((body.get("message") or {}).get("blocks") or [])
    for index, block in enumerate(blocks):
        elements = block.get("elements") if block.get("type") == "actions" else None
        if not elements:
            continue
        kept = [e for e in elements if not _is_this_button(e, qb_payment_id)]
        if len(kept) == len(elements):
            continue
        note = {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f":white_check_mark: Entered as client credit #{result.credit_id} "
                    f"({format_money(result.amount_minor, result.currency)}) by {mention(actor)}.",
                }
            ],
        }
        blocks[index : index + 1] = [{**block, "elements": kept}, note] if kept else [note]
        return blocks
    return None


def _is_this_button(element: dict[str, Any], qb_payment_id: str) -> bool:
    return element.get("action_id") == ENTER_OVERPAYMENT_ACTION and str(element.get("value")) == qb_payment_id
