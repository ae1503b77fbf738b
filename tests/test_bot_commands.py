"""Every `/credit` subcommand, end to end: signed slash commands over HTTP to the bot's WSGI app, a real ledger
(SQLite and PostgreSQL), and a stand-in for Slack's Web API."""

from __future__ import annotations

import pytest
from sqlmodel import select

from faq import load_faq
from ledger import reads
from ledger.demo import load_demo
from ledger.tables import Credit, HistoryEntry, Payment, Reversal
from tests.builders import client, credit, import_rows, invoice, payment, row_counts, simple_ledger
from tests.slack_standin import READER


def counts(db):
    return row_counts(db, Credit, Payment, Reversal, HistoryEntry)


def test_help_lists_every_subcommand_with_an_example(bot):
    reply = bot.slash("")
    for name in ("balance", "invoice", "issue", "apply", "reverse", "history", "ask", "tips", "scan"):
        assert f"/credit {name}" in reply.all_text
    assert "e.g. `/credit apply INV-1002 500 project:P-ACME-IP`" in reply.all_text
    assert bot.slash("help").all_text == reply.all_text


def test_help_on_one_subcommand_gives_its_usage(bot):
    reply = bot.slash("help apply")
    assert "`/credit apply INVOICE [AMOUNT] [project:ID]`" in reply.all_text


def test_balance_shows_cash_credits_and_memos_apart(db, bot):
    load_demo(db)
    reply = bot.slash("balance birch")
    text = reply.all_text
    assert "Birch & Co Architects" in text and "Birch &amp; Co Architects" in text  # escaped for mrkdwn
    assert "*Available credit: $1,500.00*" in text
    # INV-2001: $18,600.00 total, $12,000.00 wire, $1,500.00 QuickBooks credit memo, posted.
    assert "*INV-2001* · issued 2026-09-15 · posted to QuickBooks 2026-09-16" in text
    for field in ("*Total*\n$18,600.00", "*Cash paid*\n$12,000.00", "*Credits applied*\n$0.00",
                  "*QuickBooks credit memos*\n$1,500.00", "*Balance due*\n$5,100.00"):  # fmt: skip
        assert field in text


def test_names_with_ampersands_arrive_escaped_and_are_found(db, bot):
    load_demo(db)
    assert "Birch & Co Architects · credit and open invoices" in bot.slash("balance birch & co").all_text


def test_balance_in_euros_is_formatted_for_people(db, bot):
    load_demo(db)
    assert "*Available credit: €300.00*" in bot.slash("balance C-DUN").all_text


def test_balance_finds_a_client_by_part_of_its_name(db, bot):
    load_demo(db)
    assert "Cedar Consulting Group · credit and open invoices" in bot.slash("balance cedar").all_text


def test_balance_of_an_ambiguous_client_offers_the_candidates(db, bot):
    import_rows(db, clients=[client("C1", "Northwind Legal"), client("C2", "Northwind Tax")])
    reply = bot.slash("balance northwind")
    assert "matches several clients" in reply.all_text
    assert reply.buttons() == ["Northwind Legal (C1)", "Northwind Tax (C2)"]
    shown = bot.click(reply, "Northwind Tax (C2)", user=READER)
    assert "Northwind Tax · credit and open invoices" in shown.all_text


def test_balance_of_an_unknown_client_suggests_the_closest(db, bot):
    load_demo(db)
    reply = bot.slash("balance Acme Legl")
    assert "No client matches “Acme Legl”. Did you mean: Acme Legal LLP (C-ACME)" in reply.all_text
    assert "Acme Legal LLP (C-ACME)" in reply.buttons()


def test_invoice_spells_out_each_payment_kind(db, bot):
    load_demo(db)
    text = bot.slash("invoice INV-1001").all_text
    assert "Check payment · $10,000.00 · (PAY-1)" in text
    assert "Client credit applied (AccountCredit, not cash) · $1,000.00 · (PAY-2) · project `P-ACME-LIT`" in text
    assert "*Balance due*\n$1,500.00" in text
    assert "Not posted: credits can be applied here." in text


def test_invoice_shows_posting_and_the_change_history(db, bot):
    load_demo(db)
    text = bot.slash("invoice inv-2001").all_text
    assert "Posted 2026-09-16 09:00 UTC as QuickBooks invoice 9001" in text
    assert "QuickBooks credit memo (not cash) · $1,500.00" in text
    assert "import_edit" in text and "total: 18000.00 → 18600.00" in text


def test_history_of_a_client_and_of_an_invoice(db, bot):
    simple_ledger(db)
    bot.slash("apply INV-1 100")
    assert "History of client Client C1" in bot.slash("history C1").all_text
    text = bot.slash("history INV-1").all_text
    assert "History of invoice INV-1" in text
    assert "slack:U-ADMIN · apply_credit" in text and "balance_due: 1000.00 → 900.00" in text


def test_issue_grants_credit_and_says_what_changed(db, bot):
    simple_ledger(db)
    reply = bot.slash("issue C1 250.00 Discount for a late report")
    assert "Issued $250.00 of credit to Client C1" in reply.text
    assert "Available credit: $500.00 → $750.00" in reply.text
    assert reply.buttons() == ["Undo"]
    with db.read() as unit:
        session = unit.session
        assert reads.client_balance(unit, "C1").available_credit_minor == 75000
        entry = session.exec(select(HistoryEntry).where(HistoryEntry.action == "issue_credit")).one()
        assert (entry.actor, entry.detail) == ("slack:U-ADMIN", "Discount for a late report")


def test_issue_keeps_a_quoted_client_name_with_digits_together(db, bot):
    import_rows(db, clients=[client("S54", "Studio 54")])
    assert "Issued $10.00 of credit to Studio 54" in bot.slash('issue "Studio 54" 10 thanks').text


def test_apply_without_amount_applies_as_much_as_possible(db, bot):
    simple_ledger(db, credit_amount="300.00")
    reply = bot.slash("apply INV-1")
    assert "Applied $300.00 of Client C1's credit to invoice INV-1" in reply.text
    assert "Balance due: $1,000.00 → $700.00" in reply.text


def test_apply_with_a_project_tag(db, bot):
    simple_ledger(db)
    bot.slash("apply INV-1 50 project:P1")
    with db.read() as unit:
        assert reads.client_balance(unit, "C1").credits_by_project_minor == {"P1": 5000}


def test_reverse_puts_the_credit_back(db, bot):
    simple_ledger(db)
    bot.slash("apply INV-1 200")
    with db.read() as unit:
        session = unit.session
        application = session.exec(select(Payment).where(Payment.kind == "AccountCredit")).one()
    reply = bot.slash(f"reverse {application.id}")
    assert f"Reversed application #{application.id}: $200.00 is back in Client C1's credit" in reply.text
    with db.read() as unit:
        session = unit.session
        assert reads.client_balance(unit, "C1").available_credit_minor == 50000


def test_ledger_refusals_are_short_and_write_nothing(db, bot):
    import_rows(
        db,
        clients=[client("C1")],
        invoices=[invoice("INV-1", posted_to_qb_at="2026-10-02T10:00:00Z", qb_invoice_id="77"), invoice("INV-2")],
        credits=[credit("CR-1", amount="100.00")],
        payments=[payment("P1", "INV-2", "check", "10.00")],
    )
    before = counts(db)
    posted = bot.slash("apply INV-1 10")
    assert "was posted to QuickBooks on 2026-10-02 10:00 UTC" in posted.text
    assert "Nothing was changed." in posted.all_text
    assert "has only $100.00 of credit available" in bot.slash("apply INV-2 500").text
    assert "Payment #1 is a check payment" in bot.slash("reverse 1").text
    assert "“10.001” is not a valid amount: USD has at most 2 decimals." in bot.slash("issue C1 10.001 x").text
    assert counts(db) == before


ISSUE_USAGE = "`/credit issue CLIENT AMOUNT REASON... [--expires DATE]`"


@pytest.mark.parametrize(
    ("line", "problem", "usage"),
    [
        ("frobnicate", "I don't know the command “frobnicate”.", "`/credit SUBCOMMAND ...`"),
        ("balanse acme", "Did you mean `balance`?", "`/credit SUBCOMMAND ...`"),
        ("balance", "Which client?", "`/credit balance CLIENT`"),
        ("invoice", "Which invoice?", "`/credit invoice NUMBER`"),
        ("issue C1", "How much? No amount was given.", ISSUE_USAGE),
        ("issue C1 50", "Say why the client gets this credit", ISSUE_USAGE),
        ("issue C1 $50 x", "write it without a currency sign", ISSUE_USAGE),
        ("issue C1 -5 x", "amounts must be positive", ISSUE_USAGE),
        ("issue C1 0.00 x", "must be greater than zero", ISSUE_USAGE),
        ("apply INV-1 1,000", "without thousands separators", "`/credit apply INVOICE [AMOUNT] [project:ID]`"),
        ("apply INV-1 lots", "I don't understand “lots” here", "`/credit apply INVOICE [AMOUNT] [project:ID]`"),
        ("apply INV-1 5 6", "Give at most one amount.", "`/credit apply INVOICE [AMOUNT] [project:ID]`"),
        ("reverse abc", "“abc” is not a credit application id", "`/credit reverse APPLICATION_ID [AMOUNT]`"),
        ("history", "Whose history?", "`/credit history CLIENT|INVOICE`"),
        ("ask", "What would you like to know?", "`/credit ask QUESTION...`"),
        ("scan now please", "`scan` takes nothing after it.", "`/credit scan`"),
    ],
)
def test_malformed_input_gets_the_problem_and_the_usage_line(db, bot, line, problem, usage):
    simple_ledger(db)
    before = counts(db)
    reply = bot.slash(line)
    assert problem in reply.text
    assert f"Usage: {usage}" in reply.all_text
    assert counts(db) == before


def test_unknown_invoice_is_named(db, bot):
    simple_ledger(db)
    assert "No invoice numbered “INV-404”" in bot.slash("invoice INV-404").text


@pytest.mark.parametrize(
    "question", ["how do I apply a credit to an invoice?", "credits and quickbooks", "what is the weather in Paris"]
)
def test_ask_answers_from_the_faq_and_its_buttons_answer_too(bot, question):
    faq = load_faq()
    expected = faq.ask(question)
    reply = bot.slash(f"ask {question}", user=READER)
    assert expected.answer.splitlines()[0] in reply.all_text
    offered = list(expected.suggestions) or list(expected.related)[:3]
    assert reply.buttons() == [faq.entry(entry_id).title for entry_id in offered]
    if offered:
        clicked = bot.click(reply, faq.entry(offered[0]).title, user=READER)
        assert faq.entry(offered[0]).answer.splitlines()[0] in clicked.all_text


def test_tips_shows_the_quick_tips(bot):
    reply = bot.slash("tips", user=READER)
    assert load_faq().tips().splitlines()[0] in reply.all_text


def test_scan_is_acknowledged_at_once_and_answered_through_respond(db, bot, slack):
    load_demo(db)
    reply = bot.slash("scan")
    assert "Working on it" in reply.text
    answer = slack.wait_for(lambda: slack.responses(reply.response_url_name))[0]
    assert answer.body["response_type"] == "ephemeral"
    assert "INV-1003" in str(answer.body["blocks"])


def test_every_reply_is_ephemeral_and_carries_a_fallback_text(db, bot):
    simple_ledger(db)
    for line in ("help", "balance C1", "invoice INV-1", "history C1", "tips", "nonsense", "apply INV-1 1"):
        reply = bot.slash(line)  # slash() asserts response_type == "ephemeral"
        assert reply.text.strip()


def test_the_word_payload_in_a_command_is_just_a_word(db, bot, slack):
    """Bolt alone takes any form body containing "payload" for a button click; the bot's server does not."""
    load_demo(db)
    assert bot.slash("ask what is a payload?", user=READER).text
    body = bot.slash_body("balance acme").replace("channel_name=billing", "channel_name=payload-team")
    assert "Acme Legal LLP · credit and open invoices" in bot.slash_with(body).all_text
    later = bot.slash_with(bot.slash_body("scan").replace("channel_name=billing", "channel_name=payload-team"))
    assert slack.wait_for(lambda: slack.responses(later.response_url_name))[0].body["blocks"]


@pytest.mark.parametrize(
    ("line", "writes"),
    [
        ("balance C1", False),
        ("invoice INV-1", False),
        ("tips", False),
        ("apply INV-1 100", True),
        ("issue C1 50 goodwill", True),
        ("apply", False),  # malformed: answered with its usage line, nothing is written
        ("frobnicate", False),
    ],
)
def test_only_a_write_may_announce_after_its_answer(line: str, writes: bool):
    # bot.slack.listeners.slash gives the lazy "announce after the answer" listener only to these lines.
    from bot.handlers import registry

    assert registry.writes(line) is writes
