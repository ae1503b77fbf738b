"""Buttons on the bot's messages: Undo, Approve/Reject/Review, FAQ suggestions, "did you mean" clients.

A click is acknowledged at once (Slack ignores the acknowledgement's body for buttons); a lazy listener then
checks permission again, carries the click out with a key derived from the message and the button (a double
click or a retry is carried out once), and answers through `respond()`, or opens the modal the answer carries
(Review: the request with the client's balance) with the click's trigger.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.handlers import registry
from bot.handlers.context import Context
from bot.slack.listeners.payloads import (
    action_caller,
    deliver_announcements,
    open_view,
    respond_arguments,
    services_of,
)

ANY_ACTION = re.compile(r".+")


def register(app: App) -> None:
    app.action(ANY_ACTION, matchers=[is_ours])(ack=acknowledge, lazy=[carry_out])


def is_ours(action: dict[str, Any]) -> bool:
    return registry.knows_action(str(action.get("action_id", "")))


def acknowledge(ack: Ack) -> None:
    ack()


def carry_out(
    body: dict[str, Any], action: dict[str, Any], context: dict[str, Any], client: WebClient, respond: Respond
) -> None:
    ctx = Context(services_of(context), action_caller(body, action))
    reply = registry.run_action(ctx, str(action.get("action_id", "")), str(action.get("value", "")))
    if reply.view is not None and open_view(client, str(body.get("trigger_id") or ""), reply.view) is None:
        return
    if reply.announcements:
        reply = deliver_announcements(ctx, reply)
    respond(**respond_arguments(reply))
    if reply.follow_up is not None:
        respond(**respond_arguments(reply.follow_up))
