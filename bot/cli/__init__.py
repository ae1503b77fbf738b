"""The `creditbot` command line. Each module here adds its own commands through `register(app)`."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from bot.cli import bot, faq, ledger, quickbooks, reports, scans
from bot.settings import Settings

app = typer.Typer(
    name="creditbot",
    help="Client credits applied correctly, credit mistakes caught.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (ledger, bot, faq, quickbooks, scans, reports):
    module.register(app)


def main() -> None:
    try:
        app()
    except ValidationError as invalid:
        if invalid.title != Settings.__name__:
            raise
        # Settings come from the environment or .env: name each bad one in a line, never a traceback.
        raise SystemExit("\n".join(_setting_problem(error) for error in invalid.errors())) from None


def _setting_problem(error: dict) -> str:
    name = ".".join(str(part) for part in error.get("loc", ())) or "a setting"
    return f"Invalid setting {name}: {error.get('msg', 'invalid value')} (got {error.get('input')!r})."
