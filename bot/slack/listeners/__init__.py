"""Slack listeners, one module per kind (Slack's bolt-python starter template layout).

Each module has `register(app)`, and `register_commands(app)` for its `/credit` listeners if it has any. To add
listeners, append a module to `LISTENER_MODULES`. Bolt runs the first listener that matches a request, so a module
listed later cannot take over a request an earlier one handles: to change what a subcommand or a button does,
register a handler in `bot.handlers.registry` instead.

Every module's `/credit` listeners are registered before any other listener (in the modules' order, so which one
answers a line is the same): Bolt tries the listeners in order, and each one it tries on a request costs it some
30 microseconds of matching. With the command listeners behind the forms' shortcuts, buttons and views, every
`/credit` line was tried against 20 listeners first (bench/bot_latency.py).
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
        if hasattr(module, "register_commands"):
            module.register_commands(app)
    for module in LISTENER_MODULES:
        if hasattr(module, "register"):
            module.register(app)
