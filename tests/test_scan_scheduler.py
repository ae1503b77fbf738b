"""Scheduled scans: each slot runs exactly once across concurrent schedulers, and a crash blocks nothing."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlmodel import select

from bot.jobs import scheduler as scan_scheduler
from bot.jobs.scheduler import InvalidCron, run_scheduled_scan, scan_trigger, slot_for, start_scheduler
from bot.settings import Settings
from ledger import scans
from ledger.db import Database
from ledger.demo import load_demo
from ledger.tables import ScanSlot

HOUR = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


def no_slack(**overrides) -> Settings:
    return Settings(_env_file=None, SLACK_BOT_TOKEN="", CREDITBOT_ALERT_CHANNEL="", **overrides)


def slot_rows(db: Database) -> list[ScanSlot]:
    with db.read() as unit:
        session = unit.session
        return list(session.exec(select(ScanSlot).order_by(ScanSlot.slot)))


def test_each_slot_runs_once_across_concurrent_schedulers(db):
    load_demo(db)
    url = db.url.render_as_string(hide_password=False)
    slots = [HOUR + timedelta(hours=n) for n in range(3)]
    instances = 4
    barrier = threading.Barrier(instances)
    runs: list[scan_scheduler.SlotRun] = []
    errors: list[BaseException] = []

    def scheduler_instance(number: int) -> None:
        own = Database(url)
        try:
            for slot in slots:
                barrier.wait()
                runs.append(run_scheduled_scan(own, no_slack(), slot, f"instance-{number}"))
        except BaseException as failure:  # reported below
            errors.append(failure)
        finally:
            own.dispose()

    threads = [threading.Thread(target=scheduler_instance, args=(n,)) for n in range(instances)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    ran = sorted(run.slot for run in runs if run.ran)
    assert ran == slots
    assert [(row.slot, row.outcome) for row in slot_rows(db)] == [(slot, "done") for slot in slots]
    with db.read() as unit:
        assert len(scans.open_findings(unit)) == 2, "the demo's two findings, stored once"


def test_real_schedulers_firing_together_run_each_slot_once(db):
    url = db.url.render_as_string(hide_password=False)
    every_second = CronTrigger(second="*", timezone=UTC)
    running, databases = [], []
    for number in range(3):
        own = Database(url)
        databases.append(own)
        background = BackgroundScheduler(timezone=UTC)
        scan_scheduler.add_scan_job(background, no_slack(), own, f"instance-{number}", trigger=every_second)
        background.start()
        running.append(background)
    try:
        deadline = time.monotonic() + 20
        while len([r for r in slot_rows(db) if r.outcome == "done"]) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for background in running:
            background.shutdown(wait=True)
        for own in databases:
            own.dispose()
    rows = slot_rows(db)
    assert len([r for r in rows if r.outcome == "done"]) >= 3
    assert len({row.slot for row in rows}) == len(rows), "one row, so one run, per slot"
    assert all(row.slot.microsecond == 0 and row.outcome == "done" for row in rows)


def test_a_crashed_run_does_not_block_later_slots(db, monkeypatch):
    load_demo(db)
    # A run that died after claiming its slot: its row stays "running".
    assert scans.claim_slot(db, scan_scheduler.JOB, HOUR, "crashed-instance") is not None
    # A run whose scan fails: recorded as failed.
    real_scan = scans.run_scan

    def failing_scan(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(scans, "run_scan", failing_scan)
    failed = run_scheduled_scan(db, no_slack(), HOUR + timedelta(hours=1), "instance-a")
    monkeypatch.setattr(scans, "run_scan", real_scan)
    later = run_scheduled_scan(db, no_slack(), HOUR + timedelta(hours=2), "instance-b")

    assert (failed.ran, failed.outcome) == (True, "failed")
    assert (later.ran, later.outcome) == (True, "done")
    assert [row.outcome for row in slot_rows(db)] == ["running", "failed", "done"]
    assert "database went away" in slot_rows(db)[1].detail
    assert run_scheduled_scan(db, no_slack(), HOUR, "instance-c").ran is False, "a claimed slot never runs twice"


def test_the_slot_is_the_cron_time_the_run_belongs_to():
    hourly = CronTrigger.from_crontab("0 * * * *", timezone=UTC)
    assert slot_for(hourly, HOUR + timedelta(milliseconds=40)) == HOUR
    assert slot_for(hourly, HOUR + timedelta(minutes=9)) == HOUR
    assert slot_for(hourly, HOUR + timedelta(minutes=11)) is None, "too late: skipped, not run late"
    every_two = CronTrigger.from_crontab("*/2 * * * *", timezone=UTC)
    assert slot_for(every_two, HOUR + timedelta(minutes=9, seconds=30)) == HOUR + timedelta(minutes=8)


def test_the_cron_comes_from_the_setting_and_a_wrong_one_is_refused_clearly():
    assert str(scan_trigger(no_slack(CREDITBOT_SCAN_CRON="*/15 * * * *")).fields[6]) == "*/15"
    with pytest.raises(InvalidCron, match="CREDITBOT_SCAN_CRON “every hour” is not a crontab line"):
        scan_trigger(no_slack(CREDITBOT_SCAN_CRON="every hour"))


def test_start_scheduler_runs_the_scan_job_in_the_background(db):
    background = start_scheduler(no_slack(), db)
    try:
        [job] = background.get_jobs()
        assert background.running and job.name == "creditbot scan"
        assert str(job.trigger) == str(CronTrigger.from_crontab("0 * * * *", timezone=UTC))
    finally:
        background.shutdown(wait=False)
