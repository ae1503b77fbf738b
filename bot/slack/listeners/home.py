"""The App Home tab in Slack: published when a person opens it, again when something it shows changes (at most once
per CREDITBOT_HOME_REFRESH_SECONDS per person: views.publish is rate limited), and after a button on it is used.

Buttons on the home tab (Approve, Reject, Review, a finding's Acknowledge...) are the registry's actions, carried out
the same way as on a message; a home tab has no response_url, so their answer is shown at the top of the redrawn tab
(Review's is a modal, opened with the click's trigger).
The refresher looks at the ledger in a thread of its own every 2 seconds while someone has the tab open (a few index
lookups: `ledger.reports.changes_marker`), so no request waits for it, and writes made elsewhere (the command line, a
scheduled scan, another server process) show up too.
"""

from __future__ import annotations

import logging
import re
import weakref
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.handlers import registry
from bot.handlers.context import Caller, Context, Services
from bot.handlers.home import HomeRefresher, changes_marker, home_view
from bot.slack.listeners.payloads import SERVICES, action_caller, deliver_announcements, open_view

log = logging.getLogger("creditbot.bot")
ANY_ACTION = re.compile(r".+")
POLL_SECONDS = 2.0
_REFRESHERS: weakref.WeakKeyDictionary[Services, HomeRefresher] = weakref.WeakKeyDictionary()


def register(app: App) -> None:
    client = app.client

    def publish_on_open(ack: Ack, event: dict[str, Any], context: dict[str, Any]) -> None:
        ack()
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        refresher = refresher_for(context[SERVICES], client)
        refresher.start(POLL_SECONDS)
        refresher.opened(str(event["user"]))

    def carry_out_on_home(body: dict[str, Any], action: dict[str, Any], context: dict[str, Any]) -> None:
        services = context[SERVICES]
        ctx = Context(services, action_caller(body, action))
        reply = registry.run_action(ctx, str(action.get("action_id", "")), str(action.get("value", "")))
        if reply.view is not None and open_view(client, str(body.get("trigger_id") or ""), reply.view) is None:
            return  # Review: the modal is open; the tab shows nothing new
        if reply.announcements:
            reply = deliver_announcements(ctx, reply)
        told = reply.follow_up.text if reply.follow_up is not None else reply.text
        refresher_for(services, client).publish_now(ctx.caller.user_id, told)

    app.event("app_home_opened")(publish_on_open)
    app.action(ANY_ACTION, matchers=[is_home_click])(ack=_acknowledge, lazy=[carry_out_on_home])


def is_home_click(body: dict[str, Any], action: dict[str, Any]) -> bool:
    view = body.get("view") or {}
    return view.get("type") == "home" and registry.knows_action(str(action.get("action_id", "")))


def _acknowledge(ack: Ack) -> None:
    ack()


def refresher_for(services: Services, client: WebClient) -> HomeRefresher:
    refresher = _REFRESHERS.get(services)
    if refresher is None:
        refresher = HomeRefresher(
            publish=lambda user, notice: publish(client, services, user, notice),
            marker=lambda: changes_marker(_home_context(services, "-")),
            interval=services.settings.home_refresh_seconds,
        )
        _REFRESHERS[services] = refresher
    return refresher


def stop_refreshers() -> None:
    """Stop every home tab refresher of this process (an app shutting down; each test's bot at its end)."""
    for refresher in list(_REFRESHERS.values()):
        refresher.stop()


def publish(client: WebClient, services: Services, user: str, notice: str | None = None) -> None:
    try:
        client.views_publish(user_id=user, view=home_view(_home_context(services, user), notice))
    except SlackApiError as refused:
        log.warning("views.publish for %s refused: %s", user, refused.response.get("error"))


def _home_context(services: Services, user: str) -> Context:
    return Context(services, Caller(user, "-", None, f"slack:{user}", f"home:{user}"))
