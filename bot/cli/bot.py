"""Running the Slack bot: `serve` (HTTP), `socket` (Socket Mode) and `console` (a local REPL, no Slack needed)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import typer

from bot.cli.common import database, err
from bot.cli.console import CONSOLE_USER, Console, typed_lines
from bot.settings import get_settings
from bot.slack.app import MissingSetting
from bot.slack.server import DEFAULT_THREADS, DEFAULT_WORKERS
from ledger.errors import LedgerError


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("socket")(socket)
    app.command("console")(console)


def serve(
    host: str = typer.Option("0.0.0.0", "--host", help="Address to listen on."),
    port: int = typer.Option(3000, "--port", help="Port to listen on; Slack sends requests to /slack/events."),
    # Two processes a core, four threads each: Python threads share one core per process (the GIL), so extra
    # concurrency is cheaper in processes; measured with bench/bot_latency.py.
    workers: int = typer.Option(DEFAULT_WORKERS, "--workers", help="Worker processes.", min=1),
    threads: int = typer.Option(DEFAULT_THREADS, "--threads", help="Threads per worker (concurrent requests).", min=1),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
):
    """Serve the Slack app over HTTP (gunicorn) on /slack/events; requests are verified with SLACK_SIGNING_SECRET."""
    from bot.slack.server import StartupError, check_startup, creditbot_wsgi_app, preload_read_only, run_server

    _configure_logging()
    settings = get_settings()
    with _startup_errors():
        try:
            check_startup(settings)
        except StartupError as problem:
            _stop(str(problem))
    run_server(
        partial(creditbot_wsgi_app, threads=threads),
        host,
        port,
        workers,
        threads,
        access_log,
        preload=partial(preload_read_only, settings),
    )


def socket():
    """Connect to Slack in Socket Mode with SLACK_APP_TOKEN (no public URL needed)."""
    from bot.slack.socket import run_socket_mode

    _configure_logging()
    with _startup_errors():
        run_socket_mode(get_settings())


def console(
    user: str = typer.Option(
        CONSOLE_USER, "--user", help=f"Act as this Slack user id. {CONSOLE_USER} (the default) is a billing admin."
    ),
):
    """The Slack bot in your terminal: type /credit lines, see the replies, click buttons by number."""
    from bot.handlers.context import Services

    with _startup_errors():
        services = Services(get_settings(), database(), extra_admins=frozenset({CONSOLE_USER}))
    interactive = sys.stdin.isatty()
    lines = typed_lines(Path.home() / ".cache" / "creditbot" / "console_history") if interactive else sys.stdin
    Console(services, user_id=user).run(lines, interactive=interactive)


@contextmanager
def _startup_errors() -> Iterator[None]:
    """A missing setting or an unusable database stops start-up with one line and exit code 2."""
    try:
        yield
    except MissingSetting as missing:
        _stop(str(missing))
    except LedgerError as refused:
        _stop(refused.message)


def _stop(line: str) -> None:
    # rich only on the way out: a running server never prints through it, so its processes do not hold it.
    from rich.markup import escape

    err.print(f"[bold red]Cannot start:[/] {escape(line)}", soft_wrap=True)
    raise typer.Exit(2)


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
