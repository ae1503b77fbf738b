"""Alerts when Slack posts but every answer is lost (issue 19): slack_sdk's four attempts may leave four copies of
one alert; the poster (at once, or the next run's recovery) keeps the first and deletes the others, so the channel
shows each finding once and the ledger records the copy that stays. Slack is the local stand-in."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.jobs.alerts import METADATA_EVENT, alert_client, post_pending_alerts
from ledger import scans
from ledger.demo import load_demo
from ledger.tables import utcnow
from tests.slack_standin import SlackStandIn
from tests.test_scan_alerts import CHANNEL, alerted, settings_for, stored_alerts

EVERY_ATTEMPT = ("post-then-drop",) * 4  # the first attempt and slack_sdk's three retries


def post(db, slack: SlackStandIn):
    settings = settings_for(slack)
    return post_pending_alerts(db, settings, alert_client(settings, backoff_factor=0.01))


def recorded_ts(db) -> set[str | None]:
    return {ts for _state, ts in stored_alerts(db).values()}


@pytest.fixture
def findings(db):
    load_demo(db)
    return scans.run_scan(db).opened


def test_every_answer_lost_leaves_one_message_and_records_it(db, slack, findings):
    slack.fail_next("chat.postMessage", *EVERY_ATTEMPT)
    sent = post(db, slack)
    posts = slack.api_calls("chat.postMessage")
    assert [call.outcome for call in posts] == ["lost"] * 4, "Slack carried out every attempt, no answer came back"
    assert (sent.posted, sent.failed) == (len(findings), None)
    assert len(slack.posted) == 1 and alerted(slack) == sorted(findings)
    assert recorded_ts(db) == {slack.posted[0].ts}
    assert len(slack.api_calls("chat.delete")) == 3
    assert post(db, slack).posted == 0 and len(slack.posted) == 1


def test_when_the_channel_cannot_be_searched_at_once_the_next_run_deletes_the_extra_copies(db, slack, findings):
    slack.fail_next("chat.postMessage", *EVERY_ATTEMPT)
    slack.fail_next("conversations.history", "500", "500", "500", "500")
    first = post(db, slack)
    assert first.posted == 0 and first.failed is not None
    assert len(slack.posted) == 4, "four copies, none recorded yet"
    assert {state for state, _ in stored_alerts(db).values()} == {"pending"}

    second = post(db, slack)
    assert (second.posted, second.recovered) == (0, len(findings))
    assert len(slack.posted) == 1 and alerted(slack) == sorted(findings)
    assert recorded_ts(db) == {slack.posted[0].ts}


def test_a_crashed_poster_that_left_several_copies_is_recovered_to_one(db, slack, findings):
    crashed_at = utcnow() - timedelta(minutes=20)
    batch = scans.claim_alerts(db, now=crashed_at)
    scans.mark_attempt(db, batch.claim, batch.ids, now=crashed_at)
    client = alert_client(settings_for(slack))
    for _copy in range(3):
        client.chat_postMessage(
            channel=CHANNEL, text="alert",
            metadata={"event_type": METADATA_EVENT, "event_payload": {"claim": batch.claim}},
        )  # fmt: skip
    first_copy = slack.posted[0].ts

    sent = post(db, slack)
    assert (sent.posted, sent.recovered) == (0, len(findings))
    assert [m.ts for m in slack.posted] == [first_copy]
    assert recorded_ts(db) == {first_copy}


@pytest.mark.parametrize("fault", ["500", "503", "drop"])
def test_slack_down_for_a_whole_run_loses_nothing_and_the_next_run_posts_once(db, slack, findings, fault):
    slack.fail_next("chat.postMessage", *[fault] * 4)
    first = post(db, slack)
    assert first.posted == 0 and slack.posted == []
    assert {state for state, _ in stored_alerts(db).values()} == {"pending"}
    assert post(db, slack).posted == len(findings)
    assert len(slack.posted) == 1 and alerted(slack) == sorted(findings)


def test_a_lost_answer_and_a_failed_delete_still_record_the_first_copy(db, slack, findings):
    slack.fail_next("chat.postMessage", "post-then-drop", "post-then-drop")
    slack.fail_next("chat.delete", "500", "500", "500", "500")
    sent = post(db, slack)
    assert sent.posted == len(findings)
    assert recorded_ts(db) == {slack.posted[0].ts}, "the first copy is the one recorded, even if the other stays"
