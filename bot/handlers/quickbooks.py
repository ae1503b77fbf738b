"""QuickBooks in Slack: the overpayment buttons (R6), credit memos on posted invoices (R4), `/credit qb`.

**Enter as client credit** on a QuickBooks overpayment (R6): billing admins only, once per payment.

An overpayment made in QuickBooks never reaches the credit wallet by itself; the sync notes it and the scans alert
on it. This button enters it as a client credit linked to the QuickBooks payment, with a key derived from the
message and the button (a double click or a retry is carried out once). The message that held the button loses it,
saying who entered the credit, and the clicker is told what happened. A second attempt from another message is
refused: the ledger allows one credit per QuickBooks payment. A refusal changes nothing.

With the live connection (ledger/qbo/memos.py), the same alert also offers **Apply in QuickBooks…** (the
overpayment applied there to one of the client's open posted invoices), and `/credit apply` on a posted invoice
offers the client's open QuickBooks credit memos; both are carried out in QuickBooks exactly once per click.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from bot.handlers import grammar, writes
from bot.handlers.context import Context
from bot.handlers.grammar import Apply, Command, Syntax, UsageError
from bot.handlers.permissions import require_billing_admin
from bot.handlers.reply import Reply
from bot.render import blocks
from bot.render.blocks import Button, esc, mention, message
from bot.render.findings import APPLY_IN_QUICKBOOKS_ACTION, ENTER_OVERPAYMENT_ACTION
from bot.settings import Settings, qbo_config, qbo_configured
from ledger.db import Database
from ledger.errors import InvoicePostedToQuickBooks
from ledger.money import decimal_str, format_money
from ledger.qbo.overpayments import OverpaymentCreditResult, enter_qb_overpayment_as_credit
from ledger.unit import statement

# The live connection (requests, Intuit's OAuth client, cryptography: some 14 MiB a process) is imported by the
# handlers that talk to QuickBooks, so a bot without QuickBooks Online never loads it.
if TYPE_CHECKING:
    from ledger.qbo.connection import ConnectionStatus
    from ledger.qbo.live import LiveQuickBooks

ALREADY_DONE = " (Already done with this request; nothing changed.)"
_CLIENT_OF = statement("SELECT client_id FROM qb_overpayment WHERE qb_payment_id = ?")


def enter_as_credit(ctx: Context, value: str) -> Reply:
    qb_payment_id = _quickbooks_id(value)
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


# --- the live QuickBooks Online connection (issue 15) -----------------------------------------------------
#
# `/credit apply` on a posted invoice (R4) lists the client's open QuickBooks credit memos, read live, as buttons;
# a click (billing admins; above the approval threshold, after approval) applies the memo in QuickBooks through
# `ledger.qbo.memos`, with the click's request key as QuickBooks' requestid: a double click or a retry makes one
# payment. `/credit qb connect|status` shows the connection and the link a QuickBooks admin opens.

APPLY_MEMO_ACTION = "qb_apply_memo"
_LIVE: dict[tuple[int, int], LiveQuickBooks] = {}
_LIVE_LOCK = threading.Lock()


def live_quickbooks(settings: Settings, db: Database) -> LiveQuickBooks:
    """The app's QuickBooks connection and API client, made once per settings and database."""
    from ledger.qbo.live import LiveQuickBooks

    key = (id(settings), id(db))
    with _LIVE_LOCK:
        if key not in _LIVE:
            _LIVE[key] = LiveQuickBooks.open(qbo_config(settings), db)
        return _LIVE[key]


def apply(ctx: Context, command: Apply) -> Reply:
    """`/credit apply`: as before, except that a posted invoice gets its client's QuickBooks credit memos offered."""
    try:
        return writes.apply(ctx, command)
    except InvoicePostedToQuickBooks:
        if not qbo_configured(ctx.settings) or not live_quickbooks(ctx.settings, ctx.db).connection.status().connected:
            raise
        return offer_memos(ctx, command.invoice, command.amount)


def offer_memos(ctx: Context, invoice: str, amount: str | None) -> Reply:
    from ledger.qbo import memos

    live = live_quickbooks(ctx.settings, ctx.db)
    target = memos.memo_target(ctx.db, live.api, invoice)
    memos.choose(target, None, amount)  # refuses now what no button could do (paid invoice, no memo, too much)
    money = target.currency
    buttons = []
    for index, memo in enumerate(target.memos[:_MAX_MEMO_BUTTONS]):
        wanted = amount or decimal_str(min(target.balance_minor, memo.remaining_minor), money)
        label = f"Apply credit memo {memo.label} ({format_money(memo.remaining_minor, money)} left) in QuickBooks"
        value = f"{target.invoice_number}|{memo.qb_id}|{wanted}"
        buttons.append(Button(label, f"{APPLY_MEMO_ACTION}:{index}", value, style="primary" if index == 0 else None))
    text = (
        f"Invoice {target.invoice_number} is posted to QuickBooks, so its credits are applied there. QuickBooks "
        f"shows {format_money(target.balance_minor, money)} still owed; {target.client_name} has "
        f"{len(target.memos)} open credit memo{'s' if len(target.memos) != 1 else ''}. Choose one to apply in "
        "QuickBooks (it comes back here as a QuickBooks credit memo payment):"
    )
    return Reply(text=text, blocks=blocks.message(esc(text), buttons=buttons))


def apply_memo_click(ctx: Context, value: str) -> Reply:
    from ledger.qbo import memos

    invoice, memo_id, amount = _memo_value(value)
    memo_id = _quickbooks_id(memo_id)
    require_billing_admin(
        ctx, "apply QuickBooks credit memos", memos.APPLY_MEMO, f"apply credit memo {memo_id} to {invoice}",
        invoice=invoice,
    )  # fmt: skip
    live = live_quickbooks(ctx.settings, ctx.db)
    if memos.recorded(ctx.db, ctx.caller.request_key) is None:  # a first click: check against QuickBooks as it is now
        memos.choose(memos.memo_target(ctx.db, live.api, invoice), memo_id, amount)
    applied = ctx.db.transact(memos.record_memo_application, invoice, memo_id, amount, ctx.caller.request)
    if applied.status == memos.PENDING:
        applied = memos.send(ctx.db, live.api, applied.action_id)
    text = memos.sentence(applied)
    done = Reply(text=text, blocks=blocks.message(esc(text)), wrote=not applied.replayed)
    if applied.replayed or ctx.caller.message is None:
        return done
    return Reply(text=text, blocks=blocks.message(f":white_check_mark: {esc(text)}"), wrote=True, replace_original=True)


def qb(ctx: Context, command: QuickBooksCommand) -> Reply:
    """`/credit qb connect|status`: billing admins get the link a QuickBooks admin opens once."""
    if not qbo_configured(ctx.settings):
        qbo_config(ctx.settings)  # names what is missing
    live = live_quickbooks(ctx.settings, ctx.db)
    if command.action == "connect":
        require_billing_admin(ctx, "connect creditbot to QuickBooks", "qbo_connect", "qb connect")
        url = live.connection.authorization_url(ctx.caller.actor)
        text = (
            "Open this link and sign in as a QuickBooks admin of the company to connect; it works once, for 15 "
            f"minutes: <{url}|Connect to QuickBooks>"
        )
        return Reply(text="Connect creditbot to QuickBooks", blocks=blocks.message(text))
    text = status_sentence(live.connection.status())
    return Reply(text=text, blocks=blocks.message(esc(text)))


def status_sentence(status: ConnectionStatus) -> str:
    if status.connected:
        polled = f"last poll {status.last_poll_at:%Y-%m-%d %H:%M} UTC" if status.last_poll_at else "not polled yet"
        since = f", changes read up to {status.changed_since:%Y-%m-%d %H:%M} UTC" if status.changed_since else ""
        error = f" Last error: {status.last_error}" if status.last_error else ""
        return f"Connected to QuickBooks company {status.realm_id} ({polled}{since}).{error}"
    if status.status == "broken":
        return (
            f"The QuickBooks connection is broken: {status.last_error}. Reconnect: `creditbot qb connect` (or "
            "`/credit qb connect`) and have a QuickBooks admin open the link."
        )
    return "Not connected to QuickBooks. Connect with `creditbot qb connect` (or `/credit qb connect`)."


def _memo_value(value: str) -> tuple[str, str, str]:
    parts = value.split("|")
    if len(parts) != 3 or not all(part.strip() for part in parts) or len(value) > _MAX_BUTTON_VALUE:
        raise UsageError("This button is no longer valid; ask again with `/credit apply INVOICE`.")
    return parts[0].strip(), parts[1].strip(), parts[2].strip()


_MAX_BUTTON_VALUE = 200


def _quickbooks_id(text: str) -> str:
    """A QuickBooks entity id from a button's value: digits (Intuit's ids are), else the button is not ours."""
    qb_id = text.strip()
    if not (qb_id.isascii() and qb_id.isdigit() and len(qb_id) <= 30):
        raise UsageError("This button is no longer valid; ask again, or run `/credit scan` for the current findings.")
    return qb_id


_MAX_MEMO_BUTTONS = 5


@dataclass(frozen=True)
class QuickBooksCommand(Command):
    name: ClassVar[str] = "qb"
    action: str = "status"


def _parse_qb(words: list[str], rest: str) -> Command:
    action = words[0].lower() if words else "status"
    if action not in ("connect", "status") or len(words) > 1:
        raise grammar.SUBCOMMANDS["qb"].refuse("Use `qb connect` for the link, or `qb status`.")
    return QuickBooksCommand(action=action)


grammar.add_subcommand(
    Syntax("qb", "qb connect|status", "qb status", "The QuickBooks Online connection; connect it (billing admins).",
           _parse_qb)
)  # fmt: skip
APPLY_OVERPAYMENT_ACTION = "qb_apply_overpayment"


def overpayment_invoices(ctx: Context, value: str) -> Reply:
    """ "Apply in QuickBooks…" on an overpayment: the client's open posted invoices, one button each."""
    from ledger.qbo import memos

    qb_payment_id = _quickbooks_id(value)
    if not qbo_configured(ctx.settings):
        qbo_config(ctx.settings)  # names what is missing
    _, invoices = memos.open_posted_invoices(ctx.db, qb_payment_id)
    if not invoices:
        text = (
            f"The client of QuickBooks payment {qb_payment_id} has no posted invoice with a balance due here, so "
            "there is nothing to apply the overpayment to in QuickBooks; enter it as client credit instead."
        )
        return Reply(text=text, blocks=blocks.refusal(esc(text)))
    buttons = [
        Button(
            f"Apply in QuickBooks to {number} ({format_money(amount, money)})",
            f"{APPLY_OVERPAYMENT_ACTION}:{index}",
            f"{qb_payment_id}|{number}|{decimal_str(amount, money)}",
        )
        for index, (number, amount, money) in enumerate(invoices[:_MAX_MEMO_BUTTONS])
    ]
    text = f"Apply the overpayment on QuickBooks payment {qb_payment_id} in QuickBooks to which invoice?"
    return Reply(text=text, blocks=blocks.message(esc(text), buttons=buttons))


def apply_overpayment_click(ctx: Context, value: str) -> Reply:
    from ledger.qbo import memos

    qb_payment_id, invoice, amount = _memo_value(value)
    qb_payment_id = _quickbooks_id(qb_payment_id)
    require_billing_admin(
        ctx, "apply QuickBooks overpayments", memos.APPLY_OVERPAYMENT,
        f"apply the overpayment on QuickBooks payment {qb_payment_id} to {invoice}", invoice=invoice,
    )  # fmt: skip
    live = live_quickbooks(ctx.settings, ctx.db)
    request = ctx.caller.request
    applied = ctx.db.transact(memos.record_overpayment_application, invoice, qb_payment_id, amount, request)
    if applied.status == memos.PENDING:
        applied = memos.send(ctx.db, live.api, applied.action_id)
    text = memos.sentence(applied)
    if applied.replayed or ctx.caller.message is None:
        return Reply(text=text, blocks=blocks.message(esc(text)), wrote=not applied.replayed)
    return Reply(text=text, blocks=blocks.message(f":white_check_mark: {esc(text)}"), wrote=True, replace_original=True)


ACTIONS[APPLY_MEMO_ACTION] = apply_memo_click
ACTIONS[APPLY_IN_QUICKBOOKS_ACTION] = overpayment_invoices
ACTIONS[APPLY_OVERPAYMENT_ACTION] = apply_overpayment_click
