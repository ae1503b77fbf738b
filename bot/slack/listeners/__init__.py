"""Slack listeners, one module per kind (Slack's bolt-python starter template layout).

Each module has `register(app)`. To add listeners, append a module to `LISTENER_MODULES`. Bolt runs the first
listener that matches a request, so a module listed later cannot take over a request an earlier one handles:
to change what a subcommand or a button does, register a handler in `bot.handlers.registry` instead.
"""

from __future__ import annotations

from types import ModuleType

from slack_bolt import App

from bot.slack.listeners import actions, events, forms, home, reports, slash

# forms and reports take the `/credit` lines they answer (a form's subcommand alone, `report ...`) before slash;
# home takes clicks on the home tab before actions (a home tab has no response_url).
LISTENER_MODULES: list[ModuleType] = [forms, reports, home, slash, actions, events]


def register_listeners(app: App) -> None:
    for module in LISTENER_MODULES:
        module.register(app)
