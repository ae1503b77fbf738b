"""Block Kit for scan findings: the channel alert, the `/credit scan` reply, and a redrawn alert after a button.

One finding is three blocks: what (kind, invoice, client, amount, what happened, what to do), why (the FAQ entry
that explains the kind), and its buttons (or who acknowledged it). Slack takes 50 blocks a message, so a message
carries at most `PER_MESSAGE` findings. This file draws; it decides nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.render.blocks import HEADER_LIMIT, SECTION_LIMIT, Blocks, cut, esc, mention
from ledger.money import format_money
from ledger.scans import FindingKind, StoredFinding

PER_MESSAGE = 15
ACKNOWLEDGE_ACTION = "scan_acknowledge"
REVERSE_DUPLICATE_ACTION = "scan_reverse_duplicate"

WHAT_TO_DO = {
    FindingKind.DUPLICATE_CREDIT: (
        "Check the invoice (`/credit invoice {invoice}`). If the credit really was applied twice, press *Reverse "
        "duplicate* (billing admins): the first application stays, the later ones are reversed. If the invoice is "
        "posted to QuickBooks, fix it in QuickBooks instead."
    ),
    FindingKind.OVERAPPLIED_CREDIT: (
        "Find the applications that should not have happened (`/credit history {client}`) and reverse them, or "
        "issue the credit the client was promised but never given."
    ),
    FindingKind.NEGATIVE_BALANCE: (
        "Look for a payment entered twice or a credit applied on top of full payment (`/credit invoice {invoice}`); "
        "reverse the extra credit, or refund or move the overpayment as your process says."
    ),
    FindingKind.POST_SYNC_EDIT: (
        "Make the same change in QuickBooks (or undo it in the billing system) so both agree; QuickBooks does not "
        "pick up edits made after posting."
    ),
    FindingKind.CREDIT_AFTER_POSTING: (
        "Credits for a posted invoice belong in QuickBooks: apply a credit memo there (it comes back here as a "
        "payment) and remove this credit application from the billing system."
    ),
    FindingKind.QB_OVERPAYMENT_UNREFLECTED: (
        "If the client should be able to use this money as credit here, enter the overpayment once as client "
        "credit, by its QuickBooks payment id."
    ),
}


def alert_text(findings: Sequence[StoredFinding]) -> str:
    """The notification text (and the fallback where blocks are not shown)."""
    kinds = sorted({finding.kind.title.lower() for finding in findings})
    return f"creditbot scan: {_count(len(findings), 'new finding')} ({', '.join(kinds)})"


def alert_blocks(findings: Sequence[StoredFinding]) -> Blocks:
    """One alert message: a header and a block group per finding (at most PER_MESSAGE findings)."""
    blocks: list[Block] = [
        HeaderBlock(text=cut(f"creditbot scan: {_count(len(findings), 'new finding')}", HEADER_LIMIT))
    ]
    for finding in findings[:PER_MESSAGE]:
        blocks.extend(finding_blocks(finding))
    return [block.to_dict() for block in blocks]


def scan_reply_blocks(findings: Sequence[StoredFinding], opened: int) -> Blocks:
    """The `/credit scan` reply: every open finding (up to PER_MESSAGE), newest state, with buttons."""
    if not findings:
        return [SectionBlock(text=MarkdownTextObject(text=":white_check_mark: Scan done: no open findings.")).to_dict()]
    title = f"Scan done: {_count(len(findings), 'open finding')}" + (f", {opened} new" if opened else "")
    blocks: list[Block] = [HeaderBlock(text=cut(title, HEADER_LIMIT))]
    for finding in findings[:PER_MESSAGE]:
        blocks.extend(finding_blocks(finding))
    hidden = len(findings) - PER_MESSAGE
    if hidden > 0:
        blocks.append(_context(f"…and {hidden} more: `creditbot scan` lists them all."))
    return [block.to_dict() for block in blocks]


def finding_blocks(finding: StoredFinding) -> list[Block]:
    return [_what(finding), _why(finding), _state(finding)]


def _what(finding: StoredFinding) -> SectionBlock:
    where = [f"*{finding.kind.title}*"]
    if finding.invoice_number:
        where.append(f"invoice *{esc(finding.invoice_number)}*")
    if finding.client_id:
        name = esc(finding.client_name or finding.client_id)
        where.append(f"{name} (`{esc(finding.client_id)}`)")
    if finding.amount_minor is not None and finding.currency:
        where.append(f"*{format_money(finding.amount_minor, finding.currency)}*")
    advice = WHAT_TO_DO[finding.kind].format(
        invoice=esc(finding.invoice_number or ""), client=esc(finding.client_id or "")
    )
    text = f":warning: {' · '.join(where)}\n{esc(finding.detail)}\n*What to do:* {advice}"
    return SectionBlock(text=MarkdownTextObject(text=cut(text, SECTION_LIMIT)))


def _why(finding: StoredFinding) -> ContextBlock:
    entry = finding.kind.faq_entry
    return _context(
        f":book: Why this matters: FAQ `{entry}`, ask `/credit ask {entry}` · finding #{finding.id} · "
        f"first seen {_when(finding.first_seen)}"
    )


def _state(finding: StoredFinding) -> Block:
    if finding.closed_at is not None:
        return _context(f":white_check_mark: Fixed: no longer found in the ledger since {_when(finding.closed_at)}.")
    if finding.acknowledged_by is not None and finding.acknowledged_at is not None:
        return _context(
            f":ballot_box_with_check: Acknowledged by {mention(finding.acknowledged_by)} on "
            f"{_when(finding.acknowledged_at)}."
        )
    buttons = [
        ButtonElement(text="Acknowledge", action_id=ACKNOWLEDGE_ACTION, value=str(finding.id), style="primary"),
    ]
    if finding.qb_payment_id is not None:
        buttons.append(overpayment_button(finding.qb_payment_id))
        buttons.append(apply_in_quickbooks_button(finding.qb_payment_id))
    if finding.kind is FindingKind.DUPLICATE_CREDIT:
        buttons.append(
            ButtonElement(
                text="Reverse duplicate",
                action_id=REVERSE_DUPLICATE_ACTION,
                value=str(finding.id),
                style="danger",
                confirm=ConfirmObject(
                    title="Reverse the duplicate?",
                    text=cut(
                        f"The first credit application on invoice {finding.invoice_number} stays; the later "
                        f"{_count(len(finding.payment_ids) - 1, 'application')} of the same amount "
                        "will be reversed and the credit returns to the client.",
                        300,
                    ),
                    confirm="Reverse",
                    deny="Cancel",
                ),
            )
        )
    return ActionsBlock(block_id=f"scan_finding:{finding.id}", elements=buttons)


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=cut(text, SECTION_LIMIT))])


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


ENTER_OVERPAYMENT_ACTION = "qb_overpayment_enter_credit"


def overpayment_button(qb_payment_id: str) -> ButtonElement:
    """The button for an alert about QuickBooks payment `qb_payment_id`'s overpayment (put it in an ActionsBlock)."""
    return ButtonElement(
        text="Enter as client credit",
        action_id=ENTER_OVERPAYMENT_ACTION,
        value=qb_payment_id,
        style="primary",
        confirm=ConfirmObject(
            title="Enter as client credit?",
            text=(
                f"The overpayment on QuickBooks payment {qb_payment_id} becomes credit in the client's wallet here. "
                "It can be entered only once."
            ),
            confirm="Enter credit",
            deny="Cancel",
        ),
    )


APPLY_IN_QUICKBOOKS_ACTION = "qb_overpayment_apply_in_qb"


def apply_in_quickbooks_button(qb_payment_id: str) -> ButtonElement:
    """Beside "Enter as client credit": apply the overpayment in QuickBooks to one of the client's posted invoices
    (the click lists them: "Apply in QuickBooks to INV-...")."""
    return ButtonElement(text="Apply in QuickBooks…", action_id=APPLY_IN_QUICKBOOKS_ACTION, value=qb_payment_id)
