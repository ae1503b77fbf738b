"""Where the FAQ keeps what it builds between processes (saved builds, content embeddings): one setting for both."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "CREDITBOT_FAQ_CACHE"


def cache_directory(default_name: str) -> Path:
    """$CREDITBOT_FAQ_CACHE when set (and not empty), else `default_name` in the user's cache directory
    ($XDG_CACHE_HOME, else ~/.cache) under creditbot/."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "creditbot" / default_name
