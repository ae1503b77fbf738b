"""The Bolt app, built by a factory: Bolt calls Slack's `auth.test` when an App is made, so nothing builds one
at import time, and tests build theirs against a local stand-in for Slack's Web API (`SLACK_API_URL`).

`process_before_response=True`: Bolt runs a listener to the end and returns its acknowledgement at once,
instead of running it in a thread and polling for `ack()` every 10 ms. Every fast answer is computed inside
the acknowledgement; slow work goes to lazy listeners.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from pydantic import SecretStr
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.handlers import builtin, faq_answers
from bot.handlers.context import Services
from bot.jobs import scheduler
from bot.settings import Settings
from bot.slack import qbo_routes
from bot.slack.listeners import register_listeners
from bot.slack.listeners.payloads import SERVICES
from ledger.db import Database

log = logging.getLogger("creditbot.bot")

# Where each setting is found, for the one line that says it is missing.
SETTING_HINTS = {
    "SLACK_BOT_TOKEN": "the Bot User OAuth Token, xoxb-…, under OAuth & Permissions",
    "SLACK_SIGNING_SECRET": "the Signing Secret under Basic Information → App Credentials",
    "SLACK_APP_TOKEN": "an app-level token, xapp-…, with connections:write, under Basic Information",
}
HTTP_SETTINGS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
SOCKET_SETTINGS = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")

# Called once per running app (each server worker, the Socket Mode process), not in tests or the console:
# background work such as the scan scheduler starts here. hook(app, settings, db).
STARTUP_HOOKS: list[Callable[[App, Settings, Database], None]] = [scheduler.on_app_startup]


class MissingSetting(Exception):
    def __init__(self, name: str, command: str) -> None:
        hint = SETTING_HINTS.get(name, "")
        super().__init__(
            f"creditbot {command} needs {name} ({hint} of your Slack app); set it in the environment or in .env."
        )
        self.name = name


def require_settings(settings: Settings, names: Iterable[str], command: str) -> None:
    """Stop start-up with one clear line naming the first missing setting."""
    values = {
        "SLACK_BOT_TOKEN": settings.slack_bot_token,
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret,
        "SLACK_APP_TOKEN": settings.slack_app_token,
    }
    for name in names:
        if not secret(values[name]):
            raise MissingSetting(name, command)


def secret(value: SecretStr | None) -> str:
    return value.get_secret_value().strip() if value is not None else ""


def web_client(settings: Settings) -> WebClient:
    """Slack's Web API at SLACK_API_URL; a rate-limited call is retried once after Slack's Retry-After, and no call
    waits longer than CREDITBOT_SLACK_TIMEOUT_SECONDS."""
    base_url = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    client = WebClient(
        token=secret(settings.slack_bot_token) or None,
        base_url=base_url,
        timeout=settings.slack_timeout_seconds,  # type: ignore[arg-type]  (urllib takes a float)
    )
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    return client


def create_app(
    settings: Settings,
    db: Database,
    *,
    client: WebClient | None = None,
    token_verification_enabled: bool = True,
    request_verification_enabled: bool = True,
    extra_admins: frozenset[str] = frozenset(),
) -> App:
    """The creditbot Bolt app over `db`. Needs SLACK_BOT_TOKEN; HTTP mode also needs SLACK_SIGNING_SECRET."""
    builtin.install()
    faq_answers.warm_up(settings.faq_backend)
    app = App(
        name="creditbot",
        client=client or web_client(settings),
        signing_secret=secret(settings.slack_signing_secret),
        process_before_response=True,
        token_verification_enabled=token_verification_enabled,
        request_verification_enabled=request_verification_enabled,
        logger=log,
    )
    services = Services(settings, db, extra_admins)

    def attach_services(context: dict[str, object], next: Callable[[], object]) -> object:  # Bolt names it `next`
        context[SERVICES] = services
        return next()

    app.use(attach_services)
    register_listeners(app)
    qbo_routes.remember(app, services.settings, services.db)
    return app


def run_startup_hooks(app: App, settings: Settings, db: Database) -> None:
    for hook in STARTUP_HOOKS:
        hook(app, settings, db)
