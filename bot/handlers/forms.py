"""The credit forms (Slack modals): apply a credit, issue one, review an approval request.

A form is a front end like a typed command: it reads what to offer from the ledger, and its submission runs the
same ledger operation with the caller's idempotency key (derived from the view and what was entered, so a double
submit writes once). A refusal comes back as the field it is about (`FormOutcome.errors`, shown by Slack beside
that field), never as a separate message; success is the usual reply with Undo. Approval rules are the ledger's: a
submission above the threshold becomes an approval request like a typed one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from bot.handlers import approvals as approval_handlers
from bot.handlers.context import Context
from bot.handlers.permissions import require_billing_admin
from bot.handlers.registry import answer
from bot.handlers.reply import Reply
from bot.handlers.writes import applied_reply, issued_reply, reversed_reply
from bot.render import blocks, forms
from bot.render.forms import (
    AMOUNT,
    APPLICATION,
    CLIENT,
    COMMENT,
    INVOICE,
    NOTE,
    PROJECT,
    REASON,
    ApplyFormValues,
    FormContext,
)
from ledger import approvals, history, operations, reads, reports
from ledger.approvals import WriteRequest
from ledger.errors import (
    AlreadyReversed,
    AmbiguousClient,
    ApprovalAlreadyDecided,
    ApprovalRequired,
    CurrencyMismatch,
    ExceedsBalanceDue,
    IdempotencyConflict,
    InsufficientCredit,
    InvalidAmount,
    InvalidCurrency,
    InvoicePostedToQuickBooks,
    LedgerError,
    NotAnApplication,
    NothingToApply,
    PermissionRefused,
    ReversalExceedsApplication,
    SelfApproval,
    UnknownApplication,
    UnknownApprovalRequest,
    UnknownClient,
    UnknownInvoice,
    UnknownProject,
)
from ledger.lookup import ClientRef, client_by_id, find_invoice, matching_clients
from ledger.operations import ApplyResult
from ledger.unit import Unit

MAX_SUGGESTIONS = 100
INVOICE_NUMBER = re.compile(r"\b[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9-]*\d[A-Za-z0-9-]*\b")
# Which field a refusal is about; a refusal not listed here is shown beside the form's first field.
_FIELD_OF = {
    UnknownClient: CLIENT,
    AmbiguousClient: CLIENT,
    UnknownInvoice: INVOICE,
    InvoicePostedToQuickBooks: INVOICE,
    NothingToApply: INVOICE,
    InvalidAmount: AMOUNT,
    InvalidCurrency: AMOUNT,
    CurrencyMismatch: AMOUNT,
    InsufficientCredit: AMOUNT,
    ExceedsBalanceDue: AMOUNT,
    ReversalExceedsApplication: AMOUNT,
    UnknownProject: PROJECT,
    SelfApproval: COMMENT,
    ApprovalAlreadyDecided: COMMENT,
    UnknownApprovalRequest: COMMENT,
    AlreadyReversed: APPLICATION,
    NotAnApplication: APPLICATION,
    UnknownApplication: APPLICATION,
}
FIELD_ERROR_LIMIT = 150  # what Slack shows beside a field; longer messages are cut


@dataclass(frozen=True)
class FormOutcome:
    """A submission's answer: refusals by field (the form stays open), or the reply once it was carried out."""

    errors: dict[str, str] | None = None
    reply: Reply | None = None


# --- opening -------------------------------------------------------------------------------------------------


def apply_form(ctx: Context, channel: str | None, invoice: str | None = None, notice: str | None = None) -> dict:
    """The apply form, for billing admins (others get PermissionRefused, recorded), prefilled from `invoice`."""
    require_billing_admin(ctx, "apply credits", "apply_credit", "the Apply a client credit form", invoice=invoice)
    with ctx.db.read() as unit:
        client_id = None
        if invoice:
            try:
                found = find_invoice(unit, invoice)
                client_id, invoice = found.client_id, found.number
            except UnknownInvoice:
                notice, invoice = f"No invoice “{invoice}” in the ledger: pick the client and invoice here.", None
        values = _apply_values(unit, client_id, invoice, notice)
    return forms.apply_form(FormContext(channel=channel), values)


def apply_form_for_message(ctx: Context, channel: str | None, text: str) -> dict:
    """The apply form for a message shortcut: prefilled from the first invoice number the message names."""
    candidates = list(dict.fromkeys(INVOICE_NUMBER.findall(text or "")))[:20]
    with ctx.db.read() as unit:
        for candidate in candidates:
            try:
                return apply_form(ctx, channel, find_invoice(unit, candidate).number)
            except UnknownInvoice:
                continue
    return apply_form(ctx, channel, notice="That message names no invoice in the ledger: pick one here.")


def refreshed_apply_form(ctx: Context, context: FormContext, state: dict[str, Any]) -> dict:
    """The apply form redrawn after a client or an invoice was picked: that client's invoices, credit, projects."""
    client_id = _selected(state, CLIENT)
    invoice = _selected(state, INVOICE)
    with ctx.db.read() as unit:
        values = _apply_values(unit, client_id, invoice, None)
    if values.balance is not None and invoice not in {i.number for i in values.balance.invoices}:
        values = _apply_values_of(values, None)
    return forms.apply_form(context, values)


def issue_form(ctx: Context, channel: str | None) -> dict:
    require_billing_admin(ctx, "issue credits", "issue_credit", "the Issue a client credit form")
    return forms.issue_form(FormContext(channel=channel))


def reverse_form(ctx: Context, channel: str | None) -> dict:
    require_billing_admin(ctx, "reverse credit applications", "reverse_application", "the Reverse a credit form")
    return forms.reverse_form(FormContext(channel=channel), None, [], None)


def refreshed_reverse_form(ctx: Context, context: FormContext, state: dict[str, Any]) -> dict:
    """The reverse form redrawn after a client or an application was picked: the amount is that application's."""
    client_id = _selected(state, CLIENT)
    chosen = _selected(state, APPLICATION)
    with ctx.db.read() as unit:
        client = _client_by_id(unit, client_id) if client_id else None
        applications = reports.live_applications(unit, client.id) if client else []
    return forms.reverse_form(context, client, applications, int(chosen) if chosen and chosen.isdigit() else None)


def review(ctx: Context, value: str) -> Reply:
    """Review on an approval request (in the channel or on the home tab), for billing admins: the request with the
    client's balance now, as a modal whose Approve and Reject are the approval handlers' own, and as blocks with
    Approve and Reject where no modal opens (the console)."""
    request_id = approval_handlers._request_id(value)
    require_billing_admin(ctx, "approve credits", "approve_request", f"review request #{request_id}")
    with ctx.db.read() as unit:
        request = approvals.get_request(unit, request_id)
        balance = reads.balance_by_id(unit, request.client_id, invoice_limit=12) if request.client_id else None
    if request.status != approvals.PENDING:
        by = f" by {request.decided_by}" if request.decided_by else ""
        text = f"Request #{request.id} is already {request.status}{by}."
        return Reply(text=text, blocks=blocks.message(blocks.esc(text)))
    what = approval_handlers.describe(request.action, request.params)
    return Reply(
        text=f"Request #{request.id}: {request.requester} asks to {what}.",
        blocks=forms.review_message(request, what, balance),
        view=forms.review_form(request, what, balance, ctx.caller.channel_id),
    )


def review_form(ctx: Context, value: str) -> dict:
    """The modal Review opens (a notice when the request is already decided)."""
    reply = review(ctx, value)
    return reply.view or forms.notice("Approval request", reply.text)


def client_suggestions(ctx: Context, typed: str) -> dict[str, Any]:
    """The typeahead's options: clients matching what was typed, as `find_client` matches, from an index."""
    with ctx.db.read() as unit:
        return forms.client_options(matching_clients(unit, typed[:200], MAX_SUGGESTIONS))


# --- submitting ----------------------------------------------------------------------------------------------


def submit_apply(ctx: Context, context: FormContext, state: dict[str, Any]) -> FormOutcome:
    invoice = _selected(state, INVOICE)
    if not _selected(state, CLIENT):
        return FormOutcome(errors={CLIENT: "Pick a client."})
    if not invoice:
        return FormOutcome(errors={CLIENT: "This client has no open invoice to apply credit to."})
    amount = _typed(state, AMOUNT) or None
    project = _selected(state, PROJECT)
    note = _typed(state, NOTE)

    def apply() -> Reply:
        asked = " ".join(part for part in ("apply", invoice, amount) if part)
        require_billing_admin(ctx, "apply credits", "apply_credit", asked, invoice=invoice)
        return _apply(ctx, invoice, amount, project, note)

    return _carried_out(ctx, INVOICE, apply)


def submit_issue(ctx: Context, context: FormContext, state: dict[str, Any]) -> FormOutcome:
    client = _selected(state, CLIENT)
    amount, reason = _typed(state, AMOUNT), _typed(state, REASON)
    if not client:
        return FormOutcome(errors={CLIENT: "Pick a client."})
    if not reason:
        return FormOutcome(errors={REASON: "Say why the client gets this credit: the reason goes into the history."})

    def issue() -> Reply:
        require_billing_admin(ctx, "issue credits", "issue_credit", f"issue {client} {amount}", client=client)
        result = ctx.db.transact(operations.issue_credit, client, amount, reason, ctx.caller.request)
        return issued_reply(result)

    return _carried_out(ctx, CLIENT, issue)


def submit_review(ctx: Context, context: FormContext, state: dict[str, Any]) -> FormOutcome:
    if context.request_id is None:
        return FormOutcome(errors={COMMENT: "This form lost its request: open it again from the request."})
    return _carried_out(ctx, COMMENT, lambda: approval_handlers.approve(ctx, str(context.request_id)))


def submit_reverse(ctx: Context, context: FormContext, state: dict[str, Any]) -> FormOutcome:
    """Reverse the chosen application, all of it or the amount typed (the ledger checks it against what is still
    applied: ReversalExceedsApplication, shown beside the amount)."""
    chosen = _selected(state, APPLICATION)
    if not _selected(state, CLIENT):
        return FormOutcome(errors={CLIENT: "Pick a client."})
    if not chosen or not chosen.isdigit():
        return FormOutcome(errors={CLIENT: "This client has no credit application to reverse."})
    application_id, reason = int(chosen), _typed(state, NOTE)
    amount = _typed(state, AMOUNT)
    if context.application_id not in (None, application_id):  # picked and submitted before the form was redrawn
        why = f"This amount was for application #{context.application_id}: check it for #{application_id} and submit."
        return FormOutcome(errors={AMOUNT: why})
    if not amount:
        return FormOutcome(errors={AMOUNT: "Say how much to reverse: all of it still applied is the most."})

    def reverse() -> Reply:
        asked = f"reverse {application_id} {amount}"
        require_billing_admin(
            ctx, "reverse credit applications", "reverse_application", asked, application_id=application_id
        )
        result = ctx.db.transact(
            operations.reverse_application, application_id, ctx.caller.request, reason=reason or "Reverse form",
            amount=amount,
        )  # fmt: skip
        return reversed_reply(result)

    return _carried_out(ctx, APPLICATION, reverse)


def _carried_out(ctx: Context, first_field: str, produce: Any) -> FormOutcome:
    """Carry a submission out; a refusal becomes the error beside its field, an approval the usual request."""
    try:
        reply = produce()
    except ApprovalRequired as held_back:
        return FormOutcome(reply=answer(partial(approval_handlers.ask_for_approval, ctx, held_back), ctx, "a form"))
    except IdempotencyConflict:
        return FormOutcome(errors={first_field: "This form was already submitted with other values: open a new one."})
    except PermissionRefused as refused:
        return FormOutcome(errors={first_field: _short(refused.message)})
    except LedgerError as refused:
        return FormOutcome(errors={_FIELD_OF.get(type(refused), first_field): _short(refused.message)})
    return FormOutcome(reply=_without_replacing(reply))


def _apply(ctx: Context, invoice: str, amount: str | None, project: str | None, note: str) -> Reply:
    result = ctx.db.transact(_apply_with_note, invoice, amount, project, note, ctx.caller.request)
    return applied_reply(result)


def _apply_with_note(
    unit: Unit, invoice: str, amount: str | None, project: str | None, note: str, by: WriteRequest
) -> ApplyResult:
    """The application and the form's note in one unit: the note is a history line on the application."""
    result = operations.apply_credit(unit, invoice, amount, project, by)
    if note and not result.replayed:
        line = history.Line(by.actor, "note", client_id=result.client_id, subject=f"payment:{result.application_id}",
                            detail=note[:500])  # fmt: skip
        history.record(unit, line)
    return result


# --- reading a form ------------------------------------------------------------------------------------------


def _apply_values(unit: Unit, client_id: str | None, invoice: str | None, notice: str | None) -> ApplyFormValues:
    choices = reports.apply_choices(unit, client_id) if client_id else None
    if choices is None:
        return ApplyFormValues(notice=notice)
    values = ApplyFormValues(balance=choices.balance, projects=choices.projects, notice=notice)
    return _apply_values_of(values, invoice)


def _apply_values_of(values: ApplyFormValues, invoice: str | None) -> ApplyFormValues:
    """The values with `invoice` chosen (or the oldest open one) and the most that can be applied to it."""
    balance = values.balance
    assert balance is not None
    chosen = next((i for i in balance.invoices if i.number == invoice), None) or next(iter(balance.invoices), None)
    amount = None
    if chosen is not None and not chosen.posted_to_qb_at:
        most = min(balance.available_credit_minor, chosen.balance_due_minor)
        amount = forms.amount_text(most, balance.client.currency) if most > 0 else None
    number = chosen.number if chosen else None
    return ApplyFormValues(balance, values.projects, number, amount, values.notice)


def _client_by_id(unit: Unit, client_id: str) -> ClientRef | None:
    row = unit.row(client_by_id(), (client_id,))
    return ClientRef(*row) if row else None


def _element(state: dict[str, Any], block_id: str) -> dict[str, Any]:
    block = (state.get("values") or {}).get(block_id) or {}
    return next(iter(block.values()), {}) if isinstance(block, dict) else {}


def _selected(state: dict[str, Any], block_id: str) -> str | None:
    option = _element(state, block_id).get("selected_option") or {}
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) and value else None


def _typed(state: dict[str, Any], block_id: str) -> str:
    value = _element(state, block_id).get("value")
    return " ".join(value.split()) if isinstance(value, str) and block_id == AMOUNT else (value or "").strip()


def _short(message: str) -> str:
    return message if len(message) <= FIELD_ERROR_LIMIT else message[: FIELD_ERROR_LIMIT - 1] + "…"


def _without_replacing(reply: Reply) -> Reply:
    """A form has no message to replace: its reply is a message of its own."""
    return replace(reply, replace_original=False)
