"""`/credit report ...` in Slack: acknowledged at once, then the summary through `respond()` and the full table
uploaded to the conversation as a CSV file (slack_sdk's files_upload_v2: files.getUploadURLExternal, the upload,
files.completeUploadExternal; the app needs files:write). Malformed input gets its usage line at once.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.handlers import grammar, registry
from bot.handlers.context import Context
from bot.handlers.grammar import UsageError
from bot.handlers.reply import Reply
from bot.handlers.reports import ReportCommand, report_to_csv
from bot.render import blocks
from bot.slack import posting
from bot.slack.listeners.payloads import command_caller, ephemeral, respond_arguments, services_of, typed_text
from bot.slack.listeners.slash import WORKING

log = logging.getLogger("creditbot.bot")


def register_commands(app: App) -> None:
    app.command("/credit", matchers=[asks_for_a_report])(ack=acknowledge, lazy=[answer_with_file])


def asks_for_a_report(command: dict[str, Any]) -> bool:
    return grammar.subcommand_of(typed_text(command.get("text"))) == "report"


def acknowledge(ack: Ack, command: dict[str, Any], context: dict[str, Any]) -> None:
    try:
        grammar.parse(typed_text(command.get("text")))
    except UsageError:
        ctx = Context(services_of(context), command_caller(command))
        ack(**ephemeral(registry.run_line(ctx, typed_text(command.get("text")))))
        return
    ack(text=WORKING, blocks=blocks.message(f":hourglass_flowing_sand: {WORKING}"), response_type="ephemeral")


def answer_with_file(command: dict[str, Any], context: dict[str, Any], client: WebClient, respond: Respond) -> None:
    ctx = Context(services_of(context), command_caller(command))
    line = typed_text(command.get("text"))
    try:
        parsed = grammar.parse(line)
    except UsageError:
        return  # answered in the acknowledgement
    assert isinstance(parsed, ReportCommand)
    with tempfile.TemporaryDirectory(prefix="creditbot-report-") as folder:
        made: dict[str, Any] = {}

        def make() -> Reply:
            reply, made["path"] = report_to_csv(ctx, parsed, Path(folder))
            return reply

        reply = registry.answer(make, ctx, line)
        path: Path | None = made.get("path")
        if path is not None:
            reply = _uploaded(client, ctx, reply, path)
    respond(**respond_arguments(reply))


def _uploaded(client: WebClient, ctx: Context, reply: Reply, path: Path) -> Reply:
    """Upload the table to the conversation; when Slack refuses or fails, the summary says so (once) instead.

    slack_sdk retries each step's rate limit after Retry-After and a connection dropped before an answer; a step
    that still fails is not retried by hand (a blind second upload could share the table twice)."""
    try:
        client.files_upload_v2(
            file=str(path), filename=path.name, title=path.name, channel=ctx.caller.channel_id,
            initial_comment=f"{reply.text} (full table: {path.name})",
        )  # fmt: skip
        return reply
    except SlackApiError as refused:
        error = posting.why(refused)
        # 200: Slack's refusal (not_in_channel...); a 5xx finishing the upload may have shared it all the same.
        outcome = "refused" if refused.response.status_code == 200 else "failed"
        if outcome == "failed" and str(refused.response.api_url).endswith("files.completeUploadExternal"):
            outcome = "unconfirmed"
    except (SlackClientError, HTTPError) as failed:  # the upload step answered with an error: nothing was shared
        error, outcome = posting.why(failed), "failed"
    except OSError as unanswered:  # a lost answer or a timeout: Slack may have shared it
        error, outcome = posting.why(unanswered), "unconfirmed"
    log.warning("could not upload %s: %s", path.name, error)
    return replace(reply, blocks=blocks.message(f":bar_chart: *{blocks.esc(reply.text)}*", blocks.esc(
        _UPLOAD_NOTES[outcome].format(file=path.name, error=error))))  # fmt: skip


_UPLOAD_NOTES = {
    "refused": "I could not attach {file} here ({error}): invite @creditbot to the channel, or run "
    "`creditbot report ... --csv FILE`.",
    "failed": "I could not attach {file} here ({error}): ask again in a moment, or run "
    "`creditbot report ... --csv FILE`.",
    "unconfirmed": "Slack did not confirm that {file} was attached ({error}): it may be in the channel already, so "
    "look there before asking again (or run `creditbot report ... --csv FILE`).",
}
