"""Writes from Slack: permissions, Undo, double clicks and retries, over signed HTTP requests on real ledgers.

A credit is never lost or doubled: a retried slash command (same trigger_id) or a double click (same message and
button) is carried out once, and every Undo reverses exactly what its message did.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlmodel import select

from ledger import reads
from ledger.tables import Credit, HistoryEntry, Payment, Reversal
from ledger.totals import stored_totals, totals_from_entries
from tests.builders import available, row_counts, simple_ledger
from tests.slack_standin import OTHER_ADMIN, READER, running_bot


@pytest.fixture
def bot_ledger(db):
    simple_ledger(db)  # C1 with $500.00 of credit, INV-1 owing $1,000.00


def due(db) -> int:
    with db.read() as unit:
        return reads.invoice_detail(unit, "INV-1").summary.balance_due_minor


def count(db, table) -> int:
    [rows] = row_counts(db, table)
    return rows


def assert_totals_agree(db) -> None:
    with db.read() as unit:
        session = unit.session
        assert stored_totals(session) == totals_from_entries(session)


def refusals(db) -> list[HistoryEntry]:
    with db.read() as unit:
        session = unit.session
        return list(session.exec(select(HistoryEntry).where(HistoryEntry.outcome == "refused")).all())


# --- permissions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "doing", "action"),
    [
        ("issue C1 50 goodwill", "issue credits", "issue_credit"),
        ("apply INV-1 50", "apply credits", "apply_credit"),
        ("reverse 1", "reverse credit applications", "reverse_application"),
    ],
)
def test_a_reader_is_refused_politely_and_the_refusal_is_recorded(db, bot, line, doing, action):
    reply = bot.slash(line, user=READER)
    assert reply.text.startswith(f"Sorry, only billing admins can {doing}.")
    assert "CREDITBOT_BILLING_ADMINS" in reply.text
    assert (available(db), due(db)) == (50000, 100000)
    [refused] = refusals(db)
    assert (refused.actor, refused.action) == ("slack:U-READER", action)
    assert line in refused.detail


def test_a_refused_apply_shows_in_the_client_and_invoice_history(db, bot):
    bot.slash("apply INV-1 50", user=READER)
    assert "refused" in bot.slash("history INV-1", user=READER).all_text
    assert "U-READER is not a billing admin" in bot.slash("history C1", user=READER).all_text


def test_a_reader_may_read(db, bot):
    for line in ("balance C1", "invoice INV-1", "history C1", "help", "tips"):
        assert "Sorry, only billing admins" not in bot.slash(line, user=READER).text
    assert refusals(db) == []


# --- undo -------------------------------------------------------------------------------------------------


def test_undo_of_apply_reverses_the_application(db, bot):
    applied = bot.slash("apply INV-1 200")
    assert (available(db), due(db)) == (30000, 80000)
    undone = bot.click(applied, "Undo")
    assert undone.ts == applied.ts  # the message with the button is replaced
    assert "Undone by <@U-ADMIN>: Reversed application" in undone.all_text
    assert undone.buttons() == []
    assert (available(db), due(db)) == (50000, 100000)
    assert_totals_agree(db)


def test_undo_of_issue_takes_the_credit_back(db, bot):
    issued = bot.slash("issue C1 75 goodwill")
    assert available(db) == 57500
    undone = bot.click(issued, "Undo")
    assert "Took back credit #" in undone.all_text and "$575.00 → $500.00" in undone.all_text
    assert available(db) == 50000
    with db.read() as unit:
        session = unit.session
        amounts = sorted(c.amount_minor for c in session.exec(select(Credit)).all())
    assert amounts == [-7500, 7500, 50000]  # append-only: the credit stays, a negative entry takes it back
    assert_totals_agree(db)


def test_undo_of_issue_is_refused_once_the_credit_is_spent(db, bot):
    issued = bot.slash("issue C1 100 goodwill")
    bot.slash("apply INV-1 600")
    refused = bot.click(issued, "Undo")
    assert refused.ts != issued.ts  # a new, private message; the original keeps its button
    assert "Cannot take back credit" in refused.text and "has only $0.00 of credit left" in refused.text
    assert available(db) == 0
    assert_totals_agree(db)


def test_undo_of_reverse_applies_the_same_amount_again(db, bot):
    bot.slash("apply INV-1 120 project:P1")
    with db.read() as unit:
        session = unit.session
        application = session.exec(select(Payment)).one()
    reversed_ = bot.slash(f"reverse {application.id}")
    assert (available(db), due(db)) == (50000, 100000)
    undone = bot.click(reversed_, "Undo")
    assert "Applied $120.00 of Client C1's credit to invoice INV-1" in undone.all_text
    assert (available(db), due(db)) == (38000, 88000)
    with db.read() as unit:
        session = unit.session
        assert reads.client_balance(unit, "C1").credits_by_project_minor == {"P1": 12000}
    assert_totals_agree(db)


def test_undo_of_reverse_works_once_even_from_two_messages(db, bot, slack):
    bot.slash("apply INV-1 120")
    body = bot.slash_body("reverse 1")
    first = bot.slash_with(body)
    replayed = bot.slash_with(body, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    bot.click(first, "Undo")
    again = bot.click(replayed, "Undo")
    assert "Already done with this request" in again.all_text
    assert count(db, Payment) == 1 + 1  # the application and one re-application, not two
    assert (available(db), due(db)) == (38000, 88000)


def test_undo_checks_permission_again_when_clicked(db, bot):
    applied = bot.slash("apply INV-1 200")
    refused = bot.click(applied, "Undo", user=READER)
    assert refused.text.startswith("Sorry, only billing admins can undo credit applications.")
    assert refused.ts != applied.ts
    assert count(db, Reversal) == 0
    [entry] = refusals(db)
    assert (entry.actor, entry.action) == ("slack:U-READER", "reverse_application")
    assert bot.click(applied, "Undo", user=OTHER_ADMIN).ts == applied.ts


def test_undo_of_something_already_undone_elsewhere_is_refused(db, bot):
    applied = bot.slash("apply INV-1 200")
    bot.slash("reverse 1")
    refused = bot.click(applied, "Undo")
    assert "was already reversed" in refused.text
    assert count(db, Reversal) == 1


# --- double clicks and retries ----------------------------------------------------------------------------


def test_a_double_click_on_undo_reverses_once(db, bot, slack):
    applied = bot.slash("apply INV-1 200")
    bodies = [bot.click_body(applied, "Undo") for _ in range(2)]  # same message, same button: the same request
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda body: bot.click_with(body, applied), bodies))
    assert count(db, Reversal) == 1
    assert (available(db), due(db)) == (50000, 100000)
    assert sum("Already done with this request" in answer.all_text for answer in answers) == 1
    assert_totals_agree(db)


def test_a_retried_slash_command_issues_once(db, bot):
    body = bot.slash_body("issue C1 40 retried")
    first = bot.slash_with(body)
    retry = bot.slash_with(body, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert "Already done" not in first.text
    assert "Already done with this request; nothing changed." in retry.text
    assert available(db) == 54000
    assert count(db, Credit) == 2


def test_concurrent_deliveries_of_one_slash_command_apply_once(db, bot):
    body = bot.slash_body("apply INV-1 100")
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: bot.slash_with(body, {"X-Slack-Retry-Num": "1"}), range(4)))
    assert count(db, Payment) == 1
    assert (available(db), due(db)) == (40000, 90000)
    assert sum("Already done" not in reply.text for reply in replies) == 1
    assert_totals_agree(db)


def test_a_retried_click_is_carried_out_once(db, bot):
    issued = bot.slash("issue C1 30 goodwill")
    body = bot.click_body(issued, "Undo")
    bot.click_with(body, issued)
    retry = bot.click_with(body, issued, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert "Already done with this request" in retry.all_text
    assert available(db) == 50000
    assert count(db, Credit) == 3  # the first credit, the issued one, and one negative entry


def test_two_separate_apply_commands_are_two_applications(db, bot):
    """Idempotency is per request: typing the command twice is two requests (the FAQ's tip: apply once)."""
    bot.slash("apply INV-1 100")
    bot.slash("apply INV-1 100")
    assert count(db, Payment) == 2


# --- unexpected failures ----------------------------------------------------------------------------------


@pytest.fixture
def bot_on_sqlite(sqlite_db, slack):
    simple_ledger(sqlite_db)
    with running_bot(sqlite_db, slack) as running:
        yield running


def test_an_unexpected_failure_is_an_apology_without_a_stack_trace(sqlite_db, bot_on_sqlite, caplog):
    with sqlite_db.engine.begin() as connection:
        connection.execute(text("DROP TABLE history"))  # the database breaks under the bot
    with caplog.at_level(logging.ERROR, logger="creditbot.bot"):
        reply = bot_on_sqlite.slash("history C1")
    assert reply.text.startswith("Sorry, something went wrong on my side (error ")
    assert "Traceback" not in reply.all_text and "sqlite" not in reply.all_text.lower()
    error_id = reply.text.split("(error ", 1)[1].split(")", 1)[0]
    assert any(error_id in record.getMessage() and record.exc_info for record in caplog.records)
