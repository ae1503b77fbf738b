"""The `/credit` slash command.

Fast answers (every read and write) are computed inside the request and returned as the acknowledgement's
body: with `process_before_response=True` Bolt returns as soon as the handler does, instead of polling for
`ack()` every 10 ms. Slow ones (a scan) are acknowledged at once and answered by a lazy listener through
`respond()`.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.handlers import registry
from bot.handlers.context import Context
from bot.render import blocks
from bot.slack.listeners.payloads import (
    command_caller,
    deliver_announcements,
    ephemeral,
    respond_arguments,
    services_of,
    typed_text,
)

WORKING = "Working on it: the answer will appear here in a moment."


def register(app: App) -> None:
    app.command("/credit", matchers=[answered_later])(ack=acknowledge_slow, lazy=[answer_later])
    app.command("/credit")(answer_now)


def answered_later(command: dict[str, Any]) -> bool:
    return registry.is_slow(typed_text(command.get("text")))


def answer_now(ack: Ack, command: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    ctx = Context(services_of(context), command_caller(command))
    reply = registry.run_line(ctx, typed_text(command.get("text")))
    if reply.announcements:
        reply = deliver_announcements(client, ctx, reply)
    ack(**ephemeral(reply))


def acknowledge_slow(ack: Ack) -> None:
    ack(text=WORKING, blocks=blocks.message(f":hourglass_flowing_sand: {WORKING}"), response_type="ephemeral")


def answer_later(command: dict[str, Any], context: dict[str, Any], client: WebClient, respond: Respond) -> None:
    ctx = Context(services_of(context), command_caller(command))
    reply = registry.run_line(ctx, typed_text(command.get("text")))
    if reply.announcements:
        reply = deliver_announcements(client, ctx, reply)
    respond(**respond_arguments(reply))
