"""Review on an approval request: the approver sees the request with the client's balance in a modal before
approving. Driven as Slack drives it (a signed block_actions click on the channel message, then view_submission or
the modal's Reject) against the Slack stand-in, on SQLite and PostgreSQL; and in the console, where no modal opens.

Review is a button of the one registry (`review_request`), so the channel message, the home tab and the console
meet the same handler; Approve and Reject in the modal are the approval handlers' own.
"""

from __future__ import annotations

import pytest

from ledger import approvals
from ledger.tables import Payment, Reversal
from tests.builders import client, credit, due, import_rows, invoice, row_counts
from tests.slack_standin import CHANNEL, OTHER_ADMIN, READER


@pytest.fixture
def bot_ledger(db):
    import_rows(
        db,
        clients=[client("C1", "Acme Legal LLP")],
        invoices=[invoice("INV-1", total="1000.00"), invoice("INV-2", total="300.00")],
        credits=[credit("CR-1", amount="500.00")],
    )


@pytest.fixture
def bot_env():
    return {"CREDITBOT_APPROVAL_THRESHOLD": "100", "CREDITBOT_ALERT_CHANNEL": CHANNEL}


def status(db, request_id: int = 1) -> str:
    with db.read() as unit:
        return approvals.get_request(unit, request_id).status


def requested(bot, line: str = "apply INV-1 200"):
    """Type a write above the threshold; the approval request the bot posts in the channel."""
    bot.slash(line)
    [posted] = [message for message in bot.posted() if message.channel == CHANNEL]
    return posted


def review(bot, slack, message, user: str = OTHER_ADMIN, opened: int = 1) -> dict:
    """Click Review on the channel message; the modal it opens."""
    bot.post(bot.click_body(message, "Review", user))
    slack.wait_for(lambda: slack.api_calls("views.open"), opened)
    return slack.views.last_modal()


def test_the_request_in_the_channel_has_review_which_opens_it_with_the_clients_balance(bot, slack, db):
    posted = requested(bot)
    assert posted.buttons() == ["Approve", "Reject", "Review"]
    view = review(bot, slack, posted)
    assert view["callback_id"] == "credit_review_form" and view["submit"]["text"] == "Approve"
    shown = str(view["blocks"])
    assert "apply 200.00 of credit to invoice INV-1" in shown and "request #1" in shown
    assert "Credit available" in shown and "$500.00" in shown and "$1,300.00" in shown  # the balance due now
    assert not slack.responses("click-1")  # the modal is the answer: no message too
    assert due(db, "INV-1") == 100000 and status(db) == "pending"


def test_approving_from_the_modal_carries_the_write_out_once(bot, slack, db):
    view = review(bot, slack, requested(bot))
    assert bot.submit(view, {"comment": "checked"}, user=OTHER_ADMIN) == {}
    assert bot.submit(view, {"comment": "checked"}, user=OTHER_ADMIN) == {}  # a double submit
    assert due(db, "INV-1") == 80000 and status(db) == "approved"
    told = slack.wait_for(lambda: slack.api_calls("chat.postEphemeral"), 2)
    assert all(call.body["user"] == OTHER_ADMIN and call.body["channel"] == CHANNEL for call in told)
    # The two submits' answers are posted after their acknowledgements, in either order: one says what was done,
    # the other that it had been done.
    done, again = sorted((call.body["text"] for call in told), key=lambda text: "nothing changed" in text)
    assert done.startswith("Approved") and "nothing changed" not in done
    assert again.startswith("Approved") and "nothing changed" in again


def test_the_requester_cannot_approve_from_the_modal(bot, slack, db):
    view = review(bot, slack, requested(bot), user="U-ADMIN")
    answer = bot.submit(view, {}, user="U-ADMIN")
    assert answer["response_action"] == "errors" and list(answer["errors"]) == ["comment"]
    assert due(db, "INV-1") == 100000 and status(db) == "pending"


def test_rejecting_from_the_modal_changes_nothing(bot, slack, db):
    view = review(bot, slack, requested(bot))
    bot.click_in_view(view, "Reject", user=OTHER_ADMIN)
    [updated] = slack.wait_for(lambda: slack.api_calls("views.update"))
    assert "Rejected" in str(updated.body["view"]["blocks"])
    assert status(db) == "rejected" and due(db, "INV-1") == 100000


def test_a_non_admin_gets_no_review_and_is_told_why(bot, slack, db):
    posted = requested(bot)
    told = bot.click(posted, "Review", user=READER)
    assert "only billing admins" in told.all_text.lower()
    assert not slack.api_calls("views.open")
    with db.read() as unit:
        refused = unit.rows(_statement("SELECT actor, action FROM history WHERE outcome = 'refused'"))
    assert (f"slack:{READER}", "approve_request") in refused


def test_review_of_a_decided_request_says_who_decided(bot, slack, db):
    posted = requested(bot)
    bot.click(posted, "Approve", user=OTHER_ADMIN)
    told = bot.click(posted, "Review", user=OTHER_ADMIN)
    assert f"already approved by slack:{OTHER_ADMIN}" in told.all_text
    assert not slack.api_calls("views.open")


def test_a_partial_reversal_above_the_threshold_is_reviewed_and_approved_for_that_part(bot, slack, db):
    from ledger import operations
    from ledger.approvals import WriteRequest

    with db.write() as unit:
        setup = WriteRequest("slack:U-ADMIN", "setup", approved_by=f"slack:{OTHER_ADMIN}")
        applied = operations.apply_credit(unit, "INV-1", "300", None, setup)
    bot.slash_form("reverse")
    bot.pick(bot.modal(), "client", "C1")
    form = bot.modal(count=2)
    assert field_value(form, "amount") == "300.00"
    before = row_counts(db, Payment, Reversal)
    assert bot.submit(form, {"amount": "150.00", "note": "half was wrong"}) == {}  # above 100: a request
    [posted] = [message for message in bot.posted() if message.channel == CHANNEL]
    assert f"reverse $150.00 of credit application #{applied.application_id}" in posted.all_text
    assert due(db, "INV-1") == 70000 and row_counts(db, Payment, Reversal) == before
    view = review(bot, slack, posted, opened=2)
    shown = str(view["blocks"])
    assert f"reverse 150.00 of credit application #{applied.application_id}" in shown
    assert "$200.00" in shown  # the credit available now, before the reversal
    assert bot.submit(view, {}, user=OTHER_ADMIN) == {}
    assert due(db, "INV-1") == 85000 and row_counts(db, Payment, Reversal) == (before[0] + 1, before[1] + 1)


def field_value(view: dict, block_id: str) -> str:
    block = next(block for block in view["blocks"] if block.get("block_id") == block_id)
    return block["element"].get("initial_value", "")


def test_reviewing_in_the_console_shows_the_balance_with_approve_and_reject(db):
    from tests.test_bot_console import run_console

    import_rows(db, clients=[client("C1", "Acme Legal LLP")], invoices=[invoice("INV-1", total="1000.00")],
                credits=[credit("CR-1", amount="500.00")])  # fmt: skip
    lines = ["apply INV-1 200", ":as U-LEAD", "3", "4"]
    out = run_console(db, lines, CREDITBOT_APPROVAL_THRESHOLD="100")
    assert "[1] Approve   [2] Reject   [3] Review" in out
    review_shown = out.split("(clicked [3] Review as U-LEAD)")[1]
    assert "Credit available" in review_shown and "$500.00" in review_shown
    assert "[4] Approve   [5] Reject" in review_shown
    assert "(clicked [4] Approve as U-LEAD)\n✔ Approved by U-LEAD" in out
    assert due(db, "INV-1") == 80000


def _statement(sql: str):
    from ledger.unit import statement

    return statement(sql)


def test_when_the_modal_cannot_open_the_review_is_answered_as_a_message(bot, slack, db):
    import json
    import urllib.parse

    posted = requested(bot)
    body = bot.click_body(posted, "Review", OTHER_ADMIN)
    slack.views.expire(json.loads(dict(urllib.parse.parse_qsl(body))["payload"])["trigger_id"])
    told = bot.click_with(body, posted)  # more than 3 seconds passed: Slack refuses views.open
    assert "Credit available" in told.all_text and told.buttons() == ["Approve", "Reject"]
    approved = bot.click(told, "Approve", user=OTHER_ADMIN)
    assert "Approved" in approved.all_text and due(db, "INV-1") == 80000
