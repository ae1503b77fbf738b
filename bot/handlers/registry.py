"""Which handler answers which subcommand and which button, and how every answer's failure is worded.

Handlers are registered by name, so a module can add or replace one without touching the others:
`register_handler("scan", handle_scan, slow=...)`, `register_action("undo_apply", undo_apply)`. Button
action ids may carry a qualifier after a colon ("faq_suggestion:2": Slack wants ids unique in a block);
routing uses the part before it.

Every answer goes through `answer`: malformed input gets the usage line, a ledger refusal its message, and
anything unexpected is logged with an error id and answered with an apology, never a stack trace.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from bot.handlers import approvals, grammar
from bot.handlers.context import Context
from bot.handlers.grammar import Command, UsageError
from bot.handlers.reply import Reply
from bot.render import blocks
from bot.settings import unreachable
from ledger.errors import ApprovalRequired, LedgerError
from ledger.unit import Unit

log = logging.getLogger("creditbot.bot")

Handler = Callable[[Context, Any], Reply]
ActionHandler = Callable[[Context, str], Reply]
# Open findings on invoices, by number (one readable line each), for balance and invoice replies; read with plain
# SQL in the reply's own read transaction.
FindingsSource = Callable[[Unit, Sequence[str]], Mapping[str, Sequence[str]]]

NOT_AVAILABLE = "`/credit {name}` is not available yet: it arrives with a later creditbot release."
UNREACHABLE = "The ledger is unreachable right now, nothing was changed. Try again in a minute."


@dataclass(frozen=True)
class Route:
    handler: Handler
    # A slow handler is answered later through `respond()`; a fast one inside Slack's acknowledgement.
    slow: Callable[[], bool]


HANDLERS: dict[str, Route] = {}
ACTIONS: dict[str, ActionHandler] = {}
FINDINGS_SOURCES: list[FindingsSource] = []


def register_handler(name: str, handler: Handler, slow: bool | Callable[[], bool] = False) -> None:
    HANDLERS[name] = Route(handler, slow if callable(slow) else (lambda: slow))


def register_action(action_id: str, handler: ActionHandler) -> None:
    ACTIONS[action_id] = handler


def register_findings_source(source: FindingsSource) -> None:
    FINDINGS_SOURCES.append(source)


def action_route(action_id: str) -> str:
    return action_id.partition(":")[0]


def knows_action(action_id: str) -> bool:
    return action_route(action_id) in ACTIONS


def is_slow(line: str) -> bool:
    """Whether a `/credit` line is answered later; malformed input never is (its usage line is fast)."""
    route = HANDLERS.get(grammar.subcommand_of(line) or "")
    if route is None or not route.slow():
        return False
    try:
        grammar.parse(line)
    except UsageError:
        return False
    return True


def run_line(ctx: Context, line: str) -> Reply:
    """Answer one `/credit ...` line."""
    return answer(lambda: _dispatch(ctx, grammar.parse(line)), ctx, line, reads_only=_reads_only(line))


def writes(line: str) -> bool:
    """Whether a `/credit` line is a write (malformed input is not: it is answered with its usage line)."""
    try:
        return grammar.parse(line).writes
    except UsageError:
        return False


def _reads_only(line: str) -> bool:
    """A line that only reads: its refusal does not say "Nothing was changed" (nothing was going to be)."""
    try:
        return not grammar.parse(line).writes
    except UsageError:
        return False


def run_action(ctx: Context, action_id: str, value: str) -> Reply:
    """Answer one button click."""
    handler = ACTIONS.get(action_route(action_id))
    if handler is None:
        return Reply(
            text="This button is no longer supported.", blocks=blocks.message("This button is no longer supported.")
        )
    return answer(lambda: handler(ctx, value), ctx, f"button {action_id}={value}")


def findings_for(unit: Unit, invoice_numbers: Sequence[str]) -> dict[str, list[str]]:
    """Every registered source's findings; a failing source is logged and left out, never fails the reply."""
    found: dict[str, list[str]] = {}
    for source in FINDINGS_SOURCES:
        try:
            for number, lines in source(unit, invoice_numbers).items():
                found.setdefault(number, []).extend(lines)
        except Exception:
            log.exception("findings source %s failed; answering without its findings", source)
    return found


def answer(produce: Callable[[], Reply], ctx: Context, what: str, *, reads_only: bool = False) -> Reply:
    try:
        return produce()
    except UsageError as malformed:
        return Reply(text=malformed.message, blocks=blocks.usage(malformed.message, malformed.usage))
    except ApprovalRequired as held_back:
        # Whichever command or button met the approval rule, the same request goes to a second admin.
        return answer(partial(approvals.ask_for_approval, ctx, held_back), ctx, f"approval request for {what}")
    except LedgerError as refused:
        changed_nothing = not reads_only and refused.changed_nothing
        return Reply(text=refused.message, blocks=blocks.refusal(refused.message, changed_nothing=changed_nothing))
    except Exception as failed:
        down = unreachable(failed, ctx.db.url.render_as_string(hide_password=False))
        if down is not None:
            # Not a bug to trace: one line in the log, and the person is told nothing was changed.
            log.warning("ledger unreachable answering %s for %s: %s", loggable(what), ctx.caller.actor, down.why)
            return Reply(text=UNREACHABLE, blocks=blocks.message(f":warning: {UNREACHABLE}"))
        error_id = uuid.uuid4().hex[:8]
        log.exception("error %s answering %s for %s", error_id, loggable(what), ctx.caller.actor)
        text = (
            f"Sorry, something went wrong on my side (error {error_id}). If you asked for a change, check "
            "`/credit history` before trying again."
        )
        return Reply(text=text, blocks=blocks.message(f":warning: {text}"))


def loggable(what: str, limit: int = 200) -> str:
    """What was asked, as a log line may show it: quoted, cut to `limit` characters, its full length said."""
    if len(what) <= limit:
        return repr(what)
    return f"{what[:limit]!r}… ({len(what):,} characters)"


def _dispatch(ctx: Context, command: Command) -> Reply:
    route = HANDLERS.get(command.name)
    if route is None:
        text = NOT_AVAILABLE.format(name=command.name)
        return Reply(text=text, blocks=blocks.message(text))
    return route.handler(ctx, command)
