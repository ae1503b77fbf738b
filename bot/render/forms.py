"""Block Kit modals for the credit forms (apply, issue, review an approval request), drawn with slack_sdk's view
models, whose `to_dict()` checks Slack's limits (a title of 24 characters, 100 blocks, an option's 75 characters...).

This file draws from plain values; it decides nothing. Block ids and action ids are the form's field names, so a
refusal can be shown beside the field it is about (`response_action: errors` names the block).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    ExternalDataSelectElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.render.blocks import SECTION_LIMIT, cut, esc, mention
from ledger.approvals import ApprovalRequest
from ledger.lookup import ClientRef
from ledger.money import decimal_str, format_money
from ledger.reads import ClientBalance, InvoiceSummary
from ledger.reports import LiveApplication

APPLY_FORM = "credit_apply_form"
ISSUE_FORM = "credit_issue_form"
REVIEW_FORM = "credit_review_form"
REVERSE_FORM = "credit_reverse_form"
APPLICATION = "application"
# Fields: each is a block id and its element's action id.
CLIENT, INVOICE, AMOUNT, PROJECT, NOTE, REASON, COMMENT = (
    "client",
    "invoice",
    "amount",
    "project",
    "note",
    "reason",
    "comment",
)
CLIENT_ACTION = "credit_form_client"  # the typeahead: block_suggestion and block_actions carry this action id
INVOICE_ACTION = "credit_form_invoice"
APPLICATION_ACTION = "credit_form_application"  # picking an application redraws the reverse form with its amount
REJECT_ACTION = "credit_form_reject"
# The approval request's own buttons (the registry's actions), and Review, which opens `review_form`.
APPROVE_REQUEST, REJECT_REQUEST, REVIEW_REQUEST = "approve_request", "reject_request", "review_request"
OPTION_TEXT_LIMIT = 75
OPTION_VALUE_LIMIT = 150
MAX_OPTIONS = 100
METADATA_LIMIT = 3000


@dataclass(frozen=True)
class FormContext:
    """What a form carries from where it was opened to its submission (`private_metadata`)."""

    channel: str | None = None
    client_id: str | None = None
    invoice: str | None = None
    request_id: int | None = None
    # The reverse form: the application its amount was pre-filled for (a submission naming another is refused).
    application_id: int | None = None

    def dumps(self) -> str:
        values = {k: v for k, v in self.__dict__.items() if v is not None}
        return cut(json.dumps(values, separators=(",", ":")), METADATA_LIMIT)

    @classmethod
    def loads(cls, text: str | None) -> FormContext:
        try:
            values = json.loads(text or "{}")
        except ValueError:
            return cls()
        if not isinstance(values, dict):
            return cls()
        request, application = values.get("request_id"), values.get("application_id")
        return cls(
            channel=_str(values.get("channel")),
            client_id=_str(values.get("client_id")),
            invoice=_str(values.get("invoice")),
            request_id=request if isinstance(request, int) else None,
            application_id=application if isinstance(application, int) else None,
        )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- options ------------------------------------------------------------------------------------------------


def option_dict(label: str, value: str) -> dict[str, Any]:
    """One option as Slack's options load answer wants it (a plain dict: the typeahead is answered on every key)."""
    return {"text": {"type": "plain_text", "text": cut(label, OPTION_TEXT_LIMIT)}, "value": value[:OPTION_VALUE_LIMIT]}


def client_options(clients: Sequence[ClientRef]) -> dict[str, Any]:
    return {"options": [option_dict(client.label, client.id) for client in clients[:MAX_OPTIONS]]}


def _client_option(client: ClientRef) -> Option:
    return Option(value=client.id[:OPTION_VALUE_LIMIT], text=PlainTextObject(text=cut(client.label, OPTION_TEXT_LIMIT)))


def invoice_label(invoice: InvoiceSummary, currency: str) -> str:
    due = format_money(invoice.balance_due_minor, currency)
    if invoice.posted_to_qb_at:
        return f"{invoice.number} · {due} due · posted to QuickBooks: apply there"
    return f"{invoice.number} · {due} due · issued {invoice.issued_on.isoformat()}"


# --- the apply form -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyFormValues:
    """What the apply form shows for the chosen client (None: no client chosen yet)."""

    balance: ClientBalance | None = None
    projects: Sequence[tuple[str, str]] = ()
    invoice: str | None = None
    amount: str | None = None
    notice: str | None = None


def apply_form(context: FormContext, values: ApplyFormValues) -> dict[str, Any]:
    blocks: list[Block] = []
    if values.notice:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=cut(values.notice, SECTION_LIMIT))]))
    balance = values.balance
    client = balance.client if balance else None
    blocks.append(_client_input(client, dispatch=True))
    if balance is None:
        blocks.append(_hint("Pick a client: its open invoices, credit and projects appear here."))
    else:
        currency = balance.client.currency
        blocks.append(
            _hint(
                f"*{esc(balance.client.name)}* has *{format_money(balance.available_credit_minor, currency)}* of "
                "credit available."
            )
        )
        blocks.append(_invoice_input(balance, values.invoice))
        blocks.append(
            InputBlock(
                block_id=AMOUNT,
                label=f"Amount ({currency})",
                element=PlainTextInputElement(action_id=AMOUNT, initial_value=values.amount, placeholder="e.g. 250.00"),
                hint="Pre-filled with the most that can be applied: the smaller of the credit available and the "
                "invoice's balance due.",
            )
        )
        if values.projects:
            options = [_option(f"{pid} · {name}", pid) for pid, name in values.projects[:MAX_OPTIONS]]
            blocks.append(
                InputBlock(
                    block_id=PROJECT,
                    label="Project tag",
                    optional=True,
                    element=StaticSelectElement(action_id=PROJECT, placeholder="No project tag", options=options),
                    hint="For reporting only: a credit belongs to the client and any invoice may use it.",
                )
            )
        blocks.append(_note_input(NOTE, "Note", optional=True))
    return _modal(APPLY_FORM, "Apply a client credit", "Apply", context, blocks)


def _invoice_input(balance: ClientBalance, chosen: str | None) -> Block:
    currency = balance.client.currency
    options = [_option(invoice_label(invoice, currency), invoice.number) for invoice in balance.invoices[:MAX_OPTIONS]]
    if not options:
        return _hint(f"{esc(balance.client.name)} has no open invoice with a balance due: nothing to apply credit to.")
    initial = next((option for option in options if option.value == chosen), None)
    return InputBlock(
        block_id=INVOICE,
        label="Invoice",
        dispatch_action=True,
        element=StaticSelectElement(
            action_id=INVOICE_ACTION, placeholder="Pick an open invoice", options=options, initial_option=initial
        ),
        hint="Open invoices with a balance due, oldest first. Invoices posted to QuickBooks get their credits there.",
    )


# --- the issue form -----------------------------------------------------------------------------------------


def issue_form(context: FormContext, client: ClientRef | None = None, notice: str | None = None) -> dict[str, Any]:
    blocks: list[Block] = []
    if notice:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=cut(notice, SECTION_LIMIT))]))
    blocks.append(_client_input(client, dispatch=False))
    blocks.append(
        InputBlock(
            block_id=AMOUNT,
            label="Amount",
            element=PlainTextInputElement(action_id=AMOUNT, placeholder="e.g. 500.00"),
            hint="In the client's currency.",
        )
    )
    blocks.append(
        _note_input(REASON, "Reason", optional=False, hint="Why the client gets this credit: it goes into the history.")
    )
    return _modal(ISSUE_FORM, "Issue a client credit", "Issue", context, blocks)


# --- the reverse form ---------------------------------------------------------------------------------------


def reverse_form(
    context: FormContext, client: ClientRef | None, applications: Sequence[LiveApplication], chosen: int | None
) -> dict[str, Any]:
    """The reverse form: the client's live applications, `chosen` (or the latest) picked, and the amount to reverse
    pre-filled with all of it that is still applied (less reverses part of it)."""
    blocks: list[Block] = [_client_input(client, dispatch=True)]
    if client is None:
        blocks.append(_hint("Pick a client: its latest credit applications appear here."))
    elif not applications:
        blocks.append(_hint(f"{esc(client.name)} has no credit application left to reverse."))
    else:
        shown = applications[:MAX_OPTIONS]
        picked = next((a for a in shown if a.application_id == chosen), shown[0])
        options = [
            _option(
                f"#{a.application_id} · {a.invoice_number} · {format_money(a.amount_minor, a.currency)} · "
                f"{a.received_on.isoformat()}" + (f" · {a.project_id}" if a.project_id else ""),
                str(a.application_id),
            )
            for a in shown
        ]
        initial = next(o for o in options if o.value == str(picked.application_id))
        blocks.append(
            InputBlock(
                block_id=APPLICATION,
                label="Credit application",
                dispatch_action=True,
                element=StaticSelectElement(
                    action_id=APPLICATION_ACTION,
                    placeholder="Pick an application",
                    options=options,
                    initial_option=initial,
                ),
                hint="The latest applications not reversed. The credit goes back to the client's wallet.",
            )
        )
        blocks.append(
            InputBlock(
                block_id=AMOUNT,
                label=f"Amount to reverse ({picked.currency})",
                element=PlainTextInputElement(
                    action_id=AMOUNT, initial_value=amount_text(picked.amount_minor, picked.currency)
                ),
                hint="Pre-filled with all of it still applied. Less reverses part: the rest stays on the invoice.",
            )
        )
        blocks.append(_note_input(NOTE, "Reason", optional=True, hint="Kept in the history."))
        context = replace(context, application_id=picked.application_id)
    return _modal(REVERSE_FORM, "Reverse a credit", "Reverse", context, blocks)


# --- reviewing an approval request --------------------------------------------------------------------------


def review_form(
    request: ApprovalRequest, what: str, balance: ClientBalance | None, channel: str | None = None
) -> dict[str, Any]:
    """The modal Review opens: the request, the client's balance now, a comment; Approve submits, Reject is a
    button (both are the approval handlers' Approve and Reject). The answer goes to `channel` (None: a DM)."""
    blocks = _review_blocks(request, what, balance)
    blocks.append(_note_input(COMMENT, "Comment", optional=True, hint="Approve carries the write out at once."))
    blocks.append(
        ActionsBlock(
            block_id="decision",
            elements=[ButtonElement(text="Reject", action_id=REJECT_ACTION, value=str(request.id), style="danger")],
        )
    )
    return _modal(REVIEW_FORM, "Approval request", "Approve", FormContext(channel, request_id=request.id), blocks)


def review_message(request: ApprovalRequest, what: str, balance: ClientBalance | None) -> list[dict[str, Any]]:
    """The same review as message blocks with Approve and Reject, where no modal opens (the console)."""
    blocks = _review_blocks(request, what, balance)
    blocks.append(
        ActionsBlock(
            elements=[
                ButtonElement(text="Approve", action_id=APPROVE_REQUEST, value=str(request.id), style="primary"),
                ButtonElement(text="Reject", action_id=REJECT_REQUEST, value=str(request.id), style="danger"),
            ]
        )
    )
    return [block.to_dict() for block in blocks]


def _review_blocks(request: ApprovalRequest, what: str, balance: ClientBalance | None) -> list[Block]:
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=cut(
                    f":lock: {mention(request.requester)} asks to *{esc(what)}* (request #{request.id}).", SECTION_LIMIT
                )
            )
        )
    ]
    reason = str(request.params.get("reason") or "")
    if reason:
        blocks.append(_hint(f"Reason: {esc(reason)}"))
    blocks.append(DividerBlock())
    if balance is not None:
        currency = balance.client.currency
        due = sum(invoice.balance_due_minor for invoice in balance.invoices)
        shown = "" if balance.open_invoice_count == len(balance.invoices) else f" (the oldest {len(balance.invoices)})"
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=cut(f"*{esc(balance.client.name)}* (`{esc(balance.client.id)}`) now", 300)
                ),
                fields=[
                    MarkdownTextObject(
                        text=f"*Credit available*\n{format_money(balance.available_credit_minor, currency)}"
                    ),
                    MarkdownTextObject(
                        text=f"*Credits issued*\n{format_money(balance.credits_issued_minor, currency)}"
                    ),
                    MarkdownTextObject(text=f"*Open invoices*\n{balance.open_invoice_count}"),
                    MarkdownTextObject(text=f"*Balance due{shown}*\n{format_money(due, currency)}"),
                ],
            )
        )
    return blocks


def notice(title: str, text: str) -> dict[str, Any]:
    """A modal that only tells something (no submit button): a refusal to open a form, a form's result."""
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=cut(text, SECTION_LIMIT)))]
    return View(type="modal", title=cut(title, 24), close="Close", blocks=blocks).to_dict()


def amount_text(minor: int, currency: str) -> str:
    return decimal_str(minor, currency)


# --- pieces -------------------------------------------------------------------------------------------------


def _modal(callback_id: str, title: str, submit: str, context: FormContext, blocks: list[Block]) -> dict[str, Any]:
    view = View(
        type="modal",
        callback_id=callback_id,
        title=cut(title, 24),
        submit=submit,
        close="Cancel",
        blocks=blocks[:100],
        private_metadata=context.dumps(),
    )
    return view.to_dict()


def _client_input(client: ClientRef | None, dispatch: bool) -> Block:
    return InputBlock(
        block_id=CLIENT,
        label="Client",
        dispatch_action=dispatch or None,
        element=ExternalDataSelectElement(
            action_id=CLIENT_ACTION,
            placeholder="Type a client's name or id",
            min_query_length=0,
            initial_option=_client_option(client) if client else None,
        ),
    )


def _note_input(block_id: str, label: str, optional: bool, hint: str | None = None) -> Block:
    return InputBlock(
        block_id=block_id,
        label=label,
        optional=optional,
        element=PlainTextInputElement(action_id=block_id, multiline=True, max_length=500),
        hint=hint,
    )


def _hint(text: str) -> Block:
    return ContextBlock(elements=[MarkdownTextObject(text=cut(text, SECTION_LIMIT))])


def _option(label: str, value: str) -> Option:
    return Option(value=value[:OPTION_VALUE_LIMIT], text=PlainTextObject(text=cut(label, OPTION_TEXT_LIMIT)))
