"""The `creditbot` command line. Each module here adds its own commands through `register(app)`."""

from __future__ import annotations

import typer

from bot.cli import bot_commands, faq_command, ledger_commands, qb_commands, scan_commands

app = typer.Typer(
    name="creditbot",
    help="Client credits applied correctly, credit mistakes caught.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (ledger_commands, bot_commands, faq_command, qb_commands, scan_commands):
    module.register(app)


def main() -> None:
    app()
