"""Hostile Slack payloads, signed correctly (issue 19, "prove" 4): random `payload=` JSON for every registered
button, random event bodies and random form bodies. Never a 500, never a stack trace in a reply, never money moved
by a non-admin. Property-based (hypothesis), over signed HTTP requests to the running bot."""

from __future__ import annotations

import json
import logging
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.handlers import builtin, registry
from ledger.tables import Credit, Payment, Reversal
from tests.builders import row_counts, simple_ledger
from tests.slack_standin import ADMIN, READER, TEAM

builtin.install()
ACTION_IDS = [*sorted(registry.ACTIONS), "faq_suggestion:2", "unknown_button", ""]
MONEY = (Credit, Payment, Reversal)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
values = st.one_of(st.sampled_from(["1", "0", "-1", "99999999999999999999", "1:2", "x", ""]), st.text(max_size=40))


@st.composite
def clicks(draw: st.DrawFn, user: str) -> dict:
    action = {"action_id": draw(st.sampled_from(ACTION_IDS)), "value": draw(values), "type": "button",
              "block_id": draw(st.text(max_size=8))}  # fmt: skip
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": TEAM},
        "team": {"id": TEAM},
        "container": draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "message_ts": st.text(max_size=12),
                    "channel_id": st.text(max_size=8),
                    "is_ephemeral": st.booleans(),
                },
            )
        ),
        "channel": {"id": "C1"},
        "trigger_id": "t",
        "actions": [action],
    }
    extra = draw(st.dictionaries(st.sampled_from(["message", "view", "state", "api_app_id", "token"]), json_values))
    return {**payload, **extra}


@pytest.fixture
def bot_ledger(db):
    simple_ledger(db)


def no_tracebacks(caplog) -> None:
    assert [r.getMessage()[:200] for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


@FUZZ
@given(payload=clicks(READER))
def test_a_readers_random_click_never_errs_and_never_moves_money(db, bot, caplog, payload):
    before = row_counts(db, *MONEY)
    payload["response_url"] = bot.slack.response_url("fuzz")
    answer = bot.post(urllib.parse.urlencode({"payload": json.dumps(payload)}))
    assert answer.status in (200, 400, 404), answer
    assert "Traceback" not in answer.body
    assert row_counts(db, *MONEY) == before
    no_tracebacks(caplog)


@FUZZ
@given(payload=clicks(ADMIN))
def test_an_admins_random_click_is_answered_or_refused_never_a_500(db, bot, caplog, payload):
    payload["response_url"] = bot.slack.response_url("fuzz")
    answer = bot.post(urllib.parse.urlencode({"payload": json.dumps(payload)}))
    assert answer.status in (200, 400, 404), answer
    assert "Traceback" not in answer.body
    no_tracebacks(caplog)


inner_events = st.builds(
    lambda kind, fields: {**fields, "type": kind},
    st.sampled_from(["app_mention", "message", "team_join", "app_home_opened"]),
    st.dictionaries(st.sampled_from(["user", "text", "channel", "ts", "subtype", "bot_id", "view"]), json_values),
)
event_callbacks = st.builds(
    lambda event, extra: {"type": "event_callback", "team_id": TEAM, "event_id": "Ev-fuzz", **extra, "event": event},
    inner_events,
    st.dictionaries(st.sampled_from(["api_app_id", "authorizations", "event_time"]), json_values),
)


@FUZZ
@given(
    body=st.one_of(
        json_values,
        event_callbacks,
        st.dictionaries(
            st.sampled_from(["type", "event", "team_id", "event_id", "challenge", "authorizations"]), json_values
        ),
    )
)
def test_a_random_event_body_is_never_a_500(db, bot, caplog, body):
    answer = bot.post(json.dumps(body), headers={"Content-Type": "application/json"})
    assert answer.status in (200, 400, 401, 404), answer
    no_tracebacks(caplog)


@pytest.mark.parametrize("user", [False, 7, 1.5])
def test_an_event_whose_user_is_not_a_name_or_an_object_is_refused_with_400(db, bot, caplog, user):
    """Found by the fuzzing above: Bolt reads every event's `user` to build its context and broke on a number."""
    before = row_counts(db)
    body = {
        "type": "event_callback",
        "team_id": TEAM,
        "event_id": "Ev-user",
        "event": {"type": "team_join", "user": user},
    }
    answer = bot.post(json.dumps(body), headers={"Content-Type": "application/json"})
    assert answer.status == 400, answer
    assert row_counts(db) == before
    no_tracebacks(caplog)


@FUZZ
@given(
    form=st.dictionaries(
        st.sampled_from(
            [
                "command",
                "text",
                "user_id",
                "team_id",
                "channel_id",
                "trigger_id",
                "response_url",
                "payload",
                "ssl_check",
            ]
        ),
        st.text(max_size=40),
    )
)
def test_a_random_form_body_is_never_a_500(db, bot, caplog, form):
    before = row_counts(db, *MONEY)
    answer = bot.post(urllib.parse.urlencode(form))
    assert answer.status in (200, 400, 401, 404), answer
    assert row_counts(db, *MONEY) == before
    no_tracebacks(caplog)
