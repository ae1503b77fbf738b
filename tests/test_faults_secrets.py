"""No token or signing secret ever appears in a log line, a reply or `--json` (issue 19). Every output of a run
through the bot's paths (replies, good and bad requests, Slack failing, alerts, the CLI, `serve` refused by Slack)
is collected, at DEBUG level, and searched for the configured secrets."""

from __future__ import annotations

import logging
import urllib.parse

import pytest

from bot.jobs.alerts import alert_client, post_pending_alerts
from ledger import scans
from ledger.demo import load_demo
from tests.slack_standin import ADMIN, BOT_TOKEN, READER, SIGNING_SECRET, SlackStandIn
from tests.test_faults_database import main_runner
from tests.test_scan_alerts import settings_for

APP_TOKEN = "xapp-1-secret-app-token"
SECRETS = (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN, "hunter2")


def leaks(*outputs: str) -> list[str]:
    return [secret for secret in SECRETS for output in outputs if secret in output]


@pytest.fixture
def bot_ledger(db):
    load_demo(db)


def test_nothing_the_bot_logs_or_answers_holds_a_secret(db, bot, slack, caplog):
    caplog.set_level(logging.DEBUG)
    replies = []
    for line in ("balance acme", "issue acme 5 goodwill", "apply INV-1002 1", "history acme", "nonsense", "x" * 3000):
        replies.append(bot.slash(line, user=ADMIN).all_text)
    replies.append(bot.slash("issue acme 5 nope", user=READER).all_text)
    slack.fail("chat.postMessage", "not_in_channel")
    replies.append(bot.slash("issue acme 5 announced", user=ADMIN).all_text)
    for headers in ({"X-Slack-Signature": "v0=bad"}, {"X-Slack-Request-Timestamp": "later"}):
        replies.append(bot.post(bot.slash_body("balance acme"), headers).body)
    replies.append(bot.post(urllib.parse.urlencode({"payload": "{broken"})).body)
    logged = [record.getMessage() + str(record.exc_info or "") for record in caplog.records]
    sent_to_slack = [str(call.body) for call in slack.calls]
    assert leaks(*replies, *logged, *sent_to_slack) == []


def test_alerting_through_slack_failures_logs_no_token(db, slack: SlackStandIn, caplog):
    caplog.set_level(logging.DEBUG)
    load_demo(db)
    scans.run_scan(db)
    settings = settings_for(slack, SLACK_BOT_TOKEN=BOT_TOKEN)
    slack.fail_next("chat.postMessage", "500", "429", "drop", "post-then-drop")
    post_pending_alerts(db, settings, alert_client(settings, backoff_factor=0.01))
    assert leaks(*(record.getMessage() for record in caplog.records)) == []


def test_the_command_line_prints_no_secret_in_json_errors_or_start_up_refusals(
    db,
    slack: SlackStandIn,
    monkeypatch,
    capsys,
    tmp_path,
):
    creditbot = main_runner(monkeypatch, capsys, tmp_path)
    for name, value in {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                        "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_API_URL": slack.api_url}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    load_demo(db)
    slack.fail("auth.test", "invalid_auth")
    url = db.url.render_as_string(hide_password=False)
    outputs = []
    for args in (["balance", "acme", "--json"], ["issue", "acme", "-5", "--reason", "x", "--json"],
                 ["scan", "--json"], ["serve", "--port", "0"], ["db", "check", "--json"]):  # fmt: skip
        run = creditbot(args, url, keep_env=("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL"))
        outputs += [run.stdout, run.stderr]
    assert "invalid_auth" in "".join(outputs), "serve was refused by Slack and said so"
    run = creditbot(["balance", "acme", "--json"], "postgresql+psycopg://billing:hunter2@127.0.0.1:9/ledger")
    outputs += [run.stdout, run.stderr]
    assert leaks(*outputs) == []
