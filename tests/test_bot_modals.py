"""The credit forms driven as Slack drives them: signed shortcuts, slash commands, block_suggestion (the typeahead),
block_actions in the form and view_submission, against the Slack stand-in and real ledgers.

A refusal is shown beside the field it is about and writes nothing; a double submit writes once; a non-admin gets
no form; an expired trigger is told, not lost.
"""

from __future__ import annotations

import pytest

from ledger.tables import Payment
from tests.builders import available, client, credit, due, import_rows, invoice, row_counts, view_block
from tests.slack_standin import CHANNEL, OTHER_ADMIN, READER


@pytest.fixture
def bot_ledger(db):
    import_rows(
        db,
        clients=[client("C1", "Acme Legal LLP"), client("C2", "Acme Studio"), client("C3", "Northwind Tax")],
        projects=[{"project_id": "P1", "client_id": "C1", "name": "Patents"}],
        invoices=[
            invoice("INV-1", total="1000.00", issued_on="2026-09-01"),
            invoice("INV-2", total="300.00"),
            invoice("INV-P", total="200.00", posted_to_qb_at="2026-10-05T10:00:00Z", qb_invoice_id="77"),
            invoice("INV-9", "C3", total="50.00"),
        ],
        credits=[credit("CR-1", amount="500.00")],
    )


def option_values(element: dict) -> list[str]:
    return [option["value"] for option in element.get("options", [])]


def test_global_shortcut_opens_the_apply_form_with_the_client_typeahead(bot, slack):
    trigger = bot.shortcut("apply_credit")
    [opened] = slack.api_calls("views.open")
    assert opened.body["trigger_id"] == trigger
    view = bot.modal()
    assert view["callback_id"] == "credit_apply_form"
    assert view_block(view, "client")["element"]["type"] == "external_select"
    options = bot.suggest(view, "acme")
    assert [o["value"] for o in options["options"]] == ["C1", "C2"]
    assert [o["value"] for o in bot.suggest(view, "legal")["options"]] == ["C1"]
    assert bot.suggest(view, "zzz") == {"options": []}


def test_picking_a_client_offers_its_open_invoices_with_the_most_that_can_be_applied(bot, slack):
    bot.shortcut("apply_credit")
    bot.pick(bot.modal(), "client", "C1")
    view = bot.modal(count=2)
    invoices = view_block(view, "invoice")["element"]
    assert option_values(invoices) == ["INV-1", "INV-2", "INV-P"]
    labels = [o["text"]["text"] for o in invoices["options"]]
    assert "posted to QuickBooks" in labels[2] and "posted" not in labels[0]
    assert invoices["initial_option"]["value"] == "INV-1"
    assert view_block(view, "amount")["element"]["initial_value"] == "500.00"  # the credit, less than the $1,000 due
    assert option_values(view_block(view, "project")["element"]) == ["P1"]
    bot.pick(view, "invoice", "INV-2")
    assert view_block(bot.modal(count=3), "amount")["element"]["initial_value"] == "300.00"


def test_submitting_applies_closes_the_form_and_answers_with_undo(bot, slack, db):
    bot.slash_form("apply")  # `/credit apply` alone opens the form
    bot.pick(bot.modal(), "client", "C1")
    view = bot.modal(count=2)
    answer = bot.submit(view, {"invoice": "INV-1", "amount": "200.00", "project": "P1", "note": "as agreed"})
    assert answer == {}  # closes the form
    assert due(db, "INV-1") == 80000
    [told] = slack.wait_for(lambda: slack.api_calls("chat.postEphemeral"))
    assert told.body["channel"] == CHANNEL and told.body["user"] == "U-ADMIN"
    assert "Undo" in str(told.body["blocks"]) and "INV-1" in told.body["text"]
    with db.read() as unit:
        notes = unit.rows(unit_statement("SELECT detail FROM history WHERE action = 'note'"))
    assert notes == [("as agreed",)]


def test_a_double_submit_writes_once(bot, slack, db):
    bot.shortcut("apply_credit")
    bot.pick(bot.modal(), "client", "C1")
    view = bot.modal(count=2)
    [before] = row_counts(db, Payment)
    bot.submit(view, {"invoice": "INV-2", "amount": "100.00"})
    bot.submit(view, {"invoice": "INV-2", "amount": "100.00"})
    [after] = row_counts(db, Payment)
    assert after == before + 1
    assert available(db) == 40000


@pytest.mark.parametrize(
    "values, block_id, words",
    [
        ({"invoice": "INV-P"}, "invoice", "posted to QuickBooks"),
        ({"invoice": "INV-1", "amount": "600.00"}, "amount", "600.00"),
        ({"invoice": "INV-2", "amount": "400.00"}, "amount", "balance"),
        ({"invoice": "INV-1", "amount": "12,00"}, "amount", "not a valid amount"),
        ({"invoice": "INV-1", "amount": "-5"}, "amount", "not a valid amount"),
    ],
)
def test_a_refusal_is_shown_beside_its_field_and_writes_nothing(bot, db, values, block_id, words):
    bot.shortcut("apply_credit")
    bot.pick(bot.modal(), "client", "C1")
    view = bot.modal(count=2)
    [payments] = row_counts(db, Payment)
    answer = bot.submit(view, values)
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [block_id]
    assert words.lower() in answer["errors"][block_id].lower()
    assert len(answer["errors"][block_id]) <= 150
    assert row_counts(db, Payment) == (payments,)


def test_an_invoice_paid_while_the_form_was_open_is_refused_beside_the_invoice(bot, db):
    bot.shortcut("apply_credit")
    bot.pick(bot.modal(), "client", "C1")
    view = bot.modal(count=2)  # offers INV-2 with its $300.00 due
    bot.slash("apply INV-2 300")
    answer = bot.submit(view, {"invoice": "INV-2", "amount": "300.00"})
    assert answer["response_action"] == "errors"
    assert "amount" in answer["errors"] or "invoice" in answer["errors"]


def test_a_client_gone_from_the_options_is_refused_beside_the_client(bot):
    bot.shortcut("apply_credit")
    view = bot.modal()
    answer = bot.submit(view, {"client": None})
    assert answer == {"response_action": "errors", "errors": {"client": "Pick a client."}}


def test_message_shortcut_prefills_the_invoice_the_message_names(bot):
    bot.shortcut("apply_credit_to_invoice", message="Can we use their credit on INV-2 please?")
    view = bot.modal()
    assert view_block(view, "client")["element"]["initial_option"]["value"] == "C1"
    assert view_block(view, "invoice")["element"]["initial_option"]["value"] == "INV-2"
    assert view_block(view, "amount")["element"]["initial_value"] == "300.00"


def test_message_shortcut_on_a_message_without_an_invoice_says_so(bot):
    bot.shortcut("apply_credit_to_invoice", message="lunch at noon?")
    view = bot.modal()
    assert "names no invoice" in view["blocks"][0]["elements"][0]["text"]


def test_non_admins_get_no_form_and_the_refusal_is_recorded(bot, db):
    bot.shortcut("apply_credit", user=READER)
    view = bot.modal()
    assert "submit" not in view and "only billing admins" in view["blocks"][0]["text"]["text"].lower()
    reply = bot.slash("issue", user=READER)
    assert "only billing admins" in reply.all_text.lower()
    with db.read() as unit:
        refused = unit.rows(unit_statement("SELECT action FROM history WHERE outcome = 'refused'"))
    assert ("apply_credit",) in refused and ("issue_credit",) in refused


def test_a_submission_from_someone_no_longer_an_admin_is_refused_in_the_form(bot, db):
    bot.shortcut("apply_credit")
    bot.pick(bot.modal(), "client", "C1")
    view = bot.modal(count=2)
    answer = bot.submit(view, {"invoice": "INV-1"}, user=READER)
    assert answer["response_action"] == "errors" and "billing admins" in answer["errors"]["invoice"]
    assert due(db, "INV-1") == 100000


def test_an_expired_trigger_is_told_to_the_person(bot, slack):
    body = bot.slash_body("apply")
    trigger = body.split("trigger_id=")[1].split("&")[0]
    slack.views.expire(trigger.replace("%2E", "."))
    reply = bot.slash_with(body)
    assert "expired_trigger_id" in reply.all_text and "/credit apply INV-1002 500" in reply.all_text


def test_an_expired_shortcut_trigger_is_told_in_a_direct_message(bot, slack):
    trigger = slack.views.issue_trigger()
    slack.views.expire(trigger)
    bot.shortcut("apply_credit", trigger=trigger)
    [told] = slack.wait_for(lambda: slack.api_calls("chat.postMessage"))
    assert told.body["channel"] == "U-ADMIN" and "expired_trigger_id" in told.body["text"]


def test_issue_form_issues_credit_and_refuses_beside_the_fields(bot, slack, db):
    bot.slash_form("issue")
    view = bot.modal()
    assert view["callback_id"] == "credit_issue_form"
    answer = bot.submit(view, {"client": "C3", "amount": "abc", "reason": "goodwill"})
    assert answer["response_action"] == "errors" and list(answer["errors"]) == ["amount"]
    answer = bot.submit(view, {"client": "C3", "amount": "25.00", "reason": ""})
    assert list(answer["errors"]) == ["reason"]
    assert bot.submit(view, {"client": "C3", "amount": "25.00", "reason": "goodwill"}) == {}
    assert available(db, "C3") == 2500
    [told] = slack.wait_for(lambda: slack.api_calls("chat.postEphemeral"))
    assert "Undo" in str(told.body["blocks"])


def test_a_form_submission_above_the_threshold_becomes_an_approval_request(slack, db, bot_ledger):
    from tests.slack_standin import running_bot

    with running_bot(db, slack, CREDITBOT_APPROVAL_THRESHOLD="100", CREDITBOT_ALERT_CHANNEL=CHANNEL) as bot:
        bot.shortcut("apply_credit")
        bot.pick(bot.modal(), "client", "C1")
        view = bot.modal(count=2)
        assert bot.submit(view, {"invoice": "INV-1", "amount": "200.00"}) == {}
        [posted] = [message for message in bot.posted(2) if message.channel == CHANNEL]
        assert "Approve" in posted.buttons() and due(db, "INV-1") == 100000
        # The approver reviews the request with the client's balance before approving.
        bot.open_home(OTHER_ADMIN)
        home = bot.home(OTHER_ADMIN)
        bot.click_in_view(home, "Review", user=OTHER_ADMIN)
        review = bot.modal(count=3)
        assert review["callback_id"] == "credit_review_form"
        shown = str(review["blocks"])
        assert "Credit available" in shown and "$500.00" in shown
        own = bot.submit(review, {}, user="U-ADMIN")  # the requester cannot approve their own request
        assert own["response_action"] == "errors" and list(own["errors"]) == ["comment"]
        assert due(db, "INV-1") == 100000
        assert bot.submit(review, {}, user=OTHER_ADMIN) == {}
        assert due(db, "INV-1") == 80000


def unit_statement(sql: str):
    from ledger.unit import statement

    return statement(sql)


def test_a_trigger_is_exchanged_once(bot, slack):
    trigger = bot.shortcut("apply_credit")
    bot.shortcut("apply_credit", trigger=trigger)  # Slack retried the shortcut: its trigger is spent
    [told] = slack.wait_for(lambda: slack.api_calls("chat.postMessage"))
    assert "exchanged_trigger_id" in told.body["text"]
    assert len(slack.views.opened) == 1


def test_a_pick_on_a_form_redrawn_since_is_ignored_and_the_next_one_works(bot, slack):
    bot.shortcut("apply_credit")
    first = bot.modal()
    bot.pick(first, "client", "C1")
    bot.modal(count=2)
    bot.pick(first, "client", "C3")  # the same (now stale) view again: Slack answers hash_conflict
    conflicts = slack.wait_for(lambda: slack.api_calls("views.update"), 2)
    assert (
        len(conflicts) == 2 and view_block(slack.views.last_modal(), "amount")["element"]["initial_value"] == "500.00"
    )
    bot.pick(slack.views.last_modal(), "client", "C3")
    assert "INV-9" in str(bot.modal(count=4)["blocks"])


def test_a_double_submitted_issue_form_issues_once(bot, db):
    bot.shortcut("issue_credit")
    view = bot.modal()
    values = {"client": "C3", "amount": "30.00", "reason": "goodwill"}
    assert bot.submit(view, values) == {} and bot.submit(view, values) == {}
    assert available(db, "C3") == 3000


def test_the_typeahead_answers_at_most_100_options_for_anything_typed(bot):
    bot.shortcut("apply_credit")
    view = bot.modal()
    for typed in ("", "a", "%", "_", "\\", "x" * 5000, "Acme' OR 1=1 --"):
        options = bot.suggest(view, typed)["options"]
        assert len(options) <= 100
    assert [o["value"] for o in bot.suggest(view, "")["options"]] == ["C1", "C2", "C3"]


def test_reverse_form_lists_the_clients_live_applications_and_reverses_one(bot, slack, db):
    bot.slash("apply INV-1 100")
    bot.slash("apply INV-2 50")
    bot.slash_form("reverse")
    bot.pick(bot.modal(), "client", "C1")
    view = bot.modal(count=2)
    options = view_block(view, "application")["element"]["options"]
    assert [o["text"]["text"].split(" · ")[1] for o in options] == ["INV-2", "INV-1"]  # latest first
    first = options[1]["value"]
    bot.pick(view, "application", first)  # redrawn with that application's amount
    view = bot.modal(count=3)
    assert bot.submit(view, {"application": first, "note": "applied by mistake"}) == {}
    assert due(db, "INV-1") == 100000
    again = bot.submit(view, {"application": first, "note": "twice"})  # other values: a new request, refused
    assert again["response_action"] == "errors" and list(again["errors"]) == ["application"]
    assert "already reversed" in again["errors"]["application"].lower()
