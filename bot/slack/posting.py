"""Posting a message to a channel once, through Slack's failures: scan alerts and approval requests.

slack_sdk's own retry handlers do the retrying: a rate-limited call (HTTP 429, `ratelimited`) again after its
Retry-After, a 5xx or a dropped connection again after a backoff. A 429 was not carried out, but after a 5xx, a lost
answer or a timeout Slack may have posted all the same, once per attempt. So every message carries a token in its
metadata, and after such a failure (or a success that needed a retry after one) the channel is searched for the
token (`conversations.history` with metadata): the first copy is kept, the later ones deleted, and a message whose
copy is found counts as posted. Nothing is re-posted blindly. If the channel cannot be searched (no
`channels:history` scope, or a channel given by name) the caller decides: alerts post again at the next run (a
repeated alert is the lesser harm than a lost one), an approval request tries the next channel.

Every call has a timeout (CREDITBOT_SLACK_TIMEOUT_SECONDS), and none of this runs before Slack's 3-second
acknowledgement: alerts run in the scheduler or the CLI, announcements after the acknowledgement.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.error import HTTPError, URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler

from bot.settings import Settings

log = logging.getLogger("creditbot.slack")

_HISTORY_PAGES = 5
# Slack's clock and ours may differ a little; look a bit before the attempt.
HISTORY_MARGIN = timedelta(minutes=5)
SLACK_FAILURES = (SlackApiError, SlackClientError, OSError)
# The first retry's wait after a 5xx or a dropped connection, doubling after; a 429 waits Retry-After instead.
BACKOFF_SECONDS = 0.5


class PostFailed(Exception):
    """Slack did not take the message (and no copy of it was found in the channel)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class _CountsRetries(RetryHandler):
    """Counts the retries after which Slack may already have done the first attempt (a 5xx, a lost answer)."""

    retried = 0

    def prepare_for_next_attempt(self, **kwargs: Any) -> None:
        self.retried += 1
        super().prepare_for_next_attempt(**kwargs)


class _ServerErrorRetryHandler(_CountsRetries, ServerErrorRetryHandler):
    pass


class _ConnectionErrorRetryHandler(_CountsRetries, ConnectionErrorRetryHandler):
    pass


def retry_handlers(backoff_factor: float | None = None, max_retries: int = 3) -> list[RetryHandler]:
    """slack_sdk's own handlers: rate limits (honouring Retry-After), server errors, dropped connections."""
    backoff = BackoffRetryIntervalCalculator(backoff_factor=backoff_factor or BACKOFF_SECONDS)
    return [
        RateLimitErrorRetryHandler(max_retry_count=max_retries),
        _ServerErrorRetryHandler(max_retry_count=max_retries, interval_calculator=backoff),
        _ConnectionErrorRetryHandler(max_retry_count=max_retries, interval_calculator=backoff),
    ]


def poster_client(settings: Settings, backoff_factor: float | None = None) -> WebClient:
    """A Web API client for `post_once`: the bot token, the configured timeout, the counted retry handlers."""
    token = settings.slack_bot_token.get_secret_value().strip() if settings.slack_bot_token else ""
    return WebClient(
        token=token or None,
        base_url=settings.slack_api_url,
        timeout=settings.slack_timeout_seconds,  # type: ignore[arg-type]  (urllib takes a float)
        retry_handlers=retry_handlers(backoff_factor),
    )


def _uncertain_retries(client: WebClient) -> int:
    return sum(handler.retried for handler in client.retry_handlers if isinstance(handler, _CountsRetries))


def post_once(
    client: WebClient, channel: str, event_type: str, token: str, attempted_at: datetime, **message: Any
) -> tuple[str, str]:
    """Post `message` carrying `token`; (ts, channel) of the one copy in the channel, or PostFailed."""
    retries_before = _uncertain_retries(client)
    metadata = {"event_type": event_type, "event_payload": {"claim": token}}
    try:
        response = client.chat_postMessage(channel=channel, metadata=metadata, **message)
    except SLACK_FAILURES as failure:
        if _uncertain_retries(client) > retries_before or _uncertain(failure):
            # Slack may have posted one copy per attempt although every answer was lost: look before giving up.
            kept = keep_one_copy(client, channel, event_type, token, attempted_at - HISTORY_MARGIN)
            if kept is not None:
                return kept, channel
        raise PostFailed(why(failure)) from None
    ts, posted_channel = str(response["ts"]), str(response.get("channel") or channel)
    if _uncertain_retries(client) > retries_before:
        oldest = min(attempted_at - HISTORY_MARGIN, datetime.fromtimestamp(float(ts), UTC) - HISTORY_MARGIN)
        ts = keep_one_copy(client, posted_channel, event_type, token, oldest) or ts
    return ts, posted_channel


def keep_one_copy(client: WebClient, channel: str, event_type: str, token: str, oldest: datetime) -> str | None:
    """The ts of the first message carrying `token` in the channel, the later copies deleted; None if none is
    found or the channel cannot be searched."""
    copies = _copies(client, channel, event_type, token, oldest)
    if not copies:
        return None
    for extra in copies[1:]:
        try:
            client.chat_delete(channel=channel, ts=extra)
        except SLACK_FAILURES as failure:
            log.warning("cannot delete the repeated message %s in %s (%s)", extra, channel, why(failure))
    if len(copies) > 1:
        log.info("%s was posted %d times while Slack's answers were lost; kept the first", token, len(copies))
    return copies[0]


def _copies(client: WebClient, channel: str, event_type: str, token: str, oldest: datetime) -> list[str]:
    """Every message in the channel since `oldest` carrying the token, oldest first ([] if unsearchable)."""
    found: list[str] = []
    cursor = None
    try:
        for _page in range(_HISTORY_PAGES):
            page = client.conversations_history(
                channel=channel, oldest=f"{oldest.timestamp():.6f}", include_all_metadata=True, limit=200,
                cursor=cursor,
            )  # fmt: skip
            found.extend(
                str(message["ts"]) for message in page.get("messages", []) if _token_of(message, event_type) == token
            )
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
    except SLACK_FAILURES as failure:
        log.warning("cannot search %s for an earlier post of %s (%s)", channel, token, why(failure))
    return sorted(found, key=float)


def _token_of(message: dict[str, Any], event_type: str) -> str | None:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != event_type:
        return None
    return (metadata.get("event_payload") or {}).get("claim")


def _uncertain(failure: Exception) -> bool:
    """A failure after which Slack may have carried out the post: a 5xx, a connection lost mid-answer, a timeout."""
    if isinstance(failure, SlackApiError):
        return failure.response.status_code >= 500
    if isinstance(failure, URLError) and isinstance(failure.reason, ConnectionRefusedError):
        return False  # nothing reached Slack
    return isinstance(failure, OSError | SlackClientError)


def why(failure: Exception) -> str:
    """What went wrong, in one short line (no token: slack_sdk's errors quote the answer, never the request)."""
    if isinstance(failure, SlackApiError):
        error = str(failure.response.get("error") or "error")
        status = failure.response.status_code
        return error if status == 200 else f"Slack answered {status}: {error}"  # 200: Slack's refusal, by its code
    if isinstance(failure, TimeoutError):
        return "Slack did not answer in time"
    if isinstance(failure, HTTPError):
        return f"Slack answered {failure.code}"
    return f"{type(failure).__name__}: {failure}"
