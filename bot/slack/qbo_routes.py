"""QuickBooks Online's HTTP endpoints on `creditbot serve`, in front of the Slack app.

- `GET /qbo/callback`: where Intuit sends the browser after a QuickBooks admin connected (QBO_REDIRECT_URI); it
  completes the connection (checks `state`, exchanges `code`, stores `realmId` and the tokens) and says so.
- `POST /qbo/webhooks`: Intuit's change notifications. The `intuit-signature` header must be the base64
  HMAC-SHA256 of the raw body under QBO_WEBHOOK_VERIFIER_TOKEN (else 401). It is answered at once (Intuit wants
  an answer within seconds); a background thread then reads each changed entity by id and applies it.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from wsgiref.util import request_uri

from ledger.errors import LedgerError

# Settings, the ledger and the QuickBooks webhooks are imported where they are used: an HTTP server that carries
# no creditbot app (bench/bot_latency.py's bare Bolt app, the memory floor) loads none of them.
if TYPE_CHECKING:
    from bot.settings import Settings
    from ledger.db import Database
    from ledger.qbo import webhooks

log = logging.getLogger("creditbot.qbo")

CALLBACK_PATH = "/qbo/callback"
WEBHOOKS_PATH = "/qbo/webhooks"
MAX_WEBHOOK_BYTES = 1_000_000

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# Each app's settings and database, for `with_qbo_routes` (set by bot.slack.app.create_app).
_SERVICES: dict[int, tuple[Settings, Database]] = {}


def remember(app: object, settings: Settings, db: Database) -> None:
    _SERVICES[id(app)] = (settings, db)


def services_of(app: object) -> tuple[Settings, Database] | None:
    return _SERVICES.get(id(app))


def with_qbo_routes(slack: WsgiApp, settings: Settings, db: Database) -> WsgiApp:
    """`slack`, with /qbo/callback and /qbo/webhooks answered first."""

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == CALLBACK_PATH:
            return _callback(environ, start_response, settings, db) if method == "GET" else _status(start_response, 405)
        if path == WEBHOOKS_PATH:
            return _webhook(environ, start_response, settings, db) if method == "POST" else _status(start_response, 405)
        return slack(environ, start_response)

    return application


def _callback(environ: dict[str, Any], start_response: StartResponse, settings: Settings, db: Database) -> list[bytes]:
    from bot.handlers.quickbooks import live_quickbooks
    from bot.settings import qbo_configured

    try:
        if not qbo_configured(settings):
            return _page(start_response, 404, "QuickBooks Online is not set up here (QBO_CLIENT_ID is empty).")
        status = live_quickbooks(settings, db).connection.complete(request_uri(environ), "qbo:callback")
    except LedgerError as refused:
        return _page(start_response, 400, refused.message)
    except Exception:
        log.exception("completing the QuickBooks connection failed")
        return _page(start_response, 500, "Something went wrong on creditbot's side; try `creditbot qb connect`.")
    return _page(
        start_response,
        200,
        f"creditbot is connected to QuickBooks company {status.realm_id}. It polls QuickBooks every few minutes "
        "from now on; you can close this page.",
    )


def _webhook(environ: dict[str, Any], start_response: StartResponse, settings: Settings, db: Database) -> list[bytes]:
    from ledger.qbo import webhooks

    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_WEBHOOK_BYTES:
        return _status(start_response, 413)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    token = settings.qbo_webhook_verifier_token.get_secret_value() if settings.qbo_webhook_verifier_token else ""
    if not webhooks.signature_is_valid(token, body, environ.get("HTTP_INTUIT_SIGNATURE")):
        return _status(start_response, 401)
    notices = webhooks.read_notices(body)
    if notices:
        threading.Thread(target=_apply_notices, args=(settings, db, notices), daemon=True).start()
    return _status(start_response, 200)


def _apply_notices(settings: Settings, db: Database, notices: list[webhooks.ChangeNotice]) -> None:
    from bot.handlers.quickbooks import live_quickbooks
    from bot.jobs.quickbooks import post_error_alert
    from ledger.qbo import webhooks

    live = live_quickbooks(settings, db)
    try:
        realm = live.connection.status().realm_id
        if realm:
            summary = webhooks.apply_notices(db, live.api, notices, realm)
            log.info("QuickBooks webhook: %s", summary.counts())
    except LedgerError as refused:
        log.warning("QuickBooks webhook not applied: %s", refused.message)
        live.connection.record_error(f"a QuickBooks webhook could not be applied: {refused.message}")
        post_error_alert(settings, live)
    except Exception:
        log.exception("QuickBooks webhook failed")


def _status(start_response: StartResponse, status: int) -> list[bytes]:
    reason = {200: "OK", 401: "Unauthorized", 405: "Method Not Allowed", 413: "Payload Too Large"}[status]
    start_response(f"{status} {reason}", [("Content-Type", "text/plain"), ("Content-Length", str(len(reason)))])
    return [reason.encode()]


def _page(start_response: StartResponse, status: int, text: str) -> list[bytes]:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}[status]
    body = f"<!doctype html><title>creditbot and QuickBooks</title><p>{html.escape(text)}</p>".encode()
    start_response(
        f"{status} {reason}", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]
