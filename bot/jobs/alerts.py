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

Within one post, slack_sdk may retry after a 5xx, a lost answer or a timeout although Slack had already posted
the first attempt: `bot.slack.posting.post_once` searches the channel for the claim token and keeps only the first
copy, so the retry cannot leave two messages either, and the next run's recovery of an earlier attempt does the
same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from slack_sdk import WebClient

from bot.render.findings import PER_MESSAGE, alert_blocks, alert_text
from bot.settings import Settings
from bot.slack import posting
from ledger import scans
from ledger.db import Database
from ledger.scans import AlertBatch
from ledger.tables import utcnow

log = logging.getLogger("creditbot.alerts")

METADATA_EVENT = "creditbot_scan_alert"
# Covers a run's whole backlog in normal use; anything left waits for the next run (it is never dropped).
MAX_MESSAGES_PER_RUN = 20


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


def alert_client(settings: Settings, backoff_factor: float | None = None) -> WebClient:
    missing = missing_alert_settings(settings)
    if missing:
        raise AlertsNotConfigured(missing)
    return posting.poster_client(settings, backoff_factor)


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
    try:
        ts, posted_channel = posting.post_once(
            client, channel, METADATA_EVENT, batch.claim, attempted_at,
            text=alert_text(findings), blocks=alert_blocks(findings), unfurl_links=False,
        )  # fmt: skip
    except posting.PostFailed as failed:
        scans.release(db, batch.claim)
        report.failed = failed.why
        log.warning("alert post failed, %d findings stay pending: %s", len(findings), report.failed)
        return False
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
        oldest = attempt.attempted_at - posting.HISTORY_MARGIN
        ts = posting.keep_one_copy(client, channel, METADATA_EVENT, attempt.token, oldest)
        if ts is None:
            continue
        recorded = scans.record_posted(db, batch.claim, attempt.finding_ids, channel, ts)
        report.recovered += recorded
        to_post -= set(attempt.finding_ids)
    return sorted(to_post)
