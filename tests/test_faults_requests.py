"""Junk sent to /slack/events is answered 400, 401 or 413 before Bolt parses it, never 500, never a traceback in
the log, and a refused request is logged by its size and hash, never its content (issue 19).

Every request goes over HTTP to the bot's WSGI app, as Slack (or someone else) would send it."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from bot.slack.server import MAX_BODY_BYTES
from ledger.tables import Credit, HistoryEntry, Payment, Reversal
from tests.builders import row_counts, simple_ledger
from tests.slack_standin import ADMIN, READER, SIGNING_SECRET, TEAM

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@pytest.fixture
def bot_ledger(db):
    simple_ledger(db)


def signature(body: bytes, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    return "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


def send(bot, body: bytes, content_type: str = FORM, *, signed: bool = True, timestamp: str | None = None,
         secret: str = SIGNING_SECRET, headers: dict[str, str] | None = None) -> tuple[int, str]:  # fmt: skip
    """POST raw bytes to /slack/events; signed with the app's secret unless told otherwise."""
    stamp = timestamp if timestamp is not None else str(int(time.time()))
    sent = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp}
    if signed:
        sent["X-Slack-Signature"] = signature(body, stamp, secret)
    request = urllib.request.Request(
        f"{bot.url}/slack/events", data=body, headers={**sent, **(headers or {})}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def payload_body(payload: object) -> bytes:
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def click(user: str = ADMIN, **overrides: object) -> dict:
    return {
        "type": "block_actions",
        "user": {"id": user, "team_id": TEAM},
        "team": {"id": TEAM},
        "container": {"type": "message", "message_ts": "1.1", "channel_id": "C1"},
        "channel": {"id": "C1"},
        "trigger_id": "t1",
        "actions": [{"action_id": "undo_apply", "value": "1", "type": "button", "block_id": "b"}],
        **overrides,
    }


@pytest.fixture
def server_log() -> Iterator[list[str]]:
    """Every line the server's logger writes during the test, however earlier tests left logging configured."""
    lines: list[str] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("creditbot.server")
    was = (logger.disabled, logger.level)
    logger.disabled, logger.level = False, logging.DEBUG
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)
    logger.disabled, logger.level = was


def no_tracebacks(caplog) -> None:
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


UNSIGNED_JUNK = {
    "non-numeric timestamp": (b"command=%2Fcredit&text=balance", FORM, "soon"),
    "negative timestamp": (b"command=%2Fcredit&text=balance", FORM, "-5"),
    "huge timestamp": (b"command=%2Fcredit&text=balance", FORM, "9" * 400),
    "not UTF-8": (b"\xff\xfe\x00text=\xc3\x28", FORM, None),
    "truncated JSON": (b'{"type": "event_callback", "event": {', JSON, None),
    "payload not JSON": (b"payload=%7Bnot-json", FORM, None),
}


@pytest.mark.parametrize("case", list(UNSIGNED_JUNK), ids=list(UNSIGNED_JUNK))
def test_unsigned_junk_is_refused_401_before_it_is_parsed(bot, caplog, case):
    body, content_type, timestamp = UNSIGNED_JUNK[case]
    caplog.set_level(logging.INFO)
    status, answer = send(bot, body, content_type, signed=False, timestamp=timestamp)
    assert status == 401 and "Traceback" not in answer
    no_tracebacks(caplog)


@pytest.mark.parametrize("case", list(UNSIGNED_JUNK), ids=list(UNSIGNED_JUNK))
def test_junk_with_a_forged_or_stale_signature_is_refused_401(bot, caplog, case):
    body, content_type, _ = UNSIGNED_JUNK[case]
    assert send(bot, body, content_type, secret="not-the-secret")[0] == 401
    assert send(bot, body, content_type, timestamp=str(int(time.time()) - 301))[0] == 401
    no_tracebacks(caplog)


SIGNED_JUNK = {
    "not UTF-8": (b"command=%2Fcredit&text=\xff\xfe", FORM),
    "truncated JSON": (b'{"type": "event_callback", "event": {', JSON),
    "JSON array": (b'[{"type": "event_callback"}]', JSON),
    "JSON event not an object": (b'{"type": "event_callback", "event": "app_mention"}', JSON),
    "payload not JSON": (b"payload=%7Bnot-json", FORM),
    "payload is an array": (payload_body([click()]), FORM),
    "payload is a number": (payload_body(5), FORM),
    "actions not a list": (payload_body(click(actions={"action_id": "undo_apply"})), FORM),
    "actions of strings": (payload_body(click(actions=["undo_apply"])), FORM),
    "block_actions without actions": (payload_body(click(actions=[])), FORM),
    "action_id not a string": (payload_body(click(actions=[{"action_id": 5, "value": "1"}])), FORM),
    "user not an object": (payload_body({**click(), "user": ADMIN}), FORM),
    "deeply nested JSON": (b'{"event": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", JSON),
}


@pytest.mark.parametrize("case", list(SIGNED_JUNK), ids=list(SIGNED_JUNK))
def test_signed_junk_is_refused_400_and_writes_nothing(db, bot, caplog, case):
    body, content_type = SIGNED_JUNK[case]
    before = row_counts(db, Credit, Payment, HistoryEntry)
    caplog.set_level(logging.INFO)
    status, answer = send(bot, body, content_type)
    assert status == 400, answer
    assert "Traceback" not in answer and json.loads(answer)["error"]
    assert row_counts(db, Credit, Payment, HistoryEntry) == before
    no_tracebacks(caplog)


def test_a_body_over_the_cap_is_refused_unread_and_logged_by_size_only(bot, caplog, server_log):
    caplog.set_level(logging.INFO)
    secret_text = "confidential-client-name"
    body = urllib.parse.urlencode({"text": secret_text * (5 * 1024 * 1024 // len(secret_text))}).encode()
    assert len(body) > MAX_BODY_BYTES
    status, _ = send(bot, body, signed=False)
    assert status == 413
    logged = [r.getMessage() for r in caplog.records] + server_log
    assert server_log and all(len(line) < 300 for line in logged)
    assert not any(secret_text in line for line in logged)


def test_a_refused_request_is_logged_by_size_and_hash_never_its_content(bot, caplog, server_log):
    caplog.set_level(logging.DEBUG)
    body = urllib.parse.urlencode({"command": "/credit", "text": "balance Private Client " + "x" * 50_000}).encode()
    assert send(bot, body, signed=False)[0] == 401
    lines = [r.getMessage() for r in caplog.records] + server_log
    assert any(f"{len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()[:16]}" in line for line in lines)
    assert not any("Private Client" in line for line in lines) and all(len(line) < 300 for line in lines)


def test_a_signed_click_from_a_reader_with_odd_but_valid_shape_writes_nothing(db, bot, caplog):
    before = row_counts(db, Credit, Payment, Reversal)  # the history records the refusal itself
    answer_at = bot.slack.response_url("odd")
    for payload in (click(READER, team=None, channel=None), click(READER, view={}), click(READER, message={})):
        status, _ = send(bot, payload_body({**payload, "response_url": answer_at}))
        assert status == 200
    assert row_counts(db, Credit, Payment, Reversal) == before
    no_tracebacks(caplog)


def test_a_well_formed_slash_command_still_works(bot):
    reply = bot.slash("balance C1")
    assert "C1" in reply.all_text or "Client" in reply.all_text


def test_slacks_unsigned_ssl_check_is_still_answered_200_and_does_nothing(db, bot):
    before = row_counts(db, Credit, Payment, HistoryEntry)
    assert send(bot, b"ssl_check=1&token=unused", signed=False)[0] == 200
    assert send(bot, b"ssl_check=1&command=%2Fcredit&text=issue+C1+5+x", signed=False)[0] == 401
    assert row_counts(db, Credit, Payment, HistoryEntry) == before
