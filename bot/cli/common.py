"""What every command shares: the database, the actor, and how refusals are reported."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from bot.settings import get_settings, open_database, unreachable
from ledger.db import Database
from ledger.errors import DatabaseUnreachable, LedgerError

# Piped output gets a wide console, so amounts are never cut short to fit 80 columns.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts instead of tables.")


def default_actor() -> str:
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
        err.print(f"[bold red]Refused:[/] {escape(refused.message)}", soft_wrap=True)
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
    err.print(f"[bold red]Database unreachable:[/] {escape(down.message)}", soft_wrap=True)
    raise typer.Exit(1)
