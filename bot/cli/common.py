"""What every command shares: the database, the actor, and how refusals are reported."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import typer
from rich.console import Console

from bot.settings import get_settings, open_database
from ledger.db import Database
from ledger.errors import LedgerError

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
    """A refusal exits non-zero with one clear line on stderr, and `{"error": ...}` on stdout with --json."""
    try:
        yield
    except LedgerError as refused:
        if as_json:
            print_json({"error": refused.as_dict()})
        err.print(f"[bold red]Refused:[/] {refused.message}", soft_wrap=True)
        raise typer.Exit(1) from None
