"""Socket Mode: the same Bolt app over a WebSocket Slack opens to us (no public URL needed).

Uses slack_bolt's websocket-client adapter with SLACK_APP_TOKEN (an app-level token with connections:write).
Requests arrive inside the WebSocket, so there is no HTTP signature to check; acknowledgements go back the
same way, carrying the same ephemeral replies as HTTP mode.
"""

from __future__ import annotations

from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler

from bot.settings import Settings, open_database
from bot.slack.app import SOCKET_SETTINGS, create_app, require_settings, run_startup_hooks, secret
from ledger.db import Database


def socket_mode_handler(settings: Settings, db: Database) -> SocketModeHandler:
    require_settings(settings, SOCKET_SETTINGS, "socket")
    app = create_app(settings, db, request_verification_enabled=False)
    return SocketModeHandler(app, secret(settings.slack_app_token))


def run_socket_mode(settings: Settings) -> None:
    """Connect and serve until interrupted."""
    require_settings(settings, SOCKET_SETTINGS, "socket")
    db = open_database(settings)
    db.ensure_schema()
    handler = socket_mode_handler(settings, db)
    run_startup_hooks(handler.app, settings, db)
    handler.start()
