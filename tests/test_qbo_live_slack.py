"""A posted invoice's credits from Slack (R4 turned into an action), over signed HTTP requests to the running bot
and a local QuickBooks stand-in: `/credit apply` lists the client's open QuickBooks credit memos as buttons, a
billing admin's click applies one in QuickBooks exactly once (double clicks and Slack's retries included), above
the approval threshold only after a second admin approves, and refusals use QuickBooks' own words."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.jobs.quickbooks import run_scheduled_poll
from ledger.db import Database
from ledger.qbo.live import LiveQuickBooks
from ledger.qbo.poll import poll
from tests.qbo_live import connect, load_posted_invoice, qbo_config, qbo_env
from tests.qbo_standin import QBOStandIn
from tests.slack_standin import OTHER_ADMIN, READER, bot_settings


@pytest.fixture
def qbo() -> Iterator[QBOStandIn]:
    with QBOStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def bot_env(qbo: QBOStandIn) -> dict[str, str]:
    return qbo_env(qbo)


@pytest.fixture
def live(db: Database, qbo: QBOStandIn) -> LiveQuickBooks:
    return LiveQuickBooks.open(qbo_config(qbo), db)


@pytest.fixture
def bot_ledger(db: Database, qbo: QBOStandIn, live: LiveQuickBooks) -> None:
    """INV-2001 ($1,000) is posted to QuickBooks; Acme's credit memo 1043 has $500 left there."""
    load_posted_invoice(db, qbo)
    connect(live, qbo)
    poll(db, live.api)


def test_apply_on_a_posted_invoice_offers_the_open_credit_memos(bot) -> None:
    reply = bot.slash("apply INV-2001 200")
    assert reply.buttons() == ["Apply credit memo CM-1043 ($500.00 left) in QuickBooks"]
    assert "posted to QuickBooks" in reply.all_text and "$1,000.00 still owed" in reply.all_text


def test_a_click_applies_the_memo_once_and_the_poll_brings_it_back(db, bot, qbo, live) -> None:
    offer = bot.slash("apply INV-2001 200")
    done = bot.click(offer, "Apply credit memo CM-1043 ($500.00 left) in QuickBooks")
    assert "Applied $200.00 of QuickBooks credit memo 1043 to invoice INV-2001 in QuickBooks" in done.text
    body = bot.click_body(offer, "Apply credit memo CM-1043 ($500.00 left) in QuickBooks")
    bot.click_with(body, offer)
    bot.click_with(body, offer, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert len(qbo.payments()) == 1, "a double click and Slack's retry make one QuickBooks payment"
    result = poll(db, live.api)
    assert [(c.kind, c.amount_minor) for c in result.summary.payments_recorded] == [("QBCreditMemo", 20000)]
    invoice = bot.slash("invoice INV-2001")
    assert "$200.00" in invoice.all_text


def test_only_billing_admins_may_apply_a_memo(bot, qbo) -> None:
    offer = bot.slash("apply INV-2001 200")
    refused = bot.click(offer, "Apply credit memo CM-1043 ($500.00 left) in QuickBooks", user=READER)
    assert "only billing admins" in refused.text and qbo.payments() == []


def test_asking_more_than_the_memo_has_left_is_refused_in_billing_words(bot, qbo) -> None:
    reply = bot.slash("apply INV-2001 600")
    assert "QuickBooks credit memo CM-1043 has only $500.00 left" in reply.text and qbo.payments() == []


def test_above_the_threshold_a_second_admin_approves_first(db, qbo, live, slack) -> None:
    from tests.slack_standin import running_bot

    load_posted_invoice(db, qbo)
    connect(live, qbo)
    poll(db, live.api)
    with running_bot(db, slack, CREDITBOT_APPROVAL_THRESHOLD="100", **qbo_env(qbo)) as bot:
        offer = bot.slash("apply INV-2001 300")
        held = bot.click(offer, "Apply credit memo CM-1043 ($500.00 left) in QuickBooks")
        assert "approval" in held.text.lower() and qbo.payments() == []
        request = bot.posted()[-1]
        bot.click(request, "Approve", user=OTHER_ADMIN)
        assert qbo.payments() == [], "recorded, waiting to be sent"
        settings = bot_settings(db, slack, **qbo_env(qbo))
        from datetime import UTC, datetime

        ran, outcome, _ = run_scheduled_poll(db, settings, datetime(2026, 12, 1, 12, tzinfo=UTC), "test")
        assert ran and outcome == "done"
        assert len(qbo.payments()) == 1
        ran_again, _, _ = run_scheduled_poll(db, settings, datetime(2026, 12, 1, 12, tzinfo=UTC), "other")
        assert not ran_again, "each slot polls once"


def test_qb_status_in_slack(bot, qbo) -> None:
    assert f"Connected to QuickBooks company {qbo.realm}" in bot.slash("qb status").text
    connect_reply = bot.slash("qb connect")
    assert "/connect/oauth2?" in connect_reply.all_text


def test_a_broken_connection_alerts_the_billing_channel_once(db, qbo, live, slack) -> None:
    from datetime import UTC, datetime

    from tests.slack_standin import CHANNEL

    load_posted_invoice(db, qbo)
    connect(live, qbo)
    for token in qbo.refresh_tokens:
        qbo.revoke_refresh_token(token)
    qbo.expire_access_tokens()
    settings = bot_settings(db, slack, CREDITBOT_ALERT_CHANNEL=CHANNEL, **qbo_env(qbo))
    for hour in (1, 2, 3):
        ran, outcome, detail = run_scheduled_poll(db, settings, datetime(2026, 12, 1, hour, tzinfo=UTC), "test")
        assert ran and outcome == "failed" and "broken" in detail
    posts = slack.api_calls("chat.postMessage")
    assert len(posts) == 1 and "invalid_grant" in posts[0].body["text"]
    assert "creditbot qb connect" in posts[0].body["text"] or "qb status" in posts[0].body["text"]


def test_the_scheduler_polls_only_where_quickbooks_is_set_up(db, qbo, slack) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from bot.jobs.scheduler import InvalidCron, add_qbo_poll_job, qbo_poll_trigger

    scheduler = BackgroundScheduler()
    assert not add_qbo_poll_job(scheduler, bot_settings(db, slack), db)
    assert add_qbo_poll_job(scheduler, bot_settings(db, slack, **qbo_env(qbo)), db)
    assert [job.id for job in scheduler.get_jobs()] == ["creditbot-qbo-poll"]
    with pytest.raises(InvalidCron, match="CREDITBOT_QBO_POLL_CRON"):
        qbo_poll_trigger(bot_settings(db, slack, CREDITBOT_QBO_POLL_CRON="every hour", **qbo_env(qbo)))
