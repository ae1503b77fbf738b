"""Scheduled scans: APScheduler 3.11 on `CREDITBOT_SCAN_CRON` (UTC), inside `serve`/`socket` or on its own.

Several instances may run at once (servers, a server and `creditbot scheduler`). Each fired run works out its
slot (the cron time it fired for, the same on every instance), claims it in the database first, and runs only if
its claim won (`ledger.scans.slots`): each slot runs once. A run that crashes marks nothing done, and blocks
nothing: the next slot is claimed afresh and its incremental scan and pending alerts pick up where it stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.jobs import quickbooks
from bot.jobs.alerts import AlertReport, AlertsNotConfigured, post_pending_alerts
from bot.settings import Settings, scan_options
from ledger import scans
from ledger.db import Database

log = logging.getLogger("creditbot.scheduler")

JOB = "scan"
# A run that starts later than this after its cron time (a busy or paused process) is skipped, not run late.
GRACE = timedelta(minutes=10)


class InvalidCron(ValueError):
    def __init__(self, expression: str, why: str, setting: str = "CREDITBOT_SCAN_CRON") -> None:
        super().__init__(
            f"{setting} “{expression}” is not a crontab line ({why}); use five fields, e.g. “0 * * * *” for every hour."
        )


@dataclass(frozen=True)
class SlotRun:
    slot: datetime
    ran: bool  # False: another instance had claimed this slot
    outcome: str = "skipped"  # done | failed | skipped
    detail: str = ""


def scan_trigger(settings: Settings) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(settings.scan_cron, timezone=UTC)
    except ValueError as wrong:
        raise InvalidCron(settings.scan_cron, str(wrong)) from None


def slot_for(trigger: CronTrigger, now: datetime, grace: timedelta = GRACE) -> datetime | None:
    """The latest time the trigger fires in [now - grace, now]: the slot a run starting `now` belongs to."""
    fire = trigger.get_next_fire_time(None, now - grace)
    if fire is None or fire > now:
        return None
    while (later := trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))) is not None and later <= now:
        fire = later
    return fire


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_scheduled_scan(db: Database, settings: Settings, slot: datetime, instance: str) -> SlotRun:
    """Claim `slot`; if this instance won it, scan and post the pending alerts."""
    claim = scans.claim_slot(db, JOB, slot, instance)
    if claim is None:
        return SlotRun(slot, ran=False)
    try:
        report = scans.run_scan(db, scan_options(settings))
        detail = f"{len(report.opened)} new, {report.closed} closed; " + _alert(db, settings)
    except Exception as failure:  # recorded on the slot and logged; the next slot runs regardless
        log.exception("scheduled scan for %s failed", slot.isoformat())
        scans.finish_slot(db, claim, "failed", f"{type(failure).__name__}: {failure}")
        return SlotRun(slot, ran=True, outcome="failed", detail=str(failure))
    scans.finish_slot(db, claim, "done", detail)
    return SlotRun(slot, ran=True, outcome="done", detail=detail)


def _alert(db: Database, settings: Settings) -> str:
    try:
        alerts: AlertReport = post_pending_alerts(db, settings)
    except AlertsNotConfigured as missing:
        log.warning("%s", missing)
        return str(missing)
    if alerts.failed:
        return f"{alerts.posted} alerted, the rest wait: {alerts.failed}"
    return f"{alerts.posted + alerts.recovered} alerted"


def _fire(db: Database, settings: Settings, trigger: CronTrigger, instance: str) -> None:
    slot = slot_for(trigger, datetime.now(UTC))
    if slot is None:
        log.warning("scheduled scan started too late for any slot; skipped")
        return
    run = run_scheduled_scan(db, settings, slot, instance)
    log.info(
        "scan slot %s: %s %s", slot.isoformat(), run.outcome if run.ran else "taken by another instance", run.detail
    )


def add_scan_job(
    scheduler: BaseScheduler,
    settings: Settings,
    db: Database,
    instance: str | None = None,
    trigger: CronTrigger | None = None,
) -> None:
    """The scan job on CREDITBOT_SCAN_CRON (or on `trigger`: tests fire every second)."""
    trigger = trigger or scan_trigger(settings)
    scheduler.add_job(
        _fire,
        trigger,
        args=[db, settings, trigger, instance or instance_name()],
        id="creditbot-scan",
        name="creditbot scan",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(GRACE.total_seconds()),
        replace_existing=True,
    )


def qbo_poll_trigger(settings: Settings) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(settings.qbo_poll_cron, timezone=UTC)
    except ValueError as wrong:
        raise InvalidCron(settings.qbo_poll_cron, str(wrong), "CREDITBOT_QBO_POLL_CRON") from None


def _fire_qbo_poll(db: Database, settings: Settings, trigger: CronTrigger, instance: str) -> None:
    slot = slot_for(trigger, datetime.now(UTC))
    if slot is None:
        log.warning("scheduled QuickBooks poll started too late for any slot; skipped")
        return
    ran, outcome, detail = quickbooks.run_scheduled_poll(db, settings, slot, instance)
    log.info("qbo poll slot %s: %s %s", slot.isoformat(), outcome if ran else "taken by another instance", detail)


def add_qbo_poll_job(
    scheduler: BaseScheduler,
    settings: Settings,
    db: Database,
    instance: str | None = None,
    trigger: CronTrigger | None = None,
) -> bool:
    """The QuickBooks poll on CREDITBOT_QBO_POLL_CRON, when QuickBooks Online is set up (QBO_CLIENT_ID)."""
    if not quickbooks.wanted(settings):
        return False
    trigger = trigger or qbo_poll_trigger(settings)
    scheduler.add_job(
        _fire_qbo_poll,
        trigger,
        args=[db, settings, trigger, instance or instance_name()],
        id="creditbot-qbo-poll",
        name="creditbot QuickBooks poll",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(GRACE.total_seconds()),
        replace_existing=True,
    )
    return True


def start_scheduler(settings: Settings, db: Database) -> BackgroundScheduler:
    """Start scheduled scans (and QuickBooks polls) in the background (`serve` / `socket`); `.shutdown()` stops."""
    scheduler = BackgroundScheduler(timezone=UTC)
    add_scan_job(scheduler, settings, db)
    add_qbo_poll_job(scheduler, settings, db)
    scheduler.start()
    return scheduler


def on_app_startup(app: object, settings: Settings, db: Database) -> None:
    """For `bot.slack.app.STARTUP_HOOKS`: every running app (server worker, Socket Mode process) schedules scans;
    the slot claims make sure each slot still runs once."""
    start_scheduler(settings, db)


def run_scheduler_forever(settings: Settings, db: Database) -> None:
    """`creditbot scheduler`: the same job in the foreground, until interrupted."""
    scheduler = BlockingScheduler(timezone=UTC)
    add_scan_job(scheduler, settings, db)
    add_qbo_poll_job(scheduler, settings, db)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)
