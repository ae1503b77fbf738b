"""Mentions of the bot and direct messages: the same grammar as `/credit`, answered in the conversation.

"@creditbot balance acme" runs `balance acme`; anything that does not start with a subcommand is a question
for the FAQ (`ask ...`). Replies are posted where the conversation is (a mention is answered in its thread),
so they are visible to that conversation, unlike the slash command's private replies. Other message events
(edits, the bot's own messages) are acknowledged and ignored, so Slack does not retry them.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, Say

from bot.handlers import grammar, registry
from bot.handlers.context import Context
from bot.slack.listeners.payloads import deliver_announcements, event_caller, services_of, typed_text

_MENTION = re.compile(r"<@[^<>]+>")


def register(app: App) -> None:
    app.event("app_mention")(ack=acknowledge, lazy=[answer_mention])
    app.event("message", matchers=[is_direct_message])(ack=acknowledge, lazy=[answer_direct_message])
    app.event("message")(acknowledge)


def acknowledge(ack: Ack) -> None:
    ack()


def is_direct_message(event: dict[str, Any]) -> bool:
    return event.get("channel_type") == "im" and not event.get("subtype") and not event.get("bot_id")


def answer_mention(body: dict[str, Any], event: dict[str, Any], context: dict[str, Any], client: Any, say: Say) -> None:
    _answer(body, event, context, client, say, thread_ts=event.get("thread_ts") or event.get("ts"))


def answer_direct_message(
    body: dict[str, Any], event: dict[str, Any], context: dict[str, Any], client: Any, say: Say
) -> None:
    _answer(body, event, context, client, say, thread_ts=event.get("thread_ts"))


def as_command_line(text: str) -> str:
    """The text without mentions; a question unless it starts with a subcommand."""
    line = grammar.normalize(_MENTION.sub(" ", text))
    if grammar.subcommand_of(line) is None:
        return f"ask {line}"
    return line


def _answer(
    body: dict[str, Any], event: dict[str, Any], context: dict[str, Any], client: Any, say: Say, thread_ts: Any
) -> None:
    ctx = Context(services_of(context), event_caller(body, event))
    reply = registry.run_line(ctx, as_command_line(typed_text(event.get("text"))))
    if reply.announcements:
        reply = deliver_announcements(ctx, reply)
    say(text=reply.text, blocks=reply.blocks, thread_ts=thread_ts)
