"""Credits above CREDITBOT_APPROVAL_THRESHOLD need a second billing admin.

`/credit issue` above the threshold opens a request (`ledger.requests`) and posts it to the channel with
Approve and Reject buttons. The requester cannot approve their own request (they may reject it: a withdrawal).
Approving carries the credit out with the request's own idempotency key (`approval:<id>`), so a double click,
two admins approving at once, or a retry after a crash issues the credit exactly once.

The threshold is a plain number compared with the amount in the client's own currency.
"""

from __future__ import annotations

from decimal import Decimal

from bot.commands.context import Context
from bot.commands.reply import Announcement, Reply
from bot.grammar import Issue
from bot.permissions import require_billing_admin
from bot.render import blocks, sentences
from bot.render.blocks import Button, mention
from bot.settings import Settings
from ledger import operations, requests
from ledger.errors import LedgerError, SelfApproval, UnknownApprovalRequest
from ledger.lookup import find_client
from ledger.money import decimal_str, format_money, parse_amount
from ledger.requests import ApprovalRequest

ISSUE_CREDIT = "issue_credit"


def needs_approval(settings: Settings, amount: str) -> bool:
    threshold = settings.approval_threshold
    return threshold is not None and Decimal(amount) > threshold


def request_issue(ctx: Context, command: Issue) -> Reply:
    """Open an approval request for a large credit and announce it in the channel; nothing is issued yet."""
    with ctx.db.read() as session:
        client = find_client(session, command.client)
        # Refuse a bad amount now, while the requester is here to fix it, not when someone approves.
        amount_minor = parse_amount(command.amount, client.currency)
    params = {
        "client": client.id,
        "amount": decimal_str(amount_minor, client.currency),
        "currency": client.currency,
        "reason": command.reason,
    }
    caller = ctx.caller
    opened = requests.open_request(ctx.db, ISSUE_CREDIT, params, caller.actor, caller.request_key, client.id)
    request = opened.request
    what = f"issue {format_money(amount_minor, client.currency)} of credit to {client.name} ({client.id})"
    threshold = str(ctx.settings.approval_threshold)
    text = (
        f"Asked for approval: {what} is above the approval threshold ({threshold}), so a second billing admin must "
        f"approve it. I posted request #{request.id} for the billing admins; nothing is issued until it is approved."
    )
    if opened.replayed:
        return Reply(text=text + " (Already asked with this request.)", blocks=blocks.message(blocks.esc(text)))
    announcement = Announcement(
        text=f"Approval needed: {mention(caller.actor)} asks to {blocks.esc(what)}",
        blocks=blocks.approval_request(
            request.id,
            caller.actor,
            what,
            command.reason,
            threshold,
            [
                Button("Approve", "approve_request", str(request.id), style="primary"),
                Button("Reject", "reject_request", str(request.id), style="danger"),
            ],
        ),
        if_undelivered=lambda error: _undelivered(ctx, request.id, error),
    )
    waiting = blocks.message(f":hourglass_flowing_sand: {blocks.esc(text)}")
    return Reply(text=text, blocks=waiting, wrote=True, announcements=(announcement,))


def approve(ctx: Context, value: str) -> Reply:
    request_id = _request_id(value)
    require_billing_admin(ctx, "approve credits", "approve_request", f"approve request #{request_id}")
    try:
        decided = requests.decide(ctx.db, request_id, ctx.caller.actor, approve=True)
    except SelfApproval as refused:
        client_id = requests.get_request(ctx.db, request_id).client_id
        operations.record_refusal(ctx.db, ctx.caller.actor, "approve_request", refused.message, client_id=client_id)
        raise
    request = decided.request
    params = request.params
    try:
        result = operations.issue_credit(
            ctx.db,
            params["client"],
            params["amount"],
            f"{params['reason']} (request #{request.id}, approved by {request.decided_by})",
            request.requester,
            request.execution_key,
        )
    except LedgerError as refused:
        requests.record_result(ctx.db, request.id, {"error": refused.as_dict()})
        text = (
            f":warning: Approved by {mention(request.decided_by or '')}, but the ledger refused it: {refused.message}"
        )
        return Reply(text=text, blocks=blocks.approval_decided(blocks.esc(text)), replace_original=True)
    requests.record_result(ctx.db, request.id, {"credit_id": result.credit_id})
    sentence = sentences.issued(result)
    text = (
        f":white_check_mark: *Approved* by {mention(request.decided_by or '')} "
        f"(asked by {mention(request.requester)}, request #{request.id}): {blocks.esc(sentence)}"
    )
    undo = Button("Undo", "undo_issue", str(result.credit_id))
    return Reply(
        text=f"Approved: {sentence}",
        blocks=blocks.approval_decided(text, undo),
        wrote=not result.replayed,
        replace_original=True,
    )


def reject(ctx: Context, value: str) -> Reply:
    request_id = _request_id(value)
    require_billing_admin(ctx, "reject approval requests", "reject_request", f"reject request #{request_id}")
    request = requests.decide(ctx.db, request_id, ctx.caller.actor, approve=False).request
    verb = "Withdrawn" if request.decided_by == request.requester else "Rejected"
    text = (
        f":x: *{verb}* by {mention(ctx.caller.actor)}: nothing was issued. ({mention(request.requester)} asked to "
        f"{blocks.esc(_describe(request))}, request #{request.id}.)"
    )
    return Reply(text=f"{verb}: nothing was issued.", blocks=blocks.approval_decided(text), replace_original=True)


def _undelivered(ctx: Context, request_id: int, error: str) -> Reply:
    why = f"the approval request could not be posted in Slack ({error})"
    requests.cancel(ctx.db, request_id, ctx.caller.actor, why)
    text = (
        f"I could not post approval request #{request_id} in this channel ({error}), so it is cancelled and nothing "
        "was issued. Invite @creditbot to the channel (or set CREDITBOT_ALERT_CHANNEL) and ask again."
    )
    return Reply(text=text, blocks=blocks.refusal(text))


def _describe(request: ApprovalRequest) -> str:
    params = request.params
    amount = format_money(parse_amount(params["amount"], params["currency"]), params["currency"])
    return f"issue {amount} of credit to {params['client']}"


def _request_id(value: str) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise UnknownApprovalRequest(value)
    return int(text)
