"""Read subcommands: help, balance, invoice, history. Anyone may read; nothing here writes."""

from __future__ import annotations

import re
from contextlib import ExitStack

from bot.handlers import grammar
from bot.handlers.context import Caller, Context, Services
from bot.handlers.grammar import Balance, Help, History, ShowInvoice, UsageError
from bot.handlers.registry import findings_for, run_line
from bot.handlers.reply import Reply
from bot.render import blocks
from bot.render.blocks import Button, Findings
from ledger import reads
from ledger.db import Database
from ledger.errors import AmbiguousClient, UnknownClient
from ledger.money import format_money

HELP_FOOTER = (
    "Replies are visible only to you. Issue, apply and reverse need a billing admin, and their replies have an "
    "*Undo* button. CLIENT is a client id, a name or part of one; quote a name with spaces or digits "
    '(`"Studio 54"`).'
)
# "Acme Legal LLP (C-ACME)": the id in the last parentheses of a suggestion.
_SUGGESTED_ID = re.compile(r"\(([^()]+)\)$")
# Who runs the start-up reads (they write nothing, so the request key is never used).
WARM_UP_CALLER = Caller("creditbot", "-", None, "server:warm-up", "server:warm-up")


def help_reply(ctx: Context, command: Help) -> Reply:
    if command.topic:
        syntax = grammar.SUBCOMMANDS.get(command.topic)
        if syntax is None:
            raise UsageError(f"There is no subcommand “{command.topic}”.", "`/credit help` lists every command.")
        text = f"{syntax.usage_line}\n{syntax.summary}"
        return Reply(text=text, blocks=blocks.message(text))
    entries = [(syntax.usage_line, syntax.summary) for syntax in grammar.syntaxes()]
    return Reply(text="How to use /credit", blocks=blocks.help_blocks(entries, HELP_FOOTER))


def balance(ctx: Context, command: Balance) -> Reply:
    try:
        result, found = _balance_and_findings(ctx.db, command.client)
    except (UnknownClient, AmbiguousClient) as unclear:
        return did_you_mean(unclear, "balance")
    available = format_money(result.available_credit_minor, result.client.currency)
    return Reply(
        text=f"{result.client.name}: {available} of credit available, {result.open_invoice_count} open invoices",
        blocks=blocks.balance_blocks(result, found),
    )


def _balance_and_findings(db: Database, client: str) -> tuple[reads.ClientBalance, Findings]:
    """The balance a reply shows and the open findings on its invoices, read in one unit."""
    with db.read() as unit:
        result = reads.client_balance(unit, client, invoice_limit=blocks.MAX_INVOICES)
        return result, findings_for(unit, [invoice.number for invoice in result.invoices])


def warm_up(services: Services, connections: int) -> None:
    """Answer one balance read on each of `connections` pooled database connections, before any request.

    A connection's first balance read prepares its statements and loads the schema and the pages it needs (2 to
    7 ms): a server worker pays that at start-up instead of the first people who ask. Each read holds on to the
    connection it used, so the next one opens (and warms) another.
    """
    with services.db.read() as unit:
        client_id = reads.first_client_id(unit)
    if client_id is None:
        return
    ctx = Context(services, WARM_UP_CALLER)
    with ExitStack() as held:
        for _ in range(connections):
            balance(ctx, Balance(client_id))
            held.enter_context(services.db.engine.connect())


def invoice(ctx: Context, command: ShowInvoice) -> Reply:
    with ctx.db.read() as unit:
        detail = reads.invoice_detail(unit, command.number)
        found = findings_for(unit, [detail.summary.number])
    due = format_money(detail.summary.balance_due_minor, detail.client.currency)
    return Reply(
        text=f"Invoice {detail.summary.number}: {due} due",
        blocks=blocks.invoice_blocks(detail, found.get(detail.summary.number, [])),
    )


def history(ctx: Context, command: History) -> Reply:
    try:
        with ctx.db.read() as unit:
            title, lines = reads.history(unit, command.target)
    except (UnknownClient, AmbiguousClient) as unclear:
        return did_you_mean(unclear, "history")
    return Reply(text=f"History of {title}", blocks=blocks.history_blocks(title, lines))


def show(ctx: Context, value: str) -> Reply:
    """A "did you mean" button: run the read it carries (`balance C-ACME`) as the person who clicked."""
    if grammar.parse(value).writes:
        raise UsageError("This button can only show things, not change them.")
    return run_line(ctx, value)


def did_you_mean(unclear: UnknownClient | AmbiguousClient, subcommand: str) -> Reply:
    """The lookup's refusal ("Did you mean: ...?") with a button per suggested client that runs the read again."""
    buttons = []
    for number, label in enumerate(unclear.suggestions[:5]):
        match = _SUGGESTED_ID.search(label)
        if match:
            buttons.append(Button(label, f"show:{number}", f"{subcommand} {match.group(1)}"))
    return Reply(text=unclear.message, blocks=blocks.message(f":mag: {unclear.message}", None, buttons))
