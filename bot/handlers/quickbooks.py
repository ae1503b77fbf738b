"""The **Enter as client credit** button on a QuickBooks overpayment (R6): billing admins only, once per payment.

An overpayment made in QuickBooks never reaches the credit wallet by itself; the sync notes it and the scans alert
on it. This button enters it as a client credit linked to the QuickBooks payment, with a key derived from the
message and the button (a double click or a retry is carried out once). The message that held the button loses it,
saying who entered the credit, and the clicker is told what happened. A second attempt from another message is
refused: the ledger allows one credit per QuickBooks payment. A refusal changes nothing.
"""

from __future__ import annotations

from typing import Any

from bot.handlers.context import Context
from bot.handlers.permissions import require_billing_admin
from bot.handlers.reply import Reply
from bot.render.blocks import esc, mention, message
from bot.render.findings import ENTER_OVERPAYMENT_ACTION
from ledger.money import format_money
from ledger.qbo.overpayments import OverpaymentCreditResult, enter_qb_overpayment_as_credit
from ledger.unit import statement

ALREADY_DONE = " (Already done with this request; nothing changed.)"
_CLIENT_OF = statement("SELECT client_id FROM qb_overpayment WHERE qb_payment_id = ?")


def enter_as_credit(ctx: Context, value: str) -> Reply:
    qb_payment_id = value.strip()
    with ctx.db.read() as unit:
        owner = unit.row(_CLIENT_OF, (qb_payment_id,))
    require_billing_admin(
        ctx,
        "enter QuickBooks overpayments as client credit",
        "enter_qb_overpayment",
        f"Enter as client credit (QuickBooks payment {qb_payment_id})",
        client=owner[0] if owner else None,
    )
    result = ctx.db.transact(enter_qb_overpayment_as_credit, qb_payment_id, ctx.caller.request)
    text = entered_sentence(result)
    reply = Reply(text=text, blocks=message(esc(text)), wrote=not result.replayed)
    clicked = ctx.caller.message
    redrawn = _without_button(list(clicked.blocks), qb_payment_id, result, ctx.caller.actor) if clicked else None
    if result.replayed or redrawn is None:  # a replayed click: the first one already redrew the message
        return reply
    original = clicked.text if clicked and clicked.text else text
    return Reply(text=original, blocks=redrawn, wrote=True, replace_original=True, follow_up=reply)


def entered_sentence(result: OverpaymentCreditResult) -> str:
    money = result.currency
    return (
        f"Entered the {format_money(result.amount_minor, money)} overpayment on QuickBooks payment "
        f"{result.qb_payment_id} as client credit for {result.client_name} (credit #{result.credit_id}). "
        f"Available credit: {format_money(result.available_before_minor, money)} → "
        f"{format_money(result.available_after_minor, money)}." + (ALREADY_DONE if result.replayed else "")
    )


def _without_button(
    blocks: list[dict[str, Any]], qb_payment_id: str, result: OverpaymentCreditResult, actor: str
) -> list[dict[str, Any]] | None:
    """The clicked message with this button replaced by who entered the credit (None: no message to redraw)."""
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


ACTIONS = {ENTER_OVERPAYMENT_ACTION: enter_as_credit}
