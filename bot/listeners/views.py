"""Modal submissions. The bot opens no modals yet; this module keeps the starter template's layout."""

from __future__ import annotations

from slack_bolt import App


def register(app: App) -> None:
    """Nothing to register yet."""
