"""The reverse form with partial amounts, driven as Slack drives it (signed block_actions and view_submission against
the Slack stand-in), on SQLite and PostgreSQL.

The amount is pre-filled with all of the chosen application still applied; less reverses part of it (the rest stays
applied on the invoice). The ledger checks the amount: a refusal is shown beside the amount and writes nothing. A
double submit writes once.
"""

from __future__ import annotations

import pytest

from ledger.tables import Payment, Reversal
from tests.builders import available, client, credit, due, import_rows, invoice, row_counts, view_block
from tests.slack_standin import CHANNEL, READER


@pytest.fixture
def bot_ledger(db):
    import_rows(
        db,
        clients=[client("C1", "Acme Legal LLP"), client("C2", "Birch Studio")],
        invoices=[invoice("INV-1", total="1000.00"), invoice("INV-2", total="300.00")],
        credits=[credit("CR-1", amount="500.00")],
    )


def reverse_form_for(bot, client_id: str = "C1", opened: int = 0) -> dict:
    """`/credit reverse` alone, then the client picked: the form as redrawn for that client."""
    bot.slash_form("reverse")
    bot.pick(bot.modal(opened + 1), "client", client_id)
    return bot.modal(opened + 2)


def test_the_amount_is_prefilled_with_all_that_is_still_applied_and_less_reverses_part(bot, slack, db):
    bot.slash("apply INV-1 100")
    view = reverse_form_for(bot)
    assert view_block(view, "application")["element"]["initial_option"]["text"]["text"].startswith("#")
    assert view_block(view, "amount")["element"]["initial_value"] == "100.00"
    assert view_block(view, "amount")["label"]["text"] == "Amount to reverse (USD)"
    assert bot.submit(view, {"amount": "40.00", "note": "only part was wrong"}) == {}
    assert due(db, "INV-1") == 94000 and available(db) == 44000
    [told] = slack.wait_for(lambda: slack.api_calls("chat.postEphemeral"))
    assert told.body["channel"] == CHANNEL and "$40.00" in told.body["text"] and "Undo" in str(told.body["blocks"])
    again = reverse_form_for(bot, opened=2)  # what is left: the $60.00 still applied, as its own application
    assert view_block(again, "amount")["element"]["initial_value"] == "60.00"
    assert "$60.00" in view_block(again, "application")["element"]["initial_option"]["text"]["text"]
    assert bot.submit(again, {}) == {}  # the pre-filled amount: all of what was left
    assert due(db, "INV-1") == 100000 and available(db) == 50000


@pytest.mark.parametrize(
    "amount, words",
    [
        ("150.00", "only $100.00 of it is still applied"),
        ("abc", "not a valid amount"),
        ("0", "greater than zero"),
        ("-5", "not a valid amount"),
        ("10.001", "not a valid amount"),
        ("", "say how much to reverse"),
    ],
)
def test_an_amount_the_ledger_refuses_is_shown_beside_the_amount_and_writes_nothing(bot, db, amount, words):
    bot.slash("apply INV-1 100")
    view = reverse_form_for(bot)
    before = row_counts(db, Payment, Reversal)
    answer = bot.submit(view, {"amount": amount})
    assert answer["response_action"] == "errors" and list(answer["errors"]) == ["amount"]
    assert words.lower() in answer["errors"]["amount"].lower() and len(answer["errors"]["amount"]) <= 150
    assert row_counts(db, Payment, Reversal) == before and due(db, "INV-1") == 90000


def test_a_double_submitted_partial_reversal_writes_once(bot, db):
    bot.slash("apply INV-1 100")
    view = reverse_form_for(bot)
    [payments, reversals] = row_counts(db, Payment, Reversal)
    values = {"amount": "25.00", "note": "half of it"}
    assert bot.submit(view, values) == {} and bot.submit(view, values) == {}
    assert row_counts(db, Payment, Reversal) == (payments + 1, reversals + 1)  # one reversal, one remainder
    assert due(db, "INV-1") == 92500


def test_picking_another_application_redraws_its_amount_and_a_stale_amount_is_refused(bot, db):
    bot.slash("apply INV-1 100")
    bot.slash("apply INV-2 50")
    view = reverse_form_for(bot)
    assert view_block(view, "amount")["element"]["initial_value"] == "50.00"  # the latest: INV-2's
    older = view_block(view, "application")["element"]["options"][1]["value"]
    # Picked and submitted before Slack redrew the form: the amount shown was INV-2's, so it is refused.
    stale = bot.submit(view, {"application": older})
    assert stale["response_action"] == "errors" and "was for application" in stale["errors"]["amount"]
    bot.pick(view, "application", older)
    redrawn = bot.modal(count=3)
    assert view_block(redrawn, "amount")["element"]["initial_value"] == "100.00"
    assert bot.submit(redrawn, {"application": older}) == {}
    assert due(db, "INV-1") == 100000 and due(db, "INV-2") == 25000


def test_a_submission_from_a_non_admin_is_refused_in_the_form(bot, db):
    bot.slash("apply INV-1 100")
    view = reverse_form_for(bot)
    answer = bot.submit(view, {"amount": "10.00"}, user=READER)
    assert answer["response_action"] == "errors" and "billing admins" in answer["errors"]["application"]
    assert due(db, "INV-1") == 90000


def test_a_client_with_nothing_applied_gets_no_amount_field(bot):
    view = reverse_form_for(bot, "C2")
    assert "no credit application left" in str(view["blocks"])
    assert not [b for b in view["blocks"] if b.get("block_id") == "amount"]
