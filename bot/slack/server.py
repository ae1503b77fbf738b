"""HTTP mode: the Bolt app as a WSGI application on `/slack/events`, served by gunicorn (threaded workers).

Bolt's `App.start()` is a development server (http.server); this is the production one. Bolt's request
verification answers 401 to a bad signature or a timestamp more than 5 minutes old. `GET /healthz` answers
200 for load balancers and scripts waiting for the server to be up.

Start-up is checked once in the main process before any worker starts (settings, database schema, the bot
token against Slack), so a mistake is one clear line, not a worker crash loop.

Each worker gets ready before it serves, so the slowest requests are not the ones that find it cold or collecting
garbage: it runs a balance read on each of its database connections (`bot.handlers.reads.warm_up`), then moves
everything built so far out of the garbage collector's reach (`_freeze_start_up_heap`).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from gunicorn.app.base import BaseApplication
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.context import BoltContext
from slack_bolt.request.internals import build_context
from slack_sdk.errors import SlackApiError

from bot.handlers import reads
from bot.handlers.context import Services
from bot.settings import Settings, get_settings, open_database, qbo_config, qbo_configured
from bot.slack import qbo_routes
from bot.slack.app import HTTP_SETTINGS, create_app, require_settings, run_startup_hooks, web_client
from ledger.errors import LedgerError

log = logging.getLogger("creditbot.server")

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class StartupError(Exception):
    """A reason the server cannot start, in one line."""


class FormRequest(BoltRequest):
    """A BoltRequest whose form body is parsed as a form even when a value contains the word "payload".

    Bolt (1.30) takes any form body containing "payload" for a button's `payload=` body and, finding no such
    field, parses it as empty: `/credit ask what is a payload?` (or a channel named "payload-team") would be an
    unhandled request and Slack would show the person "dispatch_failed". The signature is still checked on the
    raw body, which is unchanged.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.mode == "http" and not self.body and "payload" in self.raw_body and not self.raw_body.startswith("{"):
            form = dict(parse_qsl(self.raw_body, keep_blank_values=True))
            if "payload" not in form:
                self.body = form
                self.context = build_context(BoltContext(kwargs.get("context") or {}), form)

    def to_copyable(self) -> BoltRequest:
        """Lazy listeners get a copy; it must be parsed the same way."""
        context = self.context.to_copyable()
        return FormRequest(body=self.raw_body, query=self.query, headers=self.headers, context=context, mode=self.mode)


class _SlackRequests(SlackRequestHandler):
    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        return self.app.dispatch(
            FormRequest(body=request.get_body(), query=request.query_string, headers=request.get_headers())
        )


def wsgi_app(app: App) -> WsgiApp:
    """The Bolt app on /slack/events, plus /healthz and QuickBooks' /qbo/callback and /qbo/webhooks."""
    slack = _SlackRequests(app, path=EVENTS_PATH)
    services = qbo_routes.services_of(app)

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        return slack(environ, start_response)

    return qbo_routes.with_qbo_routes(application, *services) if services else application


def creditbot_wsgi_app(threads: int = 1) -> WsgiApp:
    """Built in each worker (after the fork), so no database connection or socket is shared between them.

    `threads`: the worker's request threads, so as many database connections are warmed up before it serves.
    """
    settings = get_settings()
    db = open_database(settings)
    app = create_app(settings, db)
    run_startup_hooks(app, settings, db)
    try:
        reads.warm_up(Services(settings, db), connections=threads)
    except Exception:
        # Warming up only saves the first requests some milliseconds; a worker that could not still serves.
        log.warning("could not warm up the balance read; the first requests will be slower", exc_info=True)
    return wsgi_app(app)


def check_startup(settings: Settings) -> None:
    """Everything `serve` needs, checked before the first worker starts; raises StartupError or MissingSetting."""
    require_settings(settings, HTTP_SETTINGS, "serve")
    if qbo_configured(settings):
        try:
            qbo_config(settings)
        except LedgerError as incomplete:  # QuickBooks half set up: say what is missing before any worker starts
            raise StartupError(incomplete.message) from None
    db = open_database(settings)
    try:
        db.ensure_schema()
    finally:
        db.dispose()
    try:
        web_client(settings).auth_test()
    except SlackApiError as refused:
        error = refused.response.get("error") or refused.response.status_code
        raise StartupError(f"Slack refused SLACK_BOT_TOKEN ({error}); check the token of your Slack app.") from None
    except OSError as unreachable:
        raise StartupError(f"Cannot reach Slack's Web API at {settings.slack_api_url} ({unreachable}).") from None


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, load_app: Callable[[], WsgiApp], options: dict[str, Any]) -> None:
        self._load_app = load_app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self) -> WsgiApp:
        return self._load_app()


def _freeze_start_up_heap(worker: Any) -> None:
    """Gunicorn's post_worker_init hook: the app is built; keep what it built out of every garbage collection.

    A worker starts with some 120,000 objects (Bolt, SQLAlchemy, the FAQ index) that live as long as it does.
    Python's full collections walked them all: serving 8 concurrent balance requests, each worker ran one within
    its first half minute, holding every request of that worker for 90 to 140 ms of CPU (150 to 470 ms on a busy
    machine): the slowest requests (gc.callbacks in workers under bench/bot_latency.py). Frozen, they are skipped
    (a full collection then takes 0.2 ms); the garbage that requests make is still collected as before.
    """
    gc.collect()
    gc.freeze()


def run_server(
    load_app: Callable[[], WsgiApp],
    host: str,
    port: int,
    workers: int,
    threads: int,
    access_log: bool = False,
) -> None:
    """Serve the WSGI app `load_app()` builds in each worker, until interrupted (SIGINT/SIGTERM)."""
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "creditbot",
        "post_worker_init": _freeze_start_up_heap,
    }
    _Gunicorn(load_app, options).run()
