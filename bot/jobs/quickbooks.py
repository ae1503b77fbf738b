"""The scheduled QuickBooks Online poll (CREDITBOT_QBO_POLL_CRON), with the same exactly-once slots as scans.

Each slot is claimed in the database first (`ledger.scans.slots`, job "qbo_poll"), so however many instances run
the scheduler, a slot polls once. A poll first sends credit memo applications still pending (approved since, or
left by a crash), then reads what changed. A failed poll leaves the watermark, records the error on the connection
(`creditbot qb status`) and tells the billing channel once: the same error again is not posted again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from bot.settings import Settings, qbo_configured
from ledger import scans
from ledger.db import Database
from ledger.errors import LedgerError

# The live connection (requests, Intuit's OAuth client) is imported by the job when it runs: every server process
# schedules it, most without QuickBooks Online.
if TYPE_CHECKING:
    from ledger.qbo.live import LiveQuickBooks

log = logging.getLogger("creditbot.qbo")

JOB = "qbo_poll"


def run_scheduled_poll(db: Database, settings: Settings, slot: datetime, instance: str) -> tuple[bool, str, str]:
    """Claim `slot`; if this instance won it, poll. (ran, outcome, detail)."""
    from bot.handlers.quickbooks import live_quickbooks
    from ledger.qbo import memos
    from ledger.qbo.poll import poll

    claim = scans.claim_slot(db, JOB, slot, instance)
    if claim is None:
        return False, "skipped", ""
    live: LiveQuickBooks | None = None
    try:
        live = live_quickbooks(settings, db)
        memos.send_pending(db, live.api)
        result = poll(db, live.api)
        outcome, detail = "done", result.summary.counts() + "".join(f"; {note}" for note in result.notes)
    except LedgerError as refused:
        outcome, detail = "failed", refused.message
    except Exception as failure:  # recorded on the slot and logged; the next slot runs regardless
        log.exception("scheduled QuickBooks poll for %s failed", slot.isoformat())
        outcome, detail = "failed", f"{type(failure).__name__}: {failure}"
    scans.finish_slot(db, claim, outcome, detail)
    if live is not None:
        post_error_alert(settings, live)
    return True, outcome, detail


def post_error_alert(settings: Settings, live: LiveQuickBooks) -> bool:
    """Tell the billing channel about the connection's error, once per distinct error."""
    if not settings.alert_channel:
        return False
    message = live.connection.claim_error_alert()
    if message is None:
        return False
    from bot.slack.app import web_client

    try:
        web_client(settings).chat_postMessage(
            channel=settings.alert_channel,
            text=f":warning: QuickBooks sync needs attention: {message} (`creditbot qb status` shows the state).",
        )
    except Exception:
        log.warning("could not post the QuickBooks alert to %s", settings.alert_channel, exc_info=True)
        return False
    return True


def wanted(settings: Settings) -> bool:
    return qbo_configured(settings)
