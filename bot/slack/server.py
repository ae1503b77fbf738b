"""HTTP mode: the Bolt app as a WSGI application on `/slack/events`, served by gunicorn (threaded workers).

Bolt's `App.start()` is a development server (http.server); this is the production one. `GET /healthz` answers
200 for load balancers and scripts waiting for the server to be up.

Before Bolt sees a request, `SlackRequestGuard` checks it on its raw bytes: a body over `MAX_BODY_BYTES` gets 413
unread, a missing or bad signature (or a timestamp that is not a number, or more than 5 minutes old) 401, and a
signed body that is not UTF-8 or not the shape Slack sends (a form, `payload=` JSON object, an event object) 400.
Junk never reaches Bolt's parsing, so it never gets a 500; a refused request is logged by size and SHA-256,
never by content.

Start-up is checked once in the main process before any worker starts (settings, database schema, the bot
token against Slack), so a mistake is one clear line, not a worker crash loop.

What is read-only and the same in every worker is loaded once, in the master, before the workers are forked
(gunicorn's `preload_app`): the code, the FAQ's built index and model, and the Bolt app (`preload_read_only`). The
workers share those pages copy-on-write, and the master moves them out of the garbage collector's reach first, so
no worker's collection writes to them. Each worker then makes the app ready after the fork (`BuiltInEachWorker`:
its database connections and scheduler), so no database connection, socket or thread is shared between them.

Each worker gets ready before it serves, so the slowest requests are not the ones that find it cold or collecting
garbage: it runs a balance read on each of its database connections (`bot.handlers.reads.warm_up`), then moves
everything built so far out of the garbage collector's reach (`_build_and_freeze`).
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import hmac
import io
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl

from gunicorn.app.base import BaseApplication
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.context import BoltContext
from slack_bolt.request.internals import build_context
from slack_sdk.errors import SlackApiError

from bot.slack import qbo_routes

# creditbot's app (settings, the ledger, the listeners) is imported by the functions that build and check it:
# this module serves any Bolt app, and bench/bot_latency.py's bare one, the floor it is measured against, loads
# none of creditbot's code.
if TYPE_CHECKING:
    from slack_bolt import App

    from bot.settings import Settings
    from ledger.db import Database

log = logging.getLogger("creditbot.server")

# `creditbot serve`'s defaults: two processes a core, four threads each (bench/bot_latency.py).
DEFAULT_WORKERS = max(2, 2 * (os.cpu_count() or 1))
DEFAULT_THREADS = 4
EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
# Slack's requests are a few kilobytes (a modal's submission with every input filled, some tens): 1 MiB is far
# above any of them, and a body over it is refused before it is read.
MAX_BODY_BYTES = 1024 * 1024
# A refused body up to this size is read and dropped, so its sender gets the 413 (not a broken pipe).
_DISCARD_LIMIT = 16 * MAX_BODY_BYTES
# Slack's rule: a request signed more than 5 minutes ago may be a replay.
MAX_SIGNATURE_AGE_S = 5 * 60
# Fields of a `payload=` body (interactivity) that the listeners read, and the JSON type each must have.
_PAYLOAD_SHAPE: dict[str, type | tuple[type, ...]] = {
    "type": str,
    "user": dict,
    "team": (dict, type(None)),
    "channel": (dict, type(None)),
    "container": dict,
    "actions": list,
    "view": dict,
    "message": dict,
    "response_url": str,
    "trigger_id": str,
    "api_app_id": str,
    "enterprise": (dict, type(None)),
    "is_enterprise_install": bool,
    "authorizations": list,
}
_EVENT_SHAPE: dict[str, type | tuple[type, ...]] = {
    "type": str,
    "event": dict,
    "team_id": str,
    "event_id": str,
    "api_app_id": str,
    "challenge": str,
    "authorizations": list,
    "enterprise_id": (str, type(None)),
    "is_enterprise_install": bool,
}
# Inside a mention or a message event: the fields their listeners read (other events, such as `team_join` whose
# `user` is an object, are Bolt's to route and are not checked here).
_CHECKED_EVENTS = ("app_mention", "message")
_INNER_EVENT_SHAPE: dict[str, type | tuple[type, ...]] = {
    "type": str,
    "subtype": str,
    "user": str,
    "channel": str,
    "text": str,
    "ts": str,
    "event_ts": str,
    "thread_ts": str,
    "bot_id": str,
    "channel_type": str,
}

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
        try:
            parsed = FormRequest(body=request.get_body(), query=request.query_string, headers=request.get_headers())
        except (TypeError, AttributeError, KeyError, ValueError) as unreadable:
            # Bolt reads the user, team and channel of every payload to build its context; a signed body whose
            # fields have shapes Slack never sends (say an event's `user` that is a number) breaks that reading.
            log.warning("refused a signed request Bolt cannot read (%s)", type(unreadable).__name__)
            return BoltResponse(status=400, body="the request's fields are not the shapes Slack sends")
        return self.app.dispatch(parsed)


class Refused(Exception):
    """A request answered before Bolt sees it: an HTTP status and a short reason (never the request's content)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.fingerprint = "body not read"


class SlackRequestGuard:
    """What a request to /slack/events must be before Bolt parses it (see the module docstring)."""

    def __init__(self, signing_secret: str, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self._secret = signing_secret.encode()
        self.max_body_bytes = max_body_bytes

    def checked_body(self, environ: dict[str, Any]) -> bytes:
        """The request's body, signed by Slack and of a shape the listeners can read; else raises Refused."""
        raw = self._read(environ)
        if _is_ssl_check(raw):
            return raw  # Slack's certificate check: Bolt answers it with an empty 200 and nothing else happens
        try:
            self._verify(raw, environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"), environ.get("HTTP_X_SLACK_SIGNATURE"))
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise Refused("400 Bad Request", "the body is not UTF-8") from None
            problem = shape_problem(text, environ.get("CONTENT_TYPE") or "")
            if problem is not None:
                raise Refused("400 Bad Request", problem)
        except Refused as refused:
            refused.fingerprint = request_fingerprint(raw)
            raise
        return raw

    def _read(self, environ: dict[str, Any]) -> bytes:
        declared = str(environ.get("CONTENT_LENGTH") or "").strip()
        if declared and not declared.isdigit():
            raise Refused("400 Bad Request", "Content-Length is not a number")
        if declared and int(declared) > self.max_body_bytes:
            too_large = Refused("413 Content Too Large", f"the body is over {self.max_body_bytes} bytes")
            too_large.fingerprint = f"{int(declared)} bytes declared, not kept"
            _discard(environ.get("wsgi.input"), int(declared))
            raise too_large
        stream = environ.get("wsgi.input")
        if stream is None:
            return b""
        # Without a Content-Length (chunked), read one byte past the cap to know whether it is over.
        raw = stream.read(int(declared)) if declared else stream.read(self.max_body_bytes + 1)
        if len(raw) > self.max_body_bytes:
            raise Refused("413 Content Too Large", f"the body is over {self.max_body_bytes} bytes")
        return raw

    def _verify(self, raw: bytes, timestamp: str | None, signature: str | None) -> None:
        """Slack's v0 signature: HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret, on the raw bytes."""
        if not timestamp or not signature:
            raise Refused("401 Unauthorized", "no Slack signature")
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            raise Refused("401 Unauthorized", "X-Slack-Request-Timestamp is not a number")
        if abs(time.time() - int(timestamp)) > MAX_SIGNATURE_AGE_S:
            raise Refused("401 Unauthorized", "the signature is more than 5 minutes old")
        expected = "v0=" + hmac.new(self._secret, b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise Refused("401 Unauthorized", "the signature does not match")


def _is_ssl_check(raw: bytes) -> bool:
    """Slack's `ssl_check=1` probe of a slash command's URL, which Bolt answers before verifying a signature."""
    if len(raw) > 1024 or b"ssl_check=1" not in raw:
        return False
    try:
        form = parse_qs(raw.decode("ascii"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return False
    return form.get("ssl_check") == ["1"] and not {"payload", "command", "text"} & set(form)


def _discard(stream: Any, length: int) -> None:
    """Read a refused body in small chunks without keeping it, so the sender gets the 413 rather than a broken
    pipe; a body more than `_DISCARD_LIMIT` bytes long is not read at all (the connection closes on it)."""
    if stream is None or length > _DISCARD_LIMIT:
        return
    while length > 0:
        chunk = stream.read(min(length, 64 * 1024))
        if not chunk:
            return
        length -= len(chunk)


def shape_problem(text: str, content_type: str) -> str | None:
    """Why a signed body is not one Slack sends, or None: JSON events, forms, and forms carrying `payload=` JSON."""
    if "application/json" in content_type or text.startswith("{"):
        return _json_object_problem(text, "the JSON body", _EVENT_SHAPE)
    try:
        form = parse_qs(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (ValueError, UnicodeDecodeError):
        return "the form body cannot be decoded"
    if "payload" in form:
        return _json_object_problem(form["payload"][0], "payload", _PAYLOAD_SHAPE)
    return None


def _json_object_problem(text: str, what: str, shape: dict[str, type | tuple[type, ...]]) -> str | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return f"{what} is not JSON"
    if not isinstance(value, dict):
        return f"{what} is not a JSON object"
    for name, expected in shape.items():
        if name in value and not isinstance(value[name], expected):
            return f"{what}'s {name} has the wrong type"
    event = value.get("event")
    checked = isinstance(event, dict) and event.get("type") in _CHECKED_EVENTS
    if checked and not isinstance(event.get("channel"), str):
        return f"{what}'s {event.get('type')} event has no channel"  # the answer goes to that channel
    for name, expected in _INNER_EVENT_SHAPE.items() if checked else ():
        if name in value["event"] and not isinstance(value["event"][name], expected):
            return f"{what}'s event.{name} has the wrong type"
    if isinstance(value.get("authorizations"), list) and not all(isinstance(a, dict) for a in value["authorizations"]):
        return f"{what}'s authorizations are not objects"
    actions = value.get("actions")
    if isinstance(actions, list) and not all(isinstance(action, dict) for action in actions):
        return f"{what}'s actions are not objects"
    if value.get("type") == "block_actions" and not actions:
        return f"{what} is a block_actions without actions"
    for action in actions or ():
        if not all(isinstance(action.get(name, ""), str) for name in ("action_id", "block_id", "value", "type")):
            return f"{what}'s action has a field of the wrong type"
    return None


def request_fingerprint(raw: bytes) -> str:
    """How a request is named in the log: its size and hash, never its content."""
    return f"{len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()[:16]}"


def wsgi_app(app: App, max_body_bytes: int = MAX_BODY_BYTES) -> WsgiApp:
    """The Bolt app on /slack/events behind `SlackRequestGuard`, plus /healthz and QuickBooks' /qbo/callback and
    /qbo/webhooks."""
    slack = _SlackRequests(app, path=EVENTS_PATH)
    services = qbo_routes.services_of(app)
    # Bolt keeps the signing secret it verifies with; an app built without one (request verification off) has none.
    signing_secret = getattr(app, "_signing_secret", "") or ""
    guard = SlackRequestGuard(signing_secret, max_body_bytes) if signing_secret else None

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        if guard is not None and environ.get("PATH_INFO") == EVENTS_PATH and environ.get("REQUEST_METHOD") == "POST":
            try:
                raw = guard.checked_body(environ)
            except Refused as refused:
                log.warning("refused a request to %s: %s (%s)", EVENTS_PATH, refused.reason, refused.fingerprint)
                return _refusal(start_response, refused)
            environ = {**environ, "wsgi.input": io.BytesIO(raw), "CONTENT_LENGTH": str(len(raw))}
        return slack(environ, start_response)

    return qbo_routes.with_qbo_routes(application, *services) if services else application


def _refusal(start_response: StartResponse, refused: Refused) -> list[bytes]:
    body = json.dumps({"error": refused.reason}).encode()
    start_response(refused.status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def preload_read_only(settings: Settings) -> None:
    """What every worker would load alike, loaded once in the master before the fork: the FAQ (its built index,
    and the hybrid backend's model), the listeners and the ledger's code, and the Bolt app itself
    (`prepare_app`)."""
    from bot.handlers import faq_answers

    if not faq_answers.build_saved(settings.faq_backend):
        _in_a_child(faq_answers.warm_up, settings.faq_backend)
    faq_answers.warm_up(settings.faq_backend)
    prepare_app(settings)


# The Bolt app and its database, built in the master by `prepare_app` (None until then, and in any other process).
_prepared: tuple[App, Database] | None = None


def prepare_app(settings: Settings) -> None:
    """Build the Bolt app (its listeners, middleware and web client) once, in the master, for every worker.

    Built in each worker after the fork, it cost each one 2 MiB more memory of its own (bench/startup_bench.py
    --rows serve, 4 workers: 14.1 against 12.2 MiB USS a worker, 157 against 150 MiB PSS for the server): its
    objects went into the holes that loading left in pages the workers otherwise share, so each worker copied
    those pages. The app holds no connection, socket or thread yet: the database engine has no
    connection open when the workers fork, and each worker starts its own scheduler (`creditbot_wsgi_app`).
    """
    global _prepared
    from bot.settings import open_database
    from bot.slack.app import create_app

    db = open_database(settings)
    _prepared = (create_app(settings, db), db)


def _in_a_child(build: Callable[[str], None], backend: str) -> None:
    """Run `build` once in a forked child first (when there is no saved build yet), so what it saves to its cache
    (the FAQ's built index) is there when the master loads it.

    Building the index in the master left its garbage there, freed but scattered: each worker's first allocations
    reused those pages and copied them (with no cache, the server took 160 MiB, not 148). Loaded from the cache,
    the master holds only the index. If the cache cannot be written, the master builds it again itself.
    """
    try:
        child = multiprocessing.get_context("fork").Process(target=build, args=(backend,), daemon=True)
        child.start()
        child.join()
    except (OSError, ValueError):  # no fork (ValueError) or no process to spare: not needed, only leaner
        log.debug("could not build the FAQ in a child process; the master builds it", exc_info=True)


def creditbot_wsgi_app(threads: int = 1) -> WsgiApp:
    """Made ready in each worker (after the fork), so no database connection, socket or thread is shared between
    them: the app `prepare_app` built in the master (else one built here), its scheduler and its connections.

    `threads`: the worker's request threads, so as many database connections are warmed up before it serves.
    """
    from bot.handlers import reads
    from bot.handlers.context import Services
    from bot.settings import get_settings, open_database, unreachable
    from bot.slack.app import create_app, run_startup_hooks

    settings = get_settings()
    if _prepared is not None:
        app, db = _prepared
        db.forget_inherited_connections()
    else:
        db = open_database(settings)
        app = create_app(settings, db)
    run_startup_hooks(app, settings, db)
    try:
        reads.warm_up(Services(settings, db), connections=threads)
    except Exception as failed:
        # Warming up only saves the first requests some milliseconds; a worker that could not still serves (and
        # answers "the ledger is unreachable" until the database is back).
        down = unreachable(failed, settings.database_url)
        if down is not None:
            log.warning("could not warm up the balance read: %s", down.message)
        else:
            log.warning("could not warm up the balance read; the first requests will be slower", exc_info=True)
    return wsgi_app(app)


def check_startup(settings: Settings) -> None:
    """Everything `serve` needs, checked before the first worker starts; raises StartupError or MissingSetting."""
    from bot.settings import open_database, qbo_config, qbo_configured, unreachable
    from bot.slack.app import HTTP_SETTINGS, require_settings, web_client
    from ledger.errors import LedgerError

    require_settings(settings, HTTP_SETTINGS, "serve")
    if qbo_configured(settings):
        try:
            qbo_config(settings)
        except LedgerError as incomplete:  # QuickBooks half set up: say what is missing before any worker starts
            raise StartupError(incomplete.message) from None
    db = open_database(settings)
    try:
        db.ensure_schema()
    except Exception as failed:
        down = unreachable(failed, settings.database_url)
        if down is None:
            raise
        raise down from None
    finally:
        db.dispose()
    try:
        web_client(settings).auth_test()
    except SlackApiError as refused:
        error = refused.response.get("error") or refused.response.status_code
        raise StartupError(f"Slack refused SLACK_BOT_TOKEN ({error}); check the token of your Slack app.") from None
    except OSError as no_answer:
        raise StartupError(f"Cannot reach Slack's Web API at {settings.slack_api_url} ({no_answer}).") from None


class BuiltInEachWorker:
    """The WSGI app gunicorn preloads in the master: empty until a worker builds it, after the fork (`build`)."""

    def __init__(self, load_app: Callable[[], WsgiApp]) -> None:
        self._load_app = load_app
        self._app: WsgiApp | None = None

    def build(self) -> None:
        self._app = self._load_app()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        assert self._app is not None, "a worker serves only after post_worker_init built its app"
        return self._app(environ, start_response)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(
        self, load_app: Callable[[], WsgiApp], options: dict[str, Any], preload: Callable[[], None] | None
    ) -> None:
        self._load_app = load_app
        self._options = options
        self._preload = preload
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self) -> WsgiApp:
        """Run in the master (preload_app): load what the workers share, then keep it out of every collection."""
        if self._preload is not None:
            self._preload()
        gc.collect()
        return_freed_memory()
        gc.freeze()
        return BuiltInEachWorker(self._load_app)


def _build_and_freeze(worker: Any) -> None:
    """Gunicorn's post_worker_init hook: build this worker's app, then keep what it built out of every garbage
    collection.

    A worker starts with some 120,000 objects (Bolt, SQLAlchemy, the FAQ index) that live as long as it does.
    Python's full collections walked them all: serving 8 concurrent balance requests, each worker ran one within
    its first half minute, holding every request of that worker for 90 to 140 ms of CPU (150 to 470 ms on a busy
    machine): the slowest requests (gc.callbacks in workers under bench/bot_latency.py). Frozen, they are skipped
    (a full collection then takes 0.2 ms); the garbage that requests make is still collected as before.
    """
    worker.wsgi.build()
    gc.collect()
    return_freed_memory()
    gc.freeze()


def return_freed_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's `malloc_trim`; elsewhere nothing happens).

    Loading and building leave freed memory behind (temporary objects, buffers): in the master it
    would be inherited by every worker and counted in the server's memory, in a worker it is private to it.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def run_server(
    load_app: Callable[[], WsgiApp],
    host: str,
    port: int,
    workers: int,
    threads: int,
    access_log: bool = False,
    preload: Callable[[], None] | None = None,
) -> None:
    """Serve the WSGI app `load_app()` builds in each worker, until interrupted (SIGINT/SIGTERM); `preload()`
    runs once in the master before the workers are forked (what they share copy-on-write)."""
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
        "preload_app": True,
        "post_worker_init": _build_and_freeze,
    }
    _Gunicorn(load_app, options, preload).run()
