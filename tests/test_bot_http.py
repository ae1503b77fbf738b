"""HTTP mode: request verification (401 for bad signatures and stale timestamps), the real `creditbot serve`
(gunicorn) started as a process, start-up errors, and events (mentions, direct messages)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from bot.handlers.context import Services
from bot.handlers.reads import warm_up
from ledger.tables import Credit, HistoryEntry
from tests.builders import row_counts, simple_ledger
from tests.slack_standin import (
    ADMIN,
    BOT_TOKEN,
    CHANNEL,
    READER,
    SIGNING_SECRET,
    BotUnderTest,
    bot_settings,
    event_body,
)

SERVE_TIMEOUT = 60


@pytest.fixture
def bot_ledger(db):
    simple_ledger(db)


def rows(db) -> tuple[int, ...]:
    return row_counts(db, Credit, HistoryEntry)


# --- request verification ---------------------------------------------------------------------------------


def test_a_bad_signature_is_refused_with_401_and_writes_nothing(db, bot):
    before = rows(db)
    answer = bot.post(bot.slash_body("issue C1 10 forged"), {"X-Slack-Signature": "v0=" + "0" * 64})
    assert answer.status == 401
    assert rows(db) == before


def test_a_body_signed_with_another_secret_is_refused(db, bot, slack):
    before = rows(db)
    forger = BotUnderTest(bot.url, slack, secret="not-the-secret")
    assert forger.post(bot.slash_body("issue C1 10 forged")).status == 401
    assert rows(db) == before


def test_a_request_older_than_five_minutes_is_refused(db, bot):
    before = rows(db)
    stale = int(time.time()) - 6 * 60
    assert bot.post(bot.slash_body("issue C1 10 replayed"), timestamp=stale).status == 401
    assert bot.post(bot.slash_body("balance C1"), timestamp=int(time.time()) - 60).status == 200
    assert rows(db) == before


def test_a_request_without_signature_headers_is_refused(bot):
    request = urllib.request.Request(f"{bot.url}/slack/events", data=b"text=balance", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401


def test_health_check_and_unknown_paths(bot):
    with urllib.request.urlopen(f"{bot.url}/healthz", timeout=10) as response:
        assert (response.status, response.read()) == (200, b"ok")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{bot.url}/elsewhere", data=b"", timeout=10)
    assert missing.value.code == 404


# --- events -----------------------------------------------------------------------------------------------


def post_json(bot: BotUnderTest, body: str):
    return bot.post(body, {"Content-Type": "application/json"})


def test_url_verification_answers_the_challenge(bot):
    answer = post_json(bot, json.dumps({"token": "unused", "type": "url_verification", "challenge": "c-123"}))
    assert answer.status == 200 and "c-123" in answer.body


def test_a_mention_runs_the_line_and_answers_in_its_thread(bot, slack):
    mention = {"type": "app_mention", "user": READER, "text": "<@U-BOT> balance C1", "ts": "1700000000.000100",
               "channel": CHANNEL, "event_ts": "1700000000.000100"}  # fmt: skip
    assert post_json(bot, event_body(mention)).status == 200
    [posted] = slack.wait_for(lambda: slack.api_calls("chat.postMessage"))
    assert (posted.body["channel"], posted.body["thread_ts"]) == (CHANNEL, "1700000000.000100")
    assert "Client C1 · credit and open invoices" in json.dumps(posted.body["blocks"], ensure_ascii=False)


def test_a_direct_message_that_is_not_a_command_is_a_question(bot, slack):
    dm = {"type": "message", "channel_type": "im", "user": READER, "text": "what is a client credit?",
          "ts": "1700000000.000200", "channel": "D-READER", "event_ts": "1700000000.000200"}  # fmt: skip
    assert post_json(bot, event_body(dm, "Ev2")).status == 200
    [posted] = slack.wait_for(lambda: slack.api_calls("chat.postMessage"))
    assert posted.body["channel"] == "D-READER"
    assert posted.body["text"]


def test_other_message_events_are_acknowledged_and_ignored(bot, slack):
    edited = {"type": "message", "subtype": "message_changed", "channel_type": "im", "channel": "D-READER",
              "ts": "1700000000.000300", "event_ts": "1700000000.000300"}  # fmt: skip
    own = {"type": "message", "channel_type": "im", "bot_id": "B-BOT", "user": "U-BOT", "text": "hi",
           "channel": "D-READER", "ts": "1700000000.000400", "event_ts": "1700000000.000400"}  # fmt: skip
    assert post_json(bot, event_body(edited, "Ev3")).status == 200
    assert post_json(bot, event_body(own, "Ev4")).status == 200
    assert bot.slash("help").text  # the bot is still answering; nothing was posted for those events
    assert slack.api_calls("chat.postMessage") == []


# --- the real server: `creditbot serve` -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def creditbot(args: list[str], env: dict[str, str], cwd: Path, **kwargs) -> subprocess.Popen:
    command = [sys.executable, "-c", "from bot.cli import main; main()", *args]
    return subprocess.Popen(command, env=env, cwd=cwd, text=True, **kwargs)


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CREDITBOT_", "DATABASE_URL"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return {**env, **values}


def wait_until_up(process: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + SERVE_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"creditbot serve exited with {process.returncode}: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("creditbot serve did not come up")


def test_creditbot_serve_answers_signed_requests_and_refuses_bad_ones(db, slack, tmp_path):
    simple_ledger(db)
    port = free_port()
    env = clean_env(
        DATABASE_URL=db.url.render_as_string(hide_password=False),
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        CREDITBOT_BILLING_ADMINS=ADMIN,
    )
    server = creditbot(
        ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--threads", "4"],
        env,
        tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(server, url)
        slack_side = BotUnderTest(url, slack)
        reply = slack_side.slash("balance C1", user=READER)
        assert "*Available credit: $500.00*" in reply.all_text
        applied = slack_side.slash("apply INV-1 100")
        assert "Balance due: $1,000.00 → $900.00" in applied.text
        undone = slack_side.click(applied, "Undo")
        assert "Undone by <@U-ADMIN>" in undone.all_text
        forged = slack_side.post(slack_side.slash_body("issue C1 1 x"), {"X-Slack-Signature": "v0=bad"})
        assert forged.status == 401
        # The token was checked against "Slack" at start-up, then by the Bolt app, built once in the master for both
        # workers (bot.slack.server.prepare_app): each forked worker opened its own database connections.
        assert len(slack.api_calls("auth.test")) == 2
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_server_worker_warms_up_a_connection_per_thread_and_writes_nothing(db, slack):
    simple_ledger(db)
    before = rows(db)
    db.dispose()  # an empty connection pool, as in a worker that has just started
    warm_up(Services(bot_settings(db, slack), db), connections=3)
    assert db.engine.pool.checkedin() == 3
    assert rows(db) == before


def test_warming_up_an_empty_ledger_does_nothing(db, slack):
    warm_up(Services(bot_settings(db, slack), db), connections=2)
    assert rows(db) == (0, 0)


@pytest.mark.parametrize(
    ("command", "present", "missing"),
    [
        ("serve", {"SLACK_BOT_TOKEN": BOT_TOKEN}, "SLACK_SIGNING_SECRET"),
        ("serve", {"SLACK_SIGNING_SECRET": SIGNING_SECRET}, "SLACK_BOT_TOKEN"),
        ("socket", {"SLACK_BOT_TOKEN": BOT_TOKEN}, "SLACK_APP_TOKEN"),
    ],
)
def test_a_missing_setting_stops_start_up_with_one_line_naming_it(tmp_path, command, present, missing):
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'ledger.db'}", **present)
    process = creditbot([command], env, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = process.communicate(timeout=SERVE_TIMEOUT)
    assert process.returncode == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert missing in lines[0] and lines[0].startswith("Cannot start:")


def test_a_token_slack_refuses_stops_start_up(tmp_path, slack):
    slack.fail("auth.test", "invalid_auth")
    env = clean_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'ledger.db'}",
        SLACK_BOT_TOKEN="xoxb-revoked",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
    )
    process = creditbot(["serve", "--port", str(free_port())], env, tmp_path, stderr=subprocess.PIPE)
    _, err = process.communicate(timeout=SERVE_TIMEOUT)
    assert process.returncode == 2
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in err


def test_the_slash_command_payload_shape_is_what_slack_sends(bot):
    """A guard on the test harness itself: the form fields Slack documents for slash commands."""
    fields = dict(urllib.parse.parse_qsl(bot.slash_body("balance C1")))
    assert {"team_id", "channel_id", "user_id", "command", "text", "response_url", "trigger_id"} <= set(fields)
