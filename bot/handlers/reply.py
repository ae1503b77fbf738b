"""What a handler answers: Block Kit blocks plus a plain-text fallback, and messages for a channel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

Blocks = list[dict[str, Any]]


@dataclass(frozen=True)
class Announcement:
    """A message for a channel rather than only the person who asked (e.g. an approval request)."""

    text: str
    blocks: Blocks
    # Names this message in its metadata, so that a post whose answer was lost is found rather than repeated.
    token: str
    # None: the channel the request came from.
    channel: str | None = None
    # What to tell the person who asked when no channel would take the message (given Slack's error code).
    if_undelivered: Callable[[str], Reply] | None = None


@dataclass(frozen=True)
class Reply:
    text: str
    blocks: Blocks = field(default_factory=list)
    # True when this request changed the ledger (a replayed request did not).
    wrote: bool = False
    announcements: tuple[Announcement, ...] = ()
    # For button clicks: replace the message that held the button, instead of adding a new one.
    replace_original: bool = False
    # Told privately to the person who clicked, after the message was replaced (what the click did).
    follow_up: Reply | None = None
    # For button clicks: a modal to open with the click's trigger (Slack). Where no modal opens (the console, an
    # expired trigger) the reply's blocks are shown instead, so they say the same with buttons of their own.
    view: dict[str, Any] | None = None

    def without_announcements(self) -> Reply:
        return replace(self, announcements=())
