"""Posting new findings to the billing channel, each exactly once.

The order that makes it exactly once (the database side is `ledger.scans.alerting`):
1. The scan stored every finding (unique fingerprint) with its alert pending, before any of this runs.
2. A short transaction claims a batch of pending alerts; two posters at once claim disjoint batches.
3. The message is posted outside any transaction, with slack_sdk's retry handlers (429 honouring Retry-After,
   500/503, dropped connections) and the claim token in its metadata.
4. A short transaction records channel and ts. If Slack still fails, the batch goes back to pending and the next
   run posts it: nothing is lost.

The crash window between 3 and 4: the rows stay "posting" with the claim token as their attempt. After the
lease, the next run searches the channel for a message carrying that token (`conversations.history` with
metadata) and records it instead of posting again. If the channel cannot be searched (no `channels:history`
scope, or the channel is configured by name rather than id) it posts again: a repeated alert is the lesser harm
than a lost one about money counted twice. A failure after which Slack might have posted (a 5xx, a dropped
response) is treated the same way at the next run.

Within one post, slack_sdk may retry after a 5xx or a lost answer although Slack had already posted the first
attempt. When that happened, the channel is searched for the claim token and only the first copy is kept (the
others are deleted), so the retry cannot leave two messages either: whether the last attempt got an answer or
every answer was lost (then the post counts as done if a copy is found), and again at the next run's recovery
of an earlier attempt, which keeps the first copy and deletes the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler

from bot.render.findings import PER_MESSAGE, alert_blocks, alert_text
from bot.settings import Settings
from ledger import scans
from ledger.db import Database
from ledger.scans import AlertBatch
from ledger.tables import utcnow

log = logging.getLogger("creditbot.alerts")

METADATA_EVENT = "creditbot_scan_alert"
# Covers a run's whole backlog in normal use; anything left waits for the next run (it is never dropped).
MAX_MESSAGES_PER_RUN = 20
_HISTORY_PAGES = 5
# Slack's clock and ours may differ a little; look a bit before the attempt.
_HISTORY_MARGIN = timedelta(minutes=5)


class AlertsNotConfigured(Exception):
    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"Alerts need {' and '.join(missing)}; the findings are stored and their alerts wait.")
        self.missing = missing


@dataclass
class AlertReport:
    posted: int = 0  # findings now in the channel (posted by this run)
    recovered: int = 0  # findings whose earlier, unrecorded post was found in the channel
    messages: list[str] = field(default_factory=list)  # ts of messages this run posted
    failed: str | None = None  # why posting stopped; the rest stays pending


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


def retry_handlers(backoff_factor: float = 0.5, max_retries: int = 3) -> list[RetryHandler]:
    """slack_sdk's own handlers: rate limits (honouring Retry-After), server errors, dropped connections."""
    backoff = BackoffRetryIntervalCalculator(backoff_factor=backoff_factor)
    return [
        RateLimitErrorRetryHandler(max_retry_count=max_retries),
        _ServerErrorRetryHandler(max_retry_count=max_retries, interval_calculator=backoff),
        _ConnectionErrorRetryHandler(max_retry_count=max_retries, interval_calculator=backoff),
    ]


def _uncertain_retries(client: WebClient) -> int:
    return sum(handler.retried for handler in client.retry_handlers if isinstance(handler, _CountsRetries))


def alert_client(settings: Settings, backoff_factor: float = 0.5) -> WebClient:
    missing = missing_alert_settings(settings)
    if missing:
        raise AlertsNotConfigured(missing)
    assert settings.slack_bot_token is not None
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=15,
        retry_handlers=retry_handlers(backoff_factor),
    )


def missing_alert_settings(settings: Settings) -> list[str]:
    missing = []
    if settings.slack_bot_token is None or not settings.slack_bot_token.get_secret_value().strip():
        missing.append("SLACK_BOT_TOKEN")
    if not settings.alert_channel:
        missing.append("CREDITBOT_ALERT_CHANNEL")
    return missing


def post_pending_alerts(db: Database, settings: Settings, client: WebClient | None = None) -> AlertReport:
    """Post every pending alert (in messages of up to PER_MESSAGE findings); see the module docstring."""
    client = client or alert_client(settings)
    channel = settings.alert_channel
    if not channel:
        raise AlertsNotConfigured(["CREDITBOT_ALERT_CHANNEL"])
    report = AlertReport()
    for _message in range(MAX_MESSAGES_PER_RUN):
        batch = scans.claim_alerts(db, limit=PER_MESSAGE)
        if batch is None:
            break
        if not _post_batch(db, client, channel, batch, report):
            break
    return report


def _post_batch(db: Database, client: WebClient, channel: str, batch: AlertBatch, report: AlertReport) -> bool:
    """Post one claimed batch; False when Slack failed (the batch is released for the next run)."""
    to_post = _recover_earlier_posts(db, client, channel, batch, report)
    if not to_post:
        return True
    findings = [finding for finding in batch.findings if finding.id in to_post]
    attempted_at = utcnow()
    scans.mark_attempt(db, batch.claim, to_post, now=attempted_at)
    retries_before = _uncertain_retries(client)
    try:
        response = client.chat_postMessage(
            channel=channel,
            text=alert_text(findings),
            blocks=alert_blocks(findings),
            metadata={"event_type": METADATA_EVENT, "event_payload": {"claim": batch.claim}},
            unfurl_links=False,
        )
    except (SlackApiError, SlackClientError, OSError) as failure:
        if _uncertain_retries(client) > retries_before or _uncertain(failure):
            # Slack may have posted one copy per attempt although every answer was lost: look before giving up.
            kept = _keep_one_copy(client, channel, batch.claim, attempted_at - _HISTORY_MARGIN)
            if kept is not None:
                report.posted += scans.record_posted(db, batch.claim, to_post, channel, kept)
                report.messages.append(kept)
                return True
        scans.release(db, batch.claim)
        report.failed = _why(failure)
        log.warning("alert post failed, %d findings stay pending: %s", len(findings), report.failed)
        return False
    ts, posted_channel = str(response["ts"]), str(response.get("channel") or channel)
    if _uncertain_retries(client) > retries_before:
        oldest = min(attempted_at - _HISTORY_MARGIN, datetime.fromtimestamp(float(ts), UTC) - _HISTORY_MARGIN)
        ts = _keep_one_copy(client, posted_channel, batch.claim, oldest) or ts
    recorded = scans.record_posted(db, batch.claim, to_post, posted_channel, ts)
    if recorded != len(to_post):
        # Only possible when this post outlived the lease and another run took the batch over.
        log.warning("alert %s posted but %d of %d findings were taken over", ts, len(to_post) - recorded, len(to_post))
    report.posted += recorded
    report.messages.append(ts)
    return True


def _recover_earlier_posts(
    db: Database, client: WebClient, channel: str, batch: AlertBatch, report: AlertReport
) -> list[int]:
    """Record the batch's findings whose earlier post is in the channel; return the ids still to post.

    An earlier attempt whose answers were all lost may have left one copy per attempt slack_sdk made: the first
    is kept and recorded, the others are deleted."""
    to_post = set(batch.ids)
    for attempt in batch.earlier_attempts:
        ts = _keep_one_copy(client, channel, attempt.token, attempt.attempted_at - _HISTORY_MARGIN)
        if ts is None:
            continue
        recorded = scans.record_posted(db, batch.claim, attempt.finding_ids, channel, ts)
        report.recovered += recorded
        to_post -= set(attempt.finding_ids)
    return sorted(to_post)


def _keep_one_copy(client: WebClient, channel: str, token: str, oldest: datetime) -> str | None:
    """The ts of the first message carrying `token` in the channel, the later copies deleted; None if none is
    found or the channel cannot be searched (then the alert is posted again: a repeat is the lesser harm)."""
    copies = _copies(client, channel, token, oldest)
    if not copies:
        return None
    for extra in copies[1:]:
        try:
            client.chat_delete(channel=channel, ts=extra)
        except (SlackApiError, SlackClientError, OSError) as failure:
            log.warning("cannot delete the repeated alert %s in %s (%s)", extra, channel, _why(failure))
    if len(copies) > 1:
        log.info("alert %s was posted %d times while Slack's answers were lost; kept the first", token, len(copies))
    return copies[0]


def _copies(client: WebClient, channel: str, token: str, oldest: datetime) -> list[str]:
    """Every message in the channel since `oldest` carrying the claim token, oldest first ([] if unsearchable)."""
    found: list[str] = []
    cursor = None
    try:
        for _page in range(_HISTORY_PAGES):
            page = client.conversations_history(
                channel=channel, oldest=f"{oldest.timestamp():.6f}", include_all_metadata=True, limit=200,
                cursor=cursor,
            )  # fmt: skip
            found.extend(str(message["ts"]) for message in page.get("messages", []) if _claim_of(message) == token)
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
    except (SlackApiError, SlackClientError, OSError) as failure:
        log.warning("cannot search %s for an earlier alert (%s); posting it again", channel, _why(failure))
    return sorted(found, key=float)


def _claim_of(message: dict[str, Any]) -> str | None:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != METADATA_EVENT:
        return None
    return (metadata.get("event_payload") or {}).get("claim")


def _uncertain(failure: Exception) -> bool:
    """A failure after which Slack may have carried out the post: a 5xx or a connection lost mid-answer."""
    if isinstance(failure, SlackApiError):
        return failure.response.status_code >= 500
    return isinstance(failure, OSError | SlackClientError)


def _why(failure: Exception) -> str:
    if isinstance(failure, SlackApiError):
        return f"Slack answered {failure.response.status_code}: {failure.response.get('error', 'error')}"
    return f"{type(failure).__name__}: {failure}"
