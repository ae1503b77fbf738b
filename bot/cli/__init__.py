"""The `creditbot` command line. Each module here adds its own commands through `register(app)`.

`COMMANDS` says which module holds which command, so `creditbot --help` imports no module and a command imports
only its own (a ledger read never loads Slack, the scheduler or the FAQ's model). tests/test_cli_lean.py checks
the table against what the modules register, and what `--help` imports.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from typer import core

HELP = "Client credits applied correctly, credit mistakes caught."

# Command -> (the module that registers it, its one-line help as `creditbot --help` lists it).
COMMANDS: dict[str, tuple[str, str]] = {
    "balance": (
        "bot.cli.ledger",
        "A client's available credit and open invoices, with cash, credits and credit memos apart.",
    ),
    "invoice": (
        "bot.cli.ledger",
        "An invoice's payment history (each kind spelled out), balance due, posting state and changes.",
    ),
    "issue": ("bot.cli.ledger", "Issue a credit to a client's wallet."),
    "apply": ("bot.cli.ledger", "Apply the client's credit to an invoice (recorded as an AccountCredit payment)."),
    "reverse": (
        "bot.cli.ledger",
        "Reverse a credit application: the credit returns to the wallet and the invoice owes it again.",
    ),
    "move": (
        "bot.cli.ledger",
        "Move a credit application (or part of it) to another invoice of the same client, in one transaction.",
    ),
    "transfer": ("bot.cli.ledger", "Transfer available credit to a related client, both wallets in one transaction."),
    "refund": (
        "bot.cli.ledger",
        "Refund available credit as money, with a receipt reference for the billing system and QuickBooks.",
    ),
    "write-off": ("bot.cli.ledger", "Write off available credit the client will not use."),
    "apply-all": (
        "bot.cli.ledger",
        "Spread the client's available credit over its unposted open invoices, in one transaction.",
    ),
    "credits": (
        "bot.cli.ledger",
        "Credit entries (issued, applied, reversed, refunded, written off, expired, transferred), newest first.",
    ),
    "expire-credits": (
        "bot.cli.ledger",
        "Record the credit that expired in every wallet whose credits passed their expiry date.",
    ),
    "history": (
        "bot.cli.ledger",
        "Every recorded change (and refused write) of an invoice or a client: who, when, before and after.",
    ),
    "import": (
        "bot.cli.ledger",
        "Import the billing system's CSV export (one transaction; re-importing changes nothing).",
    ),
    "demo": (
        "bot.cli.ledger",
        "Load a realistic demo ledger (posted and unposted invoices, a duplicated credit, an edit after posting).",
    ),
    "db": ("bot.cli.ledger", "The database schema (Alembic migrations)."),
    "serve": (
        "bot.cli.bot",
        "Serve the Slack app over HTTP (gunicorn) on /slack/events; requests are verified with SLACK_SIGNING_SECRET.",
    ),
    "socket": ("bot.cli.bot", "Connect to Slack in Socket Mode with SLACK_APP_TOKEN (no public URL needed)."),
    "console": (
        "bot.cli.bot",
        "The Slack bot in your terminal: type /credit lines, see the replies, click buttons by number.",
    ),
    "faq": ("bot.cli.faq", "Answer a question from the FAQ, or measure the FAQ against a file of questions."),
    "sync-qb": (
        "bot.cli.quickbooks",
        "Follow QuickBooks: invoices posted, credit memos and payments applied there, overpayments (one transaction).",
    ),
    "qb": ("bot.cli.quickbooks", "The live QuickBooks Online connection: connect, status, poll, apply credit memos."),
    "scan": (
        "bot.cli.scans",
        "Scan the ledger for duplicate credits, edits after posting and the other findings; print the open ones.",
    ),
    "scheduler": (
        "bot.cli.scans",
        "Run scheduled scans in the foreground (CREDITBOT_SCAN_CRON, UTC) until interrupted.",
    ),
    "report": (
        "bot.cli.reports",
        "A report on client credits: a one-line summary, and the full table as CSV, JSON or .xlsx.",
    ),
}


@cache
def commands_of(module_name: str) -> core.TyperGroup:
    """The click commands one module registers (Typer builds them when the module is first needed)."""
    import typer
    import typer.main

    with _frozen_import():
        app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        importlib.import_module(module_name).register(app)
        return typer.main.get_group(app)


@contextmanager
def _frozen_import() -> Iterator[None]:
    """Python's cyclic garbage collector off while a command's module is imported; then what the import made is
    frozen (`gc.freeze`: left out of every later collection) and the collector is back on (if it was) before the
    command runs.

    A command's modules and libraries are tens of thousands of objects that live as long as the process (modules,
    classes, pydantic's schemas, Typer's commands), yet making them sets off collections that walk them again and
    again: with the collector merely paused the walk was only put off to the first collection after (no faster),
    frozen they are never walked. Side by side (medians of 9, load 10-12): a warm `creditbot faq` 0.563 s CPU to
    0.449 s, `creditbot balance` 0.537 s to 0.411 s. The import's own garbage that only the collector could free
    (some 200 objects) stays; `creditbot serve` freezes again after building its app (bot/slack/server.py).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def typer_app() -> Any:
    """Every command in one Typer app, every module loaded (for tests that drive the CLI with Typer's runner)."""
    import typer

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    for module_name in dict.fromkeys(module for module, _summary in COMMANDS.values()):
        importlib.import_module(module_name).register(app)
    return app


class _Commands(core.TyperGroup):
    """The top-level group: commands listed from `COMMANDS`, loaded from their module when run."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = COMMANDS.get(cmd_name)
        return None if entry is None else commands_of(entry[0]).commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_module, summary) in COMMANDS.items()])


# Plain help text (no rich markup) for the list of commands: rich is loaded only by the commands that print tables.
app = _Commands(name="creditbot", help=HELP, no_args_is_help=True, rich_markup_mode=None)


def main() -> None:
    try:
        app(prog_name="creditbot")
    except Exception as failed:
        problems = _setting_problems(failed)
        if problems is not None:
            # Settings come from the environment or .env: name each bad one in a line, never a traceback.
            raise SystemExit(problems) from None
        _exit_if_unreachable(failed)
        raise


def _exit_if_unreachable(failed: Exception) -> None:
    """Any command (db upgrade, serve, scan, ...) that meets a database it cannot reach: one line, exit 1."""
    import typer

    from bot.cli.common import report_unreachable
    from bot.settings import get_settings, unreachable
    from ledger.errors import DatabaseUnreachable

    down = failed if isinstance(failed, DatabaseUnreachable) else unreachable(failed, get_settings().database_url)
    if down is None:
        return
    try:
        report_unreachable(down, as_json="--json" in sys.argv)
    except typer.Exit as stop:
        raise SystemExit(stop.exit_code) from None


def _setting_problems(failed: Exception) -> str | None:
    """One line per bad setting when `failed` is the settings' validation error, else None."""
    from pydantic import ValidationError

    from bot.settings import Settings

    if not isinstance(failed, ValidationError) or failed.title != Settings.__name__:
        return None
    return "\n".join(_setting_problem(error) for error in failed.errors())


def _setting_problem(error: Any) -> str:
    name = ".".join(str(part) for part in error.get("loc", ())) or "a setting"
    return f"Invalid setting {name}: {error.get('msg', 'invalid value')} (got {error.get('input')!r})."
