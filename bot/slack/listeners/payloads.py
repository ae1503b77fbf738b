"""Between Slack's payloads and the handlers: who is asking (with the request's idempotency key), and how a
reply goes back (inside the acknowledgement, through `respond()`, or as a channel message)."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.handlers import registry
from bot.handlers.context import Caller, ClickedMessage, Context, Services
from bot.handlers.reply import Reply
from bot.slack import posting
from ledger.tables import utcnow

log = logging.getLogger("creditbot.bot")
SERVICES = "creditbot"
MAX_KEY = 200  # the ledger's idempotency key column
ANNOUNCEMENT_EVENT = "creditbot_announcement"  # the metadata event type an announcement is found again by


def services_of(context: dict[str, Any]) -> Services:
    return context[SERVICES]


def command_caller(command: dict[str, Any]) -> Caller:
    """A slash command: Slack gives each invocation its own trigger_id, and a retry repeats it."""
    team = command.get("team_id") or command.get("enterprise_id") or "-"
    user = command.get("user_id") or "-"
    trigger = command.get("trigger_id") or hashlib.sha256(repr(sorted(command.items())).encode()).hexdigest()
    return Caller(user, team, command.get("channel_id"), f"slack:{user}", _key(f"slack:cmd:{team}:{trigger}"))


def action_caller(body: dict[str, Any], action: dict[str, Any]) -> Caller:
    """A button: the same person clicking the same button on the same message twice, or Slack retrying the click,
    has the same key; another person's click on it is a request of their own."""
    user = (body.get("user") or {}).get("id") or "-"
    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "-"
    container = body.get("container") or {}
    where = container.get("message_ts") or container.get("view_id") or (body.get("view") or {}).get("id") or "-"
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    key = f"slack:act:{team}:{user}:{where}:{action.get('action_id', '')}:{action.get('value', '')}"
    message = body.get("message") or {}
    clicked = ClickedMessage(
        channel=container.get("channel_id") or channel,
        ts=container.get("message_ts"),
        is_ephemeral=bool(container.get("is_ephemeral")),
        text=str(message.get("text") or ""),
        blocks=tuple(block for block in message.get("blocks") or () if isinstance(block, dict)),
    )
    return Caller(user, team, channel, f"slack:{user}", _key(key), clicked)


def event_caller(body: dict[str, Any], event: dict[str, Any]) -> Caller:
    """A mention or a direct message: Slack's retries of one event repeat its event_id."""
    team = body.get("team_id") or "-"
    user = event.get("user") or "-"
    key = f"slack:evt:{team}:{body.get('event_id') or event.get('ts', '-')}"
    return Caller(user, team, event.get("channel"), f"slack:{user}", _key(key))


def typed_text(text: str | None) -> str:
    """What the person typed: Slack sends &, < and > escaped as &amp;, &lt; and &gt; in every text."""
    return (text or "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def ephemeral(reply: Reply) -> dict[str, Any]:
    """The acknowledgement's body: the reply, visible only to the person who asked."""
    return {"text": reply.text, "blocks": reply.blocks, "response_type": "ephemeral"}


def respond_arguments(reply: Reply) -> dict[str, Any]:
    if reply.replace_original:
        return {"text": reply.text, "blocks": reply.blocks, "replace_original": True}
    return {"text": reply.text, "blocks": reply.blocks, "response_type": "ephemeral", "replace_original": False}


def open_view(client: WebClient, trigger_id: str, view: dict[str, Any]) -> str | None:
    """Open a modal; Slack's error code when it would not (e.g. the trigger expired: over 3 seconds passed)."""
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as refused:
        error = str(refused.response.get("error") or refused.response.status_code)
        log.warning("views.open refused: %s", error)
        return error
    return None


# Work that must wait until Slack has the acknowledgement: with process_before_response Bolt sends the answer only
# when the listener returns, so a listener holds such work under its request's key and a lazy listener on the same
# request (run right after the answer went out) carries it out. Slack wants the answer within 3 seconds; a slow
# Slack must not make a post inside the answer miss that.
_AFTER_ACK: dict[str, Callable[[], None]] = {}
_AFTER_ACK_LOCK = threading.Lock()


def after_ack(request_key: str, work: Callable[[], None]) -> None:
    with _AFTER_ACK_LOCK:
        _AFTER_ACK[request_key] = work


def run_after_ack(request_key: str) -> None:
    with _AFTER_ACK_LOCK:
        work = _AFTER_ACK.pop(request_key, None)
    if work is not None:
        work()


def deliver_announcements(ctx: Context, reply: Reply) -> Reply:
    """Post the reply's channel messages: in the request's channel, else the alert channel (after the request was
    acknowledged: Slack may be slow). Each is posted once through Slack's failures (`posting.post_once`).

    When no channel takes one, the reply becomes what the announcement says to tell the asker instead.
    """
    answer = reply
    client = posting.poster_client(ctx.settings)
    for announcement in reply.announcements:
        channels = [announcement.channel or ctx.caller.channel_id, ctx.settings.alert_channel]
        if (ctx.caller.channel_id or "").startswith("D") and announcement.channel is None:
            channels.reverse()  # asked in a direct message: other admins see the alert channel, not the DM
        error = "no channel to post in"
        for channel in dict.fromkeys(c for c in channels if c):
            try:
                posting.post_once(
                    client, channel, ANNOUNCEMENT_EVENT, announcement.token, utcnow(),
                    text=announcement.text, blocks=announcement.blocks,
                )  # fmt: skip
                break
            except posting.PostFailed as failed:
                error = failed.why
            log.warning("could not post to %s: %s", channel, error)
        else:
            if announcement.if_undelivered is not None:
                undelivered = announcement.if_undelivered
                answer = registry.answer(lambda: undelivered(error), ctx, "undelivered announcement")  # noqa: B023
    return answer.without_announcements()


def _key(key: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    return key[: MAX_KEY - 65] + ":" + hashlib.sha256(key.encode()).hexdigest()
