"""Slack's Web API unreachable, rate limited, failing or slow during alerts, approvals and report uploads (issue
19.2), against the local stand-in (tests/slack_standin.py) on SQLite and PostgreSQL: nothing lost, nothing doubled,
the person told once, and Slack's 3-second acknowledgement never held up by a slow Slack.

Already proven elsewhere and not repeated: alerts through 500/503/429/dropped connections and answers lost after
the post (tests/test_scan_alerts.py, tests/test_faults_alerts.py), an approval request refused in one channel
going to the alert channel (tests/test_bot_approvals.py), an upload Slack refuses (tests/test_reports_slack_cli.py).
"""

from __future__ import annotations

import json
import time

import pytest
import typer
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import common
from bot.cli import scans as scans_cli
from bot.jobs.alerts import alert_client, post_pending_alerts
from bot.settings import get_settings
from bot.slack import posting
from ledger import scans
from ledger.demo import load_demo
from ledger.tables import Credit, PendingApproval
from tests.builders import available, simple_ledger
from tests.slack_standin import OTHER_ADMIN, READER, WAIT_SECONDS, SlackStandIn
from tests.test_scan_alerts import CHANNEL as ALERTS
from tests.test_scan_alerts import alerted, settings_for, stored_alerts

# A client timeout short enough for a fast test, and a Slack slower than it ("slow" answers this much later).
TIMEOUT_S, SLOW_S = 0.4, 1.2
WAIT_S = WAIT_SECONDS


@pytest.fixture(autouse=True)
def short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk's retries after a 5xx or a dropped connection wait 0.01 s, not 0.5 s, doubling (fast tests)."""
    monkeypatch.setattr(posting, "BACKOFF_SECONDS", 0.01)


@pytest.fixture
def slow_slack(slack: SlackStandIn) -> SlackStandIn:
    slack.slow_seconds = SLOW_S
    return slack


# --- alerts (`scan --alert`, the scheduled scan) ---------------------------------------------------------------


def post_alerts(db, slack: SlackStandIn):
    settings = settings_for(slack, CREDITBOT_SLACK_TIMEOUT_SECONDS=str(TIMEOUT_S))
    return post_pending_alerts(db, settings, alert_client(settings, backoff_factor=0.01))


@pytest.fixture
def findings(db) -> list[int]:
    load_demo(db)
    return scans.run_scan(db).opened


def test_alerts_while_slack_is_down_wait_and_go_out_once_when_it_is_back(db, slack, findings):
    with slack.down():
        first = post_alerts(db, slack)
    assert first.posted == 0 and "Connection refused" in (first.failed or "")
    assert {state for state, _ in stored_alerts(db).values()} == {"pending"}
    assert post_alerts(db, slack).posted == len(findings)
    assert len(slack.posted) == 1 and alerted(slack) == sorted(findings)


def test_an_alert_whose_answer_comes_after_the_timeout_is_found_not_posted_again(db, slow_slack, findings):
    slow_slack.fail_next("chat.postMessage", "slow")
    sent = post_alerts(db, slow_slack)
    assert (sent.posted, sent.failed) == (len(findings), None)
    assert len(slow_slack.api_calls("chat.postMessage")) == 1, "a timed-out post is looked for, not repeated"
    assert {ts for _, ts in stored_alerts(db).values()} == {slow_slack.posted[0].ts}
    assert post_alerts(db, slow_slack).posted == 0 and len(slow_slack.posted) == 1


def test_a_rate_limited_alert_waits_for_retry_after_and_posts_once(db, slack, findings):
    slack.retry_after = "1"
    slack.fail_next("chat.postMessage", "429")
    started = time.monotonic()
    sent = post_alerts(db, slack)
    assert time.monotonic() - started >= 1.0, "Slack's Retry-After was honoured"
    assert sent.posted == len(findings) and len(slack.posted) == 1


def test_scan_alert_while_slack_is_down_says_so_in_one_line_and_keeps_the_alerts(tmp_path, monkeypatch, slack):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    for name, value in (("SLACK_BOT_TOKEN", "xoxb-test"), ("SLACK_API_URL", slack.api_url),
                        ("CREDITBOT_ALERT_CHANNEL", ALERTS), ("CREDITBOT_SLACK_TIMEOUT_SECONDS", "1")):  # fmt: skip
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    common.database.cache_clear()
    app = typer.Typer()
    scans_cli.register(app)
    try:
        load_demo(common.database())
        with slack.down():
            printed = CliRunner().invoke(app, ["scan", "--alert", "--json"])
        assert printed.exit_code == 0 and "Traceback" not in printed.output
        [told] = [line for line in printed.stderr.splitlines() if line.strip()]
        assert told.startswith("Alerts: 0 posted; Slack failed") and "stay pending" in told
        assert len(json.loads(printed.stdout)["findings"]) == 2
        get_settings.cache_clear()
        assert "Alerts: 2 posted" in CliRunner().invoke(app, ["scan", "--alert"]).stderr
        assert len(slack.posted) == 1
    finally:
        common.database().dispose()
        get_settings.cache_clear()
        common.database.cache_clear()


# --- approvals: the request message, and the Approve / Reject update --------------------------------------------


@pytest.fixture
def bot_ledger(db):
    simple_ledger(db)  # C1 with $500.00 of credit


@pytest.fixture
def bot_env():
    return {"CREDITBOT_APPROVAL_THRESHOLD": "1000", "CREDITBOT_SLACK_TIMEOUT_SECONDS": str(TIMEOUT_S)}


def requests_in(db) -> list[str]:
    with db.read() as unit:
        return [row.status for row in unit.session.exec(select(PendingApproval)).all()]


def credits_in(db) -> int:
    with db.read() as unit:
        return len(unit.session.exec(select(Credit)).all())


def settled(slack: SlackStandIn, method: str, count: int = 1) -> None:
    """Wait until the work after the acknowledgement has called `method` `count` times (and a moment more)."""
    slack.wait_for(lambda: slack.api_calls(method), count)
    time.sleep(0.2)


def test_a_slow_slack_does_not_hold_the_acknowledgement_and_the_request_is_posted_once(db, bot, slow_slack):
    slow_slack.fail_next("chat.postMessage", "slow")
    started = time.monotonic()
    reply = bot.slash("issue C1 5000 Settlement")
    assert time.monotonic() - started < SLOW_S, "answered before Slack answered the post"
    assert reply.text.startswith("Asked for approval")
    settled(slow_slack, "conversations.history")  # the timed-out post is looked for in the channel
    assert len(slow_slack.posted) == 1 and len(slow_slack.api_calls("chat.postMessage")) == 1
    assert requests_in(db) == ["pending"] and slow_slack.responses(reply.response_url_name) == []
    approved = bot.click(bot.posted()[0], "Approve", user=OTHER_ADMIN)
    assert "Approved" in approved.text and credits_in(db) == 2


def test_a_request_posted_but_its_answer_lost_stays_one_message(db, bot, slack):
    slack.fail_next("chat.postMessage", "post-then-drop")  # slack_sdk retries after the lost answer
    bot.slash("issue C1 5000 Settlement")
    settled(slack, "chat.delete")
    assert len(slack.posted) == 1, "the retry's copy was deleted"
    assert requests_in(db) == ["pending"]


def test_a_rate_limited_request_waits_for_retry_after_and_is_posted_once(db, bot, slack):
    slack.retry_after = "1"
    slack.fail_next("chat.postMessage", "429")
    bot.slash("issue C1 5000 Settlement")
    settled(slack, "chat.postMessage", 2)
    assert len(slack.posted) == 1 and requests_in(db) == ["pending"]


def test_slack_failing_every_try_cancels_the_request_and_tells_the_requester_once(db, bot, slack):
    slack.fail_next("chat.postMessage", *["500"] * 4)  # the first try and slack_sdk's three retries
    slack.fail_next("conversations.history", *["500"] * 4)
    asked = bot.slash("issue C1 5000 Settlement")
    [told] = slack.wait_for(lambda: slack.responses(asked.response_url_name))
    assert "could not post approval request #1" in told.body["text"] and "nothing was changed" in told.body["text"]
    assert "Traceback" not in told.body["text"] and told.body["replace_original"] is True
    assert slack.posted == [] and requests_in(db) == ["cancelled"] and available(db) == 50000
    time.sleep(0.3)
    assert len(slack.responses(asked.response_url_name)) == 1, "told once"


def test_slack_down_during_a_request_writes_nothing_and_posts_nothing_later(db, bot, slack):
    with slack.down():
        reply = bot.slash("issue C1 5000 Settlement")  # the acknowledgement is the bot's own answer
        deadline = time.monotonic() + WAIT_S
        while requests_in(db) != ["cancelled"] and time.monotonic() < deadline:
            time.sleep(0.05)
    assert reply.text.startswith("Asked for approval")
    assert requests_in(db) == ["cancelled"] and available(db) == 50000 and credits_in(db) == 1
    time.sleep(0.3)
    assert slack.posted == []


def test_an_approval_whose_update_is_lost_is_carried_out_once_and_shown_on_the_next_click(db, bot, slack):
    bot.slash("issue C1 5000 Settlement")
    [request] = bot.posted()
    slack.fail_next("respond", "500")  # Slack's response_url fails: the message still shows Approve
    first = bot.click(request, "Approve", user=OTHER_ADMIN)
    assert credits_in(db) == 2 and requests_in(db) == ["approved"]
    again = bot.click(request, "Approve", user=OTHER_ADMIN)
    assert again.text.startswith(first.text) and "nothing changed" in again.text, "the second click shows it"
    assert credits_in(db) == 2, "issued once"


# --- report uploads (files_upload_v2: getUploadURLExternal, the upload, completeUploadExternal) ------------------


def report(bot, slack: SlackStandIn) -> str:
    working = bot.slash("report unapplied", user=READER)
    [answer] = slack.wait_for(lambda: slack.responses(working.response_url_name))
    time.sleep(0.2)
    assert len(slack.responses(working.response_url_name)) == 1, "told once"
    assert "Traceback" not in answer.body["text"] and "Unapplied credit" in answer.body["text"]
    return json.dumps(answer.body["blocks"])


@pytest.mark.parametrize(
    ("step", "fault"),
    [
        ("files.getUploadURLExternal", "429"),
        ("files.getUploadURLExternal", "drop"),
        ("files.completeUploadExternal", "429"),
        ("files.completeUploadExternal", "drop"),
    ],
)
def test_an_upload_step_that_fails_once_is_retried_and_the_file_shared_once(db, bot, slack, step, fault):
    slack.fail_next(step, fault)
    shown = report(bot, slack)
    assert "could not attach" not in shown
    assert len(slack.files.shared) == 1


@pytest.mark.parametrize(
    ("step", "fault"),
    [
        ("files.getUploadURLExternal", "500"),
        ("files.getUploadURLExternal", "slow"),
        ("upload", "500"),
        ("upload", "drop"),
        ("files.completeUploadExternal", "500"),
        ("files.completeUploadExternal", "post-then-drop"),
        ("files.completeUploadExternal", "slow"),
    ],
)
def test_an_upload_slack_does_not_finish_is_said_once_in_the_answer(db, bot, slow_slack, step, fault):
    slow_slack.fail_next(step, *[fault] * 4)
    shown = report(bot, slow_slack)
    if slow_slack.files.shared:
        assert len(slow_slack.files.shared) == 1
        assert "could not attach" not in shown, "shared: the person is not told to ask again"
        assert "may be in the channel already" in shown or "not confirm" not in shown
    elif fault == "500" and step != "files.completeUploadExternal":  # Slack answered: nothing was shared
        assert "could not attach unapplied.csv" in shown and "ask again in a moment" in shown
    else:  # no answer (a drop, a timeout), or a failure finishing the upload: Slack may have shared it after all
        assert "Slack did not confirm that unapplied.csv was attached" in shown and "look there before" in shown
    assert "creditbot report ... --csv FILE" in shown and "invite @creditbot" not in shown
