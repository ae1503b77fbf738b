"""The FAQ's retrieval backends by name: what the bot's settings read without loading the FAQ itself."""

from __future__ import annotations

from typing import Literal

Backend = Literal["static", "tfidf", "hybrid"]
BACKEND_ENV = "CREDITBOT_FAQ_BACKEND"
DEFAULT_BACKEND: Backend = "static"


def backend_name(value: str) -> str:
    """A backend name as people write it ("Hybrid ", or blank for the default), in the form `Backend` uses; the bot's
    settings read CREDITBOT_FAQ_BACKEND through this too, so both accept the same spellings."""
    return value.strip().lower() or DEFAULT_BACKEND
