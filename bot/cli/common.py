"""What every command shares: the database, the actor, and how refusals are reported."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from bot.settings import get_settings, open_database, unreachable
from ledger.errors import DatabaseUnreachable, LedgerError

if TYPE_CHECKING:
    from rich.console import Console

    from ledger.db import Database


class _Terminal:
    """A rich Console made when first printed to: `creditbot balance --json` and the other commands that print no
    table never import rich (tests/test_cli_lean.py)."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr

    @cached_property
    def console(self) -> Console:
        from rich.console import Console

        stream = sys.stderr if self._stderr else sys.stdout
        # Piped output gets a wide console, so amounts are never cut short to fit 80 columns.
        return Console(stderr=self._stderr, highlight=False, width=None if stream.isatty() else 160)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)  # looked up by the interpreter (at exit, say): no reason to make a console
        return getattr(self.console, name)


out: Console = _Terminal(stderr=False)  # type: ignore[assignment]
err: Console = _Terminal(stderr=True)  # type: ignore[assignment]

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts instead of tables.")


def default_actor() -> str:
    import getpass  # only for the writes: a read never names its actor

    user = os.environ.get("USER") or getpass.getuser() or "unknown"
    return f"cli:{user}"


@lru_cache(maxsize=1)
def database() -> Database:
    """The configured database, at the current schema (a new SQLite file is created; others must be upgraded)."""
    db = open_database(get_settings())
    db.ensure_schema()
    return db


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")


@contextmanager
def refusals_exit(as_json: bool) -> Iterator[None]:
    """A refusal exits non-zero with one clear line on stderr, and `{"error": ...}` on stdout with --json.

    A database that cannot be reached is reported the same way (`report_unreachable`)."""
    try:
        yield
    except DatabaseUnreachable as down:
        report_unreachable(down, as_json)
    except LedgerError as refused:
        if as_json:
            print_json({"error": refused.as_dict()})
        err.print(f"[bold red]Refused:[/] {_escape(refused.message)}", soft_wrap=True)
        raise typer.Exit(1) from None
    except Exception as failed:
        down = unreachable(failed, get_settings().database_url)
        if down is None:
            raise
        report_unreachable(down, as_json)


def report_unreachable(down: DatabaseUnreachable, as_json: bool) -> NoReturn:
    """One line naming the database and why it cannot be reached; exit 1 (`{"error": ...}` too with --json)."""
    if as_json:
        print_json({"error": down.as_dict()})
    err.print(f"[bold red]Database unreachable:[/] {_escape(down.message)}", soft_wrap=True)
    raise typer.Exit(1)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
