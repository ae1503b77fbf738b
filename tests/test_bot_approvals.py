"""Credits above CREDITBOT_APPROVAL_THRESHOLD: a request posted in the channel, a second billing admin approves,
the credit is issued exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import select

from ledger.tables import Credit, HistoryEntry, PendingApproval
from tests.builders import available, row_counts, simple_ledger
from tests.slack_standin import ADMIN, CHANNEL, OTHER_ADMIN, READER, running_bot

ALERTS = "C-ALERTS"


@pytest.fixture
def bot_ledger(db):
    simple_ledger(db)  # C1 with $500.00 of credit


@pytest.fixture
def bot_env():
    return {"CREDITBOT_APPROVAL_THRESHOLD": "1000"}


def credits(db) -> int:
    [count] = row_counts(db, Credit)
    return count


def request_status(db) -> list[str]:
    with db.read() as unit:
        session = unit.session
        return [row.status for row in session.exec(select(PendingApproval)).all()]


def ask_for_large_credit(bot):
    reply = bot.slash("issue C1 5000 Settlement of the disputed retainer")
    [posted] = bot.posted()
    return reply, posted


def test_a_credit_above_the_threshold_waits_for_approval(db, bot, slack):
    reply, posted = ask_for_large_credit(bot)
    assert reply.text.startswith("Asked for approval: issue $5,000.00 of credit to Client C1 (C1)")
    assert "nothing changes until it is approved" in reply.text
    assert posted.channel == CHANNEL
    assert "*Approval needed:* <@U-ADMIN> asks to issue $5,000.00 of credit to Client C1 (C1)" in posted.all_text
    assert ">Reason: Settlement of the disputed retainer" in posted.all_text
    assert posted.buttons() == ["Approve", "Reject", "Review"]
    assert (available(db), credits(db), request_status(db)) == (50000, 1, ["pending"])


def test_a_credit_at_the_threshold_is_issued_at_once(db, bot, slack):
    reply = bot.slash("issue C1 1000 at the limit")
    assert reply.text.startswith("Issued $1,000.00")
    assert slack.api_calls("chat.postMessage") == []


def test_the_requester_cannot_approve_their_own_request(db, bot):
    _, posted = ask_for_large_credit(bot)
    refused = bot.click(posted, "Approve", user=ADMIN)
    assert "You asked for request #1, so a second billing admin has to approve it." in refused.text
    assert refused.ts != posted.ts
    assert (available(db), request_status(db)) == (50000, ["pending"])
    with db.read() as unit:
        session = unit.session
        refusal = session.exec(select(HistoryEntry).where(HistoryEntry.outcome == "refused")).one()
    assert (refusal.actor, refusal.action, refusal.client_id) == ("slack:U-ADMIN", "approve_request", "C1")


def test_a_reader_cannot_approve(db, bot):
    _, posted = ask_for_large_credit(bot)
    refused = bot.click(posted, "Approve", user=READER)
    assert refused.text.startswith("Sorry, only billing admins can approve credits.")
    assert (available(db), request_status(db)) == (50000, ["pending"])


def test_a_second_admin_approves_and_the_credit_is_issued_once(db, bot):
    _, posted = ask_for_large_credit(bot)
    approved = bot.click(posted, "Approve", user=OTHER_ADMIN)
    assert approved.ts == posted.ts  # the request in the channel becomes its outcome
    assert "*Approved* by <@U-ADMIN2> (asked by <@U-ADMIN>, request #1)" in approved.all_text
    assert "Issued $5,000.00 of credit to Client C1" in approved.all_text
    assert approved.buttons() == ["Undo"]
    assert (available(db), credits(db), request_status(db)) == (550000, 2, ["approved"])
    with db.read() as unit:
        session = unit.session
        issued = session.exec(select(Credit).where(Credit.amount_minor == 500000)).one()
        assert issued.created_by == "slack:U-ADMIN"
        assert issued.reason == "Settlement of the disputed retainer (request #1, approved by slack:U-ADMIN2)"
        row = session.exec(select(PendingApproval)).one()
        assert (row.decided_by, row.result["credit_id"]) == ("slack:U-ADMIN2", issued.id)


def test_approving_twice_at_once_issues_once(db, bot):
    _, posted = ask_for_large_credit(bot)
    bodies = [bot.click_body(posted, "Approve", user=user) for user in (OTHER_ADMIN, OTHER_ADMIN, "U-ADMIN3")]
    admins = {"CREDITBOT_APPROVAL_THRESHOLD": "1000", "CREDITBOT_BILLING_ADMINS": "U-ADMIN,U-ADMIN2,U-ADMIN3"}
    with running_bot(db, bot.slack, **admins) as three_admins, ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda body: three_admins.click_with(body, posted), bodies))
    assert (available(db), credits(db), request_status(db)) == (550000, 2, ["approved"])
    assert sum("Already done" in answer.all_text for answer in answers) == 2


def test_a_rejected_request_issues_nothing_and_cannot_be_approved_later(db, bot):
    _, posted = ask_for_large_credit(bot)
    rejected = bot.click(posted, "Reject", user=OTHER_ADMIN)
    assert "*Rejected* by <@U-ADMIN2>: nothing was changed." in rejected.all_text
    late = bot.click(posted, "Approve", user=OTHER_ADMIN)
    assert "Approval request #1 was already rejected by slack:U-ADMIN2" in late.text
    assert (available(db), credits(db), request_status(db)) == (50000, 1, ["rejected"])


def test_the_requester_may_withdraw_their_request(db, bot):
    _, posted = ask_for_large_credit(bot)
    withdrawn = bot.click(posted, "Reject", user=ADMIN)
    assert "*Withdrawn* by <@U-ADMIN>" in withdrawn.all_text
    assert request_status(db) == ["rejected"]


def test_undo_on_the_approved_message_takes_the_credit_back(db, bot, slack):
    _, posted = ask_for_large_credit(bot)
    approved = bot.click(posted, "Approve", user=OTHER_ADMIN)
    asked = bot.click(approved, "Undo", user=OTHER_ADMIN)
    assert "Asked for approval: take back credit #2 ($5,000.00 of Client C1)" in asked.all_text, "undo is gated too"
    assert available(db) == 550000
    request = bot.posted(2)[-1]
    undone = bot.click(request, "Approve", user=ADMIN)
    assert "Took back credit #2" in undone.all_text
    assert available(db) == 50000


def test_a_retried_request_is_asked_and_posted_once(db, bot, slack):
    body = bot.slash_body("issue C1 5000 retried")
    bot.slash_with(body)
    retry = bot.slash_with(body, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert "Already asked with this request" in retry.text
    assert len(slack.api_calls("chat.postMessage")) == 1
    assert request_status(db) == ["pending"]


def test_a_request_goes_to_the_alert_channel_when_the_bot_is_not_in_this_one(db, slack):
    simple_ledger(db)
    slack.fail("chat.postMessage", "not_in_channel", channels={CHANNEL})
    with running_bot(db, slack, CREDITBOT_APPROVAL_THRESHOLD="1000", CREDITBOT_ALERT_CHANNEL=ALERTS) as bot:
        bot.slash("issue C1 5000 big one")
        calls = slack.wait_for(lambda: slack.api_calls("chat.postMessage"), 2)  # posted after the acknowledgement
    assert [call.body["channel"] for call in calls] == [CHANNEL, ALERTS]
    assert request_status(db) == ["pending"]


def test_a_request_nobody_can_see_is_cancelled_and_the_requester_told(db, slack):
    simple_ledger(db)
    slack.fail("chat.postMessage", "not_in_channel")
    with running_bot(db, slack, CREDITBOT_APPROVAL_THRESHOLD="1000") as bot:
        asked = bot.slash("issue C1 5000 big one")
        [told] = slack.wait_for(lambda: slack.responses(asked.response_url_name))  # after the acknowledgement
    assert "I could not post approval request #1 in this channel (not_in_channel)" in told.body["text"]
    assert "nothing was changed" in told.body["text"] and told.body["replace_original"] is True
    assert (available(db), request_status(db)) == (50000, ["cancelled"])


def test_a_malformed_large_amount_is_refused_before_anyone_is_asked(db, bot, slack):
    reply = bot.slash("issue C1 5000.001 too precise")
    assert "USD has at most 2 decimals" in reply.text
    assert slack.api_calls("chat.postMessage") == []
    assert request_status(db) == []


def test_a_request_asked_in_a_direct_message_goes_to_the_alert_channel(db, slack):
    simple_ledger(db)
    with running_bot(db, slack, CREDITBOT_APPROVAL_THRESHOLD="1000", CREDITBOT_ALERT_CHANNEL=ALERTS) as bot:
        bot.slash("issue C1 5000 big one", channel="D-ADMIN")
        [posted] = bot.posted()
    assert posted.channel == ALERTS
