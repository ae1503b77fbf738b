"""Who is asking, from where, and with what: everything a subcommand handler needs besides its command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.settings import Settings, ledger_rules
from ledger.approvals import WriteRequest
from ledger.db import Database


class Services:
    """The settings and the database, shared by every request and thread of one running app.

    Bolt deep-copies a request's context for lazy listeners; these are shared resources, never copies.
    """

    def __init__(self, settings: Settings, db: Database, extra_admins: frozenset[str] = frozenset()) -> None:
        self.settings = settings
        # The ledger under the configured rules (approval thresholds), whoever built the Database.
        self.db = db.with_rules(ledger_rules(settings))
        # The console's default user is a billing admin, so a newcomer can try writes on the demo ledger.
        self.billing_admins = frozenset(settings.billing_admins) | extra_admins

    def __copy__(self) -> Services:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Services:
        return self


@dataclass(frozen=True)
class ClickedMessage:
    """The message whose button was clicked, so a handler can redraw it (None for typed commands)."""

    channel: str | None
    ts: str | None
    is_ephemeral: bool
    text: str = ""
    blocks: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Caller:
    """The person behind a request, the channel it came from, and the request's idempotency key."""

    user_id: str
    team_id: str
    channel_id: str | None
    # The history's actor: "slack:U123" from Slack, "console:U-CONSOLE" from the console.
    actor: str
    # Derived from the request itself (a slash command's trigger_id, a button's message and value), so a
    # retried or double-clicked request carries the same key and the ledger carries it out once.
    request_key: str
    message: ClickedMessage | None = None

    @property
    def request(self) -> WriteRequest:
        """This request as the ledger's writes take it: who asks, and its idempotency key."""
        return WriteRequest(self.actor, self.request_key)


@dataclass(frozen=True)
class Context:
    services: Services
    caller: Caller

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def is_billing_admin(self) -> bool:
        return self.caller.user_id in self.services.billing_admins
