"""Approvals in Slack: a write the ledger refused with ApprovalRequired becomes a request for a second billing admin.

The rule is the ledger's (ledger/approvals.py): issue, apply and their undo above CREDITBOT_APPROVAL_THRESHOLD (per
currency, per client over a rolling 24 hours). Whichever command or button met it, the refusal comes here
(`ask_for_approval`, called by the registry for every answer): the request is stored and posted to the channel with
Approve, Reject and Review (the request with the client's balance in a modal: `forms.review`). The requester cannot
approve their own request (they may reject it: a withdrawal). Approving carries the write out with the request's
own idempotency key (`approval:<id>`), so a double click, two admins approving at once, or a retry after a crash
does it exactly once.
"""

from __future__ import annotations

from typing import Any

from bot.handlers.context import Context
from bot.handlers.permissions import require_billing_admin
from bot.handlers.reply import Announcement, Reply
from bot.render import blocks, credit_sentences, sentences
from bot.render.blocks import Button, mention
from ledger import approvals, operations
from ledger.approvals import ApprovalRequest
from ledger.credit_ops.apply_all import ApplyAllResult
from ledger.credit_ops.reversals import MoveResult
from ledger.credit_ops.wallets import OutflowResult, ReinstateResult, TransferResult
from ledger.errors import ApprovalRequired, LedgerError, SelfApproval, UnknownApprovalRequest
from ledger.idempotency import result_to_store
from ledger.operations import ApplyResult, IssueResult, ReverseResult, RevokeResult

# What each approvable write is, in words, from its stored parameters.
_WHAT = {
    approvals.ISSUE: lambda p: f"issue {p['amount']} of credit to {p['client']} ({p['reason']})",
    approvals.APPLY: lambda p: f"apply {p['amount']} of credit to invoice {p['invoice']}",
    approvals.REVERSE: lambda p: (
        (f"reverse {p['amount']} of " if p.get("amount") else "reverse ") + f"credit application #{p['application_id']}"
    ),
    approvals.REVOKE: lambda p: f"take back credit #{p['credit_id']}",
    approvals.MOVE: lambda p: f"move credit application #{p['application_id']} to invoice {p['invoice']}",
    approvals.TRANSFER: lambda p: f"transfer {p['amount']} of credit from {p['from_client']} to {p['to_client']}",
    approvals.REFUND: lambda p: f"refund {p['amount']} of {p['client']}'s credit ({p['reason']})",
    approvals.WRITE_OFF: lambda p: f"write off {p['amount']} of {p['client']}'s credit ({p['reason']})",
    approvals.REINSTATE: lambda p: f"undo write-off #{p['write_off_id']}",
    approvals.APPLY_ALL: lambda p: f"apply {p['client']}'s credit over its open invoices, {p['order']}",
}


def describe(action: str, params: dict[str, Any]) -> str:
    return _WHAT[action](params) if action in _WHAT else f"{action} {params}"


def ask_for_approval(ctx: Context, refused: ApprovalRequired) -> Reply:
    """Open an approval request for a write the ledger held back and announce it; nothing is written yet."""
    caller = ctx.caller
    opened = ctx.db.transact(
        approvals.open_request, refused.action, refused.params, caller.actor, caller.request_key, refused.client_id
    )
    request = opened.request
    what = refused.what
    text = (
        f"Asked for approval: {refused.message} I posted request #{request.id} for the billing admins; nothing "
        "changes until it is approved."
    )
    if opened.replayed:
        return Reply(text=text + " (Already asked with this request.)", blocks=blocks.message(blocks.esc(text)))
    announcement = Announcement(
        text=f"Approval needed: {mention(caller.actor)} asks to {blocks.esc(what)}",
        token=f"approval-request:{request.id}",
        blocks=blocks.approval_request(
            request.id,
            caller.actor,
            what,
            str(request.params.get("reason") or ""),
            refused.threshold,
            [
                Button("Approve", "approve_request", str(request.id), style="primary"),
                Button("Reject", "reject_request", str(request.id), style="danger"),
                Button("Review", "review_request", str(request.id)),  # the request and the balance, in a modal
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
        decided = ctx.db.transact(approvals.decide, request_id, ctx.caller.actor, True)
    except SelfApproval as refused:
        ctx.db.transact(_record_self_approval, request_id, ctx.caller.actor, refused.message)
        raise
    request = decided.request
    try:
        result = ctx.db.transact(_carry_out, request)
    except LedgerError as refused:
        ctx.db.transact(approvals.record_result, request.id, {"error": refused.as_dict()})
        text = (
            f":warning: Approved by {mention(request.decided_by or '')}, but the ledger refused it: {refused.message}"
        )
        return Reply(text=text, blocks=blocks.approval_decided(blocks.esc(text)), replace_original=True)
    sentence, undo = _done(result)
    text = (
        f":white_check_mark: *Approved* by {mention(request.decided_by or '')} "
        f"(asked by {mention(request.requester)}, request #{request.id}): {blocks.esc(sentence)}"
    )
    return Reply(
        text=f"Approved: {sentence}",
        blocks=blocks.approval_decided(text, undo),
        wrote=not result.replayed,
        replace_original=True,
    )


def reject(ctx: Context, value: str) -> Reply:
    request_id = _request_id(value)
    require_billing_admin(ctx, "reject approval requests", "reject_request", f"reject request #{request_id}")
    request = ctx.db.transact(approvals.decide, request_id, ctx.caller.actor, False).request
    verb = "Withdrawn" if request.decided_by == request.requester else "Rejected"
    text = (
        f":x: *{verb}* by {mention(ctx.caller.actor)}: nothing was changed. ({mention(request.requester)} asked to "
        f"{blocks.esc(describe(request.action, request.params))}, request #{request.id}.)"
    )
    return Reply(text=f"{verb}: nothing was changed.", blocks=blocks.approval_decided(text), replace_original=True)


def _carry_out(unit: Any, request: ApprovalRequest) -> Any:
    """The approved write and its result on the request, in one unit: both or neither."""
    result = operations.carry_out_approved(unit, request)
    approvals.record_result(unit, request.id, result_to_store(result))
    return result


def _record_self_approval(unit: Any, request_id: int, actor: str, why: str) -> None:
    client_id = approvals.get_request(unit, request_id).client_id
    operations.record_refusal(unit, actor, "approve_request", why, client_id=client_id)


def _done(result: Any) -> tuple[str, Button | None]:
    if isinstance(result, IssueResult):
        return sentences.issued(result), Button("Undo", "undo_issue", str(result.credit_id))
    if isinstance(result, ApplyResult):
        return sentences.applied(result), Button("Undo", "undo_apply", str(result.application_id))
    if isinstance(result, ReverseResult):
        return sentences.reversed_(result), Button("Undo", "undo_reverse", str(result.application_id))
    if isinstance(result, RevokeResult):
        return sentences.revoked(result), None
    return _credit_operation_done(result)


def _credit_operation_done(result: Any) -> tuple[str, Button | None]:
    """Issue 17's writes: the same reply (and Undo) as when no approval was needed."""
    from bot.handlers import apply_all, move, refund, transfer, write_off

    for kind, reply in (
        (MoveResult, move.moved_reply),
        (TransferResult, transfer.transferred_reply),
        (ApplyAllResult, apply_all.applied_all_reply),
    ):
        if isinstance(result, kind):
            answer = reply(result)
            return answer.text, _first_button(answer)
    if isinstance(result, OutflowResult):
        answer = (refund.refunded_reply if result.kind == "refund" else write_off.written_off_reply)(result)
        return answer.text, _first_button(answer)
    if isinstance(result, ReinstateResult):
        return credit_sentences.reinstated(result), None
    return str(result), None


def _first_button(answer: Reply) -> Button | None:
    for block in answer.blocks:
        if block.get("type") == "actions" and block["elements"]:
            element = block["elements"][0]
            return Button(element["text"]["text"], element["action_id"], element["value"])
    return None


def _undelivered(ctx: Context, request_id: int, error: str) -> Reply:
    why = f"the approval request could not be posted in Slack ({error})"
    ctx.db.transact(approvals.cancel, request_id, ctx.caller.actor, why)
    text = (
        f"I could not post approval request #{request_id} in this channel ({error}), so it is cancelled and nothing "
        "was changed. Invite @creditbot to the channel (or set CREDITBOT_ALERT_CHANNEL) and ask again."
    )
    return Reply(text=text, blocks=blocks.refusal(text))


def _request_id(value: str) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise UnknownApprovalRequest(value)
    return int(text)
