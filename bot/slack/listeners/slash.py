"""The `/credit` slash command.

Fast answers (every read and write) are computed inside the request and returned as the acknowledgement's
body: with `process_before_response=True` Bolt returns as soon as the handler does, instead of polling for
`ack()` every 10 ms. Slow ones (a scan) are acknowledged at once and answered by a lazy listener through
`respond()`. Channel messages a write announces (an approval request) are posted after the acknowledgement went out,
so a slow Slack cannot hold the answer past Slack's 3 seconds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.handlers import registry
from bot.handlers.context import Context
from bot.handlers.reply import Reply
from bot.render import blocks
from bot.slack.listeners.payloads import (
    after_ack,
    command_caller,
    deliver_announcements,
    ephemeral,
    respond_arguments,
    run_after_ack,
    services_of,
    typed_text,
)

WORKING = "Working on it: the answer will appear here in a moment."


def register_commands(app: App) -> None:
    app.command("/credit", matchers=[answered_later])(ack=acknowledge_slow, lazy=[answer_later])
    app.command("/credit", matchers=[may_announce])(ack=answer_now, lazy=[announce_after_ack])
    # Reads and lines that do not parse announce nothing, so they need no lazy listener: Bolt copies the whole
    # request for one (a deep copy, a quarter of a millisecond) even when it has nothing to do.
    app.command("/credit")(answer_without_announcing)


def answered_later(command: dict[str, Any]) -> bool:
    return registry.is_slow(typed_text(command.get("text")))


def may_announce(command: dict[str, Any]) -> bool:
    """Whether a line may post channel messages after its answer: only writes do (an approval request)."""
    return registry.writes(typed_text(command.get("text")))


def answer_now(ack: Ack, command: dict[str, Any], context: dict[str, Any], respond: Respond) -> None:
    ctx = Context(services_of(context), command_caller(command))
    reply = registry.run_line(ctx, typed_text(command.get("text")))
    if reply.announcements:
        after_ack(ctx.caller.request_key, lambda: _announce(ctx, reply, respond))
    ack(**ephemeral(reply.without_announcements()))


def answer_without_announcing(ack: Ack, command: dict[str, Any], context: dict[str, Any], respond: Respond) -> None:
    """`answer_now` for a line that does not write; should one announce anyway, it is posted before the answer."""
    ctx = Context(services_of(context), command_caller(command))
    reply = registry.run_line(ctx, typed_text(command.get("text")))
    if reply.announcements:
        reply = deliver_announcements(ctx, reply)
    ack(**ephemeral(reply))


def announce_after_ack(command: dict[str, Any]) -> None:
    run_after_ack(command_caller(command).request_key)


def _announce(ctx: Context, reply: Reply, respond: Respond) -> None:
    """Post the channel messages; when none could be, the answer already shown is replaced by what to do."""
    delivered = deliver_announcements(ctx, reply)
    if delivered != reply.without_announcements():
        respond(**respond_arguments(replace(delivered, replace_original=True)))


def acknowledge_slow(ack: Ack) -> None:
    ack(text=WORKING, blocks=blocks.message(f":hourglass_flowing_sand: {WORKING}"), response_type="ephemeral")


def answer_later(command: dict[str, Any], context: dict[str, Any], respond: Respond) -> None:
    ctx = Context(services_of(context), command_caller(command))
    reply = registry.run_line(ctx, typed_text(command.get("text")))
    if reply.announcements:
        reply = deliver_announcements(ctx, reply)
    respond(**respond_arguments(reply))
