"""The credit forms in Slack: opened by `/credit apply`, `/credit issue` or `/credit reverse` with nothing after
them, by the shortcuts "Apply a client credit" (global) and "Apply credit to this invoice" (on a message), by the
home tab's buttons; the client typeahead (options load URL); the form
redrawn when a client or an invoice is picked; and the submissions.

A form must be opened within 3 seconds of the trigger (Slack's trigger_id expires), so it is opened inside the
request. A submission is answered inside Slack's acknowledgement: refusals as `response_action: errors` beside their
fields, success by closing the form and posting the usual reply (with Undo) to the person, in the channel the form
came from (only they see it) or else in their messages with the bot. Each submission's idempotency key is its view
and what was entered, so a double submit writes once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.handlers import approvals as approval_handlers
from bot.handlers import forms, grammar
from bot.handlers.context import Caller, Context
from bot.handlers.registry import answer
from bot.handlers.reply import Reply
from bot.render import blocks
from bot.render import forms as form_views
from bot.render.home import OPEN_APPLY_FORM, OPEN_ISSUE_FORM
from bot.slack import posting
from bot.slack.listeners.payloads import (
    _key,
    after_ack,
    deliver_announcements,
    ephemeral,
    open_view,
    run_after_ack,
    services_of,
    typed_text,
)
from bot.slack.posting import SLACK_FAILURES
from ledger.errors import LedgerError

log = logging.getLogger("creditbot.bot")

APPLY_SHORTCUT = "apply_credit"
APPLY_MESSAGE_SHORTCUT = "apply_credit_to_invoice"
ISSUE_SHORTCUT = "issue_credit"
FORM_OPENED = "The form is open: fill it in and press its button (typing the whole command works too)."
FORM_SUBCOMMANDS = {"apply": forms.apply_form, "issue": forms.issue_form, "reverse": forms.reverse_form}
REDRAWN = {form_views.APPLY_FORM: forms.refreshed_apply_form, form_views.REVERSE_FORM: forms.refreshed_reverse_form}


def register_commands(app: App) -> None:
    app.command("/credit", matchers=[opens_a_form])(open_from_command)


def register(app: App) -> None:
    app.shortcut(APPLY_SHORTCUT)(open_apply_from_shortcut)
    app.shortcut(ISSUE_SHORTCUT)(open_issue_from_shortcut)
    app.shortcut(APPLY_MESSAGE_SHORTCUT)(open_apply_from_message)
    app.action(OPEN_APPLY_FORM)(open_apply_from_button)
    app.action(OPEN_ISSUE_FORM)(open_issue_from_button)
    app.options(form_views.CLIENT_ACTION)(suggest_clients)
    app.action(form_views.CLIENT_ACTION)(redraw_form)
    app.action(form_views.INVOICE_ACTION)(redraw_form)
    app.action(form_views.APPLICATION_ACTION)(redraw_form)
    app.action(form_views.REJECT_ACTION)(reject_from_review)
    app.view(form_views.APPLY_FORM)(ack=submit(forms.submit_apply), lazy=[tell_after_ack])
    app.view(form_views.ISSUE_FORM)(ack=submit(forms.submit_issue), lazy=[tell_after_ack])
    app.view(form_views.REVIEW_FORM)(ack=submit(forms.submit_review), lazy=[tell_after_ack])
    app.view(form_views.REVERSE_FORM)(ack=submit(forms.submit_reverse), lazy=[tell_after_ack])


# --- who asks ------------------------------------------------------------------------------------------------


def interaction_caller(body: dict[str, Any], key: str) -> Caller:
    user = (body.get("user") or {}).get("id") or body.get("user_id") or "-"
    team = (body.get("team") or {}).get("id") or body.get("team_id") or (body.get("user") or {}).get("team_id") or "-"
    channel = (body.get("channel") or {}).get("id") or body.get("channel_id")
    return Caller(user, team, channel, f"slack:{user}", _key(f"slack:{key}:{team}:{user}"))


def submission_caller(body: dict[str, Any]) -> Caller:
    """A form's submission: the same view submitted with the same values (a double submit) has the same key."""
    view = body.get("view") or {}
    entered = json.dumps((view.get("state") or {}).get("values") or {}, sort_keys=True, default=str)
    digest = hashlib.sha256(entered.encode()).hexdigest()[:24]
    return interaction_caller(body, f"view:{view.get('id', '-')}:{digest}")


# --- opening -------------------------------------------------------------------------------------------------


def opens_a_form(command: dict[str, Any]) -> bool:
    return grammar.normalize(typed_text(command.get("text"))).lower() in FORM_SUBCOMMANDS


def open_from_command(ack: Ack, command: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    ctx = Context(services_of(context), interaction_caller(command, f"cmd:{command.get('trigger_id')}"))
    which = grammar.normalize(typed_text(command.get("text"))).lower()
    channel = command.get("channel_id")
    trigger = str(command.get("trigger_id") or "")
    problem = _open(client, ctx, trigger, lambda: FORM_SUBCOMMANDS[which](ctx, channel), refusal_in_modal=False)
    if problem is None:  # every /credit line gets an answer: this one says where the form is
        problem = Reply(text=FORM_OPENED, blocks=blocks.message(f":memo: {FORM_OPENED}"))
    ack(**ephemeral(problem))


def open_apply_from_shortcut(ack: Ack, body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    ack()
    ctx = Context(services_of(context), interaction_caller(body, "shortcut"))
    _open_or_tell(client, ctx, body, lambda: forms.apply_form(ctx, None))


def open_issue_from_shortcut(ack: Ack, body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    ack()
    ctx = Context(services_of(context), interaction_caller(body, "shortcut"))
    _open_or_tell(client, ctx, body, lambda: forms.issue_form(ctx, None))


def open_apply_from_message(ack: Ack, body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    ack()
    ctx = Context(services_of(context), interaction_caller(body, "shortcut"))
    text = typed_text((body.get("message") or {}).get("text"))
    channel = (body.get("channel") or {}).get("id")
    _open_or_tell(client, ctx, body, lambda: forms.apply_form_for_message(ctx, channel, text))


def open_apply_from_button(ack: Ack, body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    ack()
    ctx = Context(services_of(context), interaction_caller(body, "button"))
    _open_or_tell(client, ctx, body, lambda: forms.apply_form(ctx, None))


def open_issue_from_button(ack: Ack, body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    ack()
    ctx = Context(services_of(context), interaction_caller(body, "button"))
    _open_or_tell(client, ctx, body, lambda: forms.issue_form(ctx, None))


def _open_or_tell(client: WebClient, ctx: Context, body: dict[str, Any], build: Callable[[], dict]) -> None:
    """Open the form; when it cannot be, tell the person in their messages with the bot (a shortcut has no
    channel to answer in)."""
    problem = _open(client, ctx, str(body.get("trigger_id") or ""), build)
    if problem is not None:
        _tell(client, ctx, problem, None)


def _open(
    client: WebClient, ctx: Context, trigger_id: str, build: Callable[[], dict], refusal_in_modal: bool = True
) -> Reply | None:
    """Open the form `build` draws (a refusal to draw it in a modal of its own, or returned); returns what to tell
    the person when Slack would not open anything (the trigger expired: more than 3 seconds passed)."""
    try:
        view = build()
    except LedgerError as refused:
        if not refusal_in_modal:
            return Reply(text=refused.message, blocks=blocks.refusal(refused.message))
        view = form_views.notice("creditbot", f":no_entry: {blocks.esc(refused.message)}")
    error = open_view(client, trigger_id, view)
    if error is not None:
        text = (
            f"Slack would not open the form ({error}): it must open within 3 seconds. Try again, or type the "
            "command, e.g. `/credit apply INV-1002 500`."
        )
        return Reply(text=text, blocks=blocks.message(f":warning: {blocks.esc(text)}"))
    return None


def suggest_clients(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
    ctx = Context(services_of(context), interaction_caller(body, "options"))
    try:
        ack(**forms.client_suggestions(ctx, str(body.get("value") or "")))
    except Exception:
        log.exception("client typeahead failed")
        ack(options=[])


def redraw_form(ack: Ack, body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    ack()
    view = body.get("view") or {}
    redraw = REDRAWN.get(str(view.get("callback_id")))
    if redraw is None:
        return
    ctx = Context(services_of(context), interaction_caller(body, "redraw"))
    redrawn = redraw(ctx, form_views.FormContext.loads(view.get("private_metadata")), view.get("state") or {})
    try:
        client.views_update(view_id=view.get("id"), hash=view.get("hash"), view=redrawn)
    except SlackApiError as refused:  # hash_conflict: a newer pick already redrew it
        log.info("views.update of a form refused: %s", refused.response.get("error"))


def reject_from_review(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], context: dict[str, Any], client: WebClient
) -> None:
    ack()
    ctx = Context(services_of(context), interaction_caller(body, f"reject:{action.get('value', '')}"))
    reply = answer(lambda: approval_handlers.reject(ctx, str(action.get("value", ""))), ctx, "Reject in a form")
    view = body.get("view") or {}
    try:
        client.views_update(view_id=view.get("id"), view=form_views.notice("Approval request", reply.text))
    except SlackApiError as refused:
        log.warning("views.update of a review refused: %s", refused.response.get("error"))


# --- submitting ----------------------------------------------------------------------------------------------


def submit(
    carry_out: Callable[[Context, form_views.FormContext, dict[str, Any]], forms.FormOutcome],
) -> Callable[..., None]:
    def on_submission(ack: Ack, body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
        view = body.get("view") or {}
        ctx = Context(services_of(context), submission_caller(body))
        form = form_views.FormContext.loads(view.get("private_metadata"))
        try:
            outcome = carry_out(ctx, form, view.get("state") or {})
        except Exception:
            log.exception("form %s failed for %s", view.get("callback_id"), ctx.caller.actor)
            outcome = forms.FormOutcome(
                errors={_first_field(view): "Sorry, something went wrong on my side: try again."}
            )
        if outcome.errors:
            ack(response_action="errors", errors=outcome.errors)
            return
        ack()
        if outcome.reply is not None:
            reply = outcome.reply
            after_ack(ctx.caller.request_key, lambda: _tell(client, ctx, _delivered(ctx, reply), form.channel))

    return on_submission


def tell_after_ack(body: dict[str, Any]) -> None:
    """The submission's answer and announcements, once Slack has the acknowledgement (a slow Slack must not hold
    the modal open past Slack's 3 seconds)."""
    run_after_ack(submission_caller(body).request_key)


def _delivered(ctx: Context, reply: Reply) -> Reply:
    return deliver_announcements(ctx, reply) if reply.announcements else reply


def _tell(client: WebClient, ctx: Context, reply: Reply, channel: str | None) -> None:
    """The reply for the person only: ephemeral in `channel`, else (or when that fails) in their DM with the bot."""
    user = ctx.caller.user_id
    if channel and not channel.startswith("D"):
        try:
            client.chat_postEphemeral(channel=channel, user=user, text=reply.text, blocks=reply.blocks)
            return
        except SLACK_FAILURES as refused:
            log.info("could not answer in %s (%s): answering in the person's DM", channel, posting.why(refused))
    try:
        client.chat_postMessage(channel=user, text=reply.text, blocks=reply.blocks)
    except SLACK_FAILURES as refused:
        log.warning("could not tell %s: %s", user, posting.why(refused))


def _first_field(view: dict[str, Any]) -> str:
    for block in view.get("blocks") or ():
        if block.get("type") == "input" and block.get("block_id"):
            return str(block["block_id"])
    return form_views.CLIENT
