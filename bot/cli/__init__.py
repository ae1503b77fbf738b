"""The `creditbot` command line. Each module here adds its own commands through `register(app)`."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

from bot.cli import bot, faq, ledger, quickbooks, scans
from bot.cli.common import report_unreachable
from bot.settings import Settings, get_settings, unreachable
from ledger.errors import DatabaseUnreachable

app = typer.Typer(
    name="creditbot",
    help="Client credits applied correctly, credit mistakes caught.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (ledger, bot, faq, quickbooks, scans):
    module.register(app)


def main() -> None:
    try:
        app()
    except ValidationError as invalid:
        if invalid.title != Settings.__name__:
            raise
        # Settings come from the environment or .env: name each bad one in a line, never a traceback.
        raise SystemExit("\n".join(_setting_problem(error) for error in invalid.errors())) from None
    except Exception as failed:
        # Any command (db upgrade, serve, scan, ...) that meets a database it cannot reach: one line, exit 1.
        down = failed if isinstance(failed, DatabaseUnreachable) else unreachable(failed, get_settings().database_url)
        if down is None:
            raise
        try:
            report_unreachable(down, as_json="--json" in sys.argv)
        except typer.Exit as stop:
            raise SystemExit(stop.exit_code) from None


def _setting_problem(error: dict) -> str:
    name = ".".join(str(part) for part in error.get("loc", ())) or "a setting"
    return f"Invalid setting {name}: {error.get('msg', 'invalid value')} (got {error.get('input')!r})."
