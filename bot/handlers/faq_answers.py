"""`ask` and `tips`: answers from the FAQ package (`faq.load_faq`), with its suggestions as buttons.

A question that names an invoice or a client of the ledger also gets that record's live facts (balance split,
posting state, open findings with the entry that explains each), through `bot.handlers.faq_grounding`. An
honest "I don't know" points to `/credit tips`, `/credit help` and the billing lead. The FAQ is optional: where it
is not installed, both say so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.handlers.context import Context
from bot.handlers.grammar import Ask, Tips
from bot.handlers.reply import Reply
from bot.render import blocks
from bot.render.blocks import Button

log = logging.getLogger("creditbot.bot")

try:
    from faq import load_faq as _load_faq
except ImportError:  # the FAQ package is not installed
    _load_faq = None

load_faq: Callable[..., Any] | None = _load_faq
_backend: str | None = None  # CREDITBOT_FAQ_BACKEND as the settings read it (env or .env); None: the FAQ's default
NOTE = "Answers come from creditbot's FAQ. `/credit tips` has the essentials; `/credit help` lists the commands."


def ask(ctx: Context, command: Ask) -> Reply:
    faq = _faq()
    if faq is None:
        return _not_available("ask")
    return _answer_reply(faq, _grounded(faq, ctx).ask(command.question))


def tips(ctx: Context, command: Tips) -> Reply:
    faq = _faq()
    if faq is None:
        return _not_available("tips")
    text = faq.tips()
    return Reply(text=text, blocks=blocks.faq_answer("Quick tips", text, [], [], NOTE))


def suggestion(ctx: Context, value: str) -> Reply:
    """A suggestion button ("did you mean ...?"): ask the FAQ for that entry by its id."""
    faq = _faq()
    if faq is None:
        return _not_available("ask")
    return _answer_reply(faq, faq.ask(value))


def warm_up(backend: str | None = None) -> None:
    """Load the FAQ (and build its index) with the configured backend before the first question, not during it."""
    global _backend
    _backend = backend
    _faq()


def build_saved(backend: str) -> bool:
    """Whether warming up with `backend` loads the FAQ's saved build (True too where the FAQ is not installed:
    there is nothing to build)."""
    if load_faq is None:
        return True
    from faq.answering import default_build_saved

    return default_build_saved(backend)  # type: ignore[arg-type]  # the settings checked it is a Backend


def _grounded(faq: Any, ctx: Context) -> Any:
    try:
        from bot.handlers.faq_grounding import grounded_faq

        return grounded_faq(faq, ctx.db)
    except Exception:
        # Facts are extra: without the client names the FAQ still answers (invoice numbers are then not grounded).
        log.exception("could not attach ledger facts to the FAQ; answering without them")
        return faq


def _answer_reply(faq: Any, answer: Any) -> Reply:
    ids = list(answer.suggestions) or list(getattr(answer, "related", []))[:3]
    buttons = [Button(_title(faq, entry_id), f"faq_suggestion:{n}", entry_id) for n, entry_id in enumerate(ids)]
    finding = getattr(answer, "finding", None)
    if finding is not None and finding.action is not None:
        # The finding that decided the answer can be fixed from here (the same action as the alert's button).
        label, action_id, value = finding.action
        buttons.insert(0, Button(label, action_id, value, style="danger"))
    facts = list(getattr(answer, "facts", []))
    text = "\n".join([answer.answer, *facts])
    drawn = blocks.faq_answer(answer.title, answer.answer, facts, buttons, NOTE)
    if finding is not None and finding.action is not None:
        _confirm(drawn, finding)
    return Reply(text=text, blocks=drawn)


def _confirm(drawn: list[dict[str, Any]], finding: Any) -> None:
    """A button that writes asks first, as the alert's does: Slack shows this dialog before sending the click."""
    label, action_id, _ = finding.action
    where = f" on {finding.invoice_number}" if finding.invoice_number else ""
    dialog = {
        "title": {"type": "plain_text", "text": f"{label}?"[:100]},
        "text": {"type": "plain_text", "text": f"{label}{where}: {finding.detail}"[:300]},
        "confirm": {"type": "plain_text", "text": label[:30]},
        "deny": {"type": "plain_text", "text": "Cancel"},
    }
    for block in drawn:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                element["confirm"] = dialog


def _title(faq: Any, entry_id: str) -> str:
    try:
        return str(faq.entry(entry_id).title)
    except KeyError:
        return entry_id


def _faq() -> Any | None:
    return None if load_faq is None else load_faq(backend=_backend)


def _not_available(name: str) -> Reply:
    text = f"`/credit {name}` is not available yet: the FAQ arrives with a later creditbot release."
    return Reply(text=text, blocks=blocks.message(text))
