"""The conversational FAQ in Slack, end to end: signed `/credit ask`, `/credit tips`, mentions and direct messages
to the bot's WSGI app, on a real ledger (SQLite and PostgreSQL); answers grounded in the ledger's live facts."""

from __future__ import annotations

import json

import pytest

from bot.handlers.faq_grounding import GroundedFaqCache, forget_client_names, grounded_faq
from faq import load_faq
from ledger import scans
from ledger.demo import load_demo
from tests.builders import client, import_rows, invoice
from tests.slack_standin import CHANNEL, READER, SlackStandIn, event_body
from tests.test_bot_console import run_console


@pytest.fixture
def bot_ledger():
    forget_client_names()  # each test's ledger is new: don't reuse the names cached for the last one


@pytest.fixture
def demo(db):
    load_demo(db)
    scans.run_scan(db, scans.ScanOptions(duplicate_window_days=7))
    return db


def posted_text(slack: SlackStandIn) -> tuple[dict, str]:
    [posted] = slack.wait_for(lambda: slack.api_calls("chat.postMessage"))
    return posted.body, json.dumps(posted.body.get("blocks"), ensure_ascii=False)


def test_a_question_about_an_invoice_adds_its_split_posting_and_open_findings(demo, bot):
    reply = bot.slash("ask why does INV-2001 look wrong?", user=READER)
    text = reply.all_text
    # The invoice's open finding decides the answer: what happened on it first, then what the finding means.
    assert "*Finding: edit after posting to QuickBooks*" in text
    assert ":warning: *Edited after posting to QuickBooks* on INV-2001: Invoice INV-2001 was changed" in text
    assert "In your ledger right now" in text
    assert (
        "*INV-2001* · Birch &amp; Co Architects (`C-BIRCH`): total $18,600.00 = cash paid $12,000.00 + credits "
        "applied $0.00 + QuickBooks credit memos $1,500.00 + *balance due $5,100.00*"
    ) in text
    assert "Posted to QuickBooks on 2026-09-16 as QuickBooks invoice 9001" in text
    assert "*Edited after posting to QuickBooks*" in text and "`/credit ask finding-post-sync-edit`" in text


def test_a_duplicated_credit_is_shown_with_the_entry_that_explains_it(demo, bot):
    text = bot.slash("ask what's wrong with invoice INV-1003", user=READER).all_text
    assert "credits applied $1,200.00" in text and "Not posted to QuickBooks yet" in text
    assert "*Duplicate credit*" in text and "`/credit ask finding-duplicate-credit`" in text


def test_a_question_naming_a_client_gets_its_credit_and_open_invoices(demo, bot):
    text = bot.slash("ask what does Acme Legal owe?", user=READER).all_text
    assert "*Acme Legal LLP* (`C-ACME`): available credit *$550.00* (issued $2,750.00, applied $2,200.00)" in text
    assert "3 open invoices, balance due $10,900.00 in total" in text
    assert "*Duplicate credit*" in text  # INV-1003 is Acme's


def test_a_client_is_found_by_a_distinctive_first_word_or_its_id(demo, bot):
    assert "*Acme Legal LLP* (`C-ACME`)" in bot.slash("ask how much credit does acme have left", user=READER).all_text
    assert "*Dunmore Engineering GmbH* (`C-DUN`)" in bot.slash("ask credit for C-DUN?", user=READER).all_text


def test_records_that_do_not_exist_add_nothing(demo, bot):
    reply = bot.slash("ask why does INV-9999 look wrong?", user=READER)
    assert "In your ledger right now" not in reply.all_text
    assert "*An invoice balance looks wrong after a credit*" in reply.all_text


def test_a_new_client_is_recognised_once_the_names_are_refreshed(db):
    import_rows(db, clients=[client("C1", "Northwind Legal")], invoices=[invoice("INV-1")])
    cache = GroundedFaqCache(ttl_seconds=60, clock=lambda: now)
    now = 0.0
    assert cache.get(load_faq(), db).ask("what does northwind owe").references.client_names == ("Northwind Legal",)
    import_rows(db, clients=[client("C2", "Zephyr Studio")])
    now = 30.0  # still cached: no query per question
    assert cache.get(load_faq(), db).ask("what does zephyr owe").references.client_names == ()
    now = 61.0
    assert cache.get(load_faq(), db).ask("what does zephyr owe").references.client_names == ("Zephyr Studio",)


def test_suggestions_are_buttons_and_a_click_shows_that_entry(demo, bot):
    faq = load_faq()
    reply = bot.slash("ask credit quickbooks", user=READER)
    expected = faq.ask("credit quickbooks")
    assert expected.outcome == "suggest"
    assert reply.buttons() == [faq.entry(entry_id).title for entry_id in expected.suggestions]
    first = faq.entry(expected.suggestions[0])
    clicked = bot.click(reply, first.title, user=READER)
    assert f"*{first.title}*" in clicked.all_text
    assert first.answer.splitlines()[0] in clicked.all_text


def test_i_dont_know_points_to_tips_and_the_billing_lead(demo, bot):
    reply = bot.slash("ask what's the wifi password", user=READER)
    assert "I don't know" in reply.all_text
    assert "`/credit tips`" in reply.all_text and "billing lead" in reply.all_text
    assert reply.buttons() == []  # nothing to guess from
    assert load_faq().tips().splitlines()[0] in bot.slash("tips", user=READER).all_text


def test_tips_in_block_kit(bot):
    reply = bot.slash("tips", user=READER)
    assert reply.blocks[0]["type"] == "section"
    assert "*Quick tips*" in reply.blocks[0]["text"]["text"]
    assert load_faq().tips().splitlines()[0] in reply.all_text


def test_a_mention_with_a_question_is_answered_in_its_thread_with_facts(demo, bot, slack):
    mention = {"type": "app_mention", "user": READER, "text": "<@U-BOT> why does INV-2001 look wrong?",
               "ts": "1700000000.000500", "channel": CHANNEL, "event_ts": "1700000000.000500"}  # fmt: skip
    assert bot.post(event_body(mention, "EvF1"), {"Content-Type": "application/json"}).status == 200
    body, blocks = posted_text(slack)
    assert (body["channel"], body["thread_ts"]) == (CHANNEL, "1700000000.000500")
    assert "Finding: edit after posting to QuickBooks" in blocks
    assert "balance due $5,100.00" in blocks and "finding-post-sync-edit" in blocks


def test_a_direct_message_question_about_a_client_is_grounded(demo, bot, slack):
    dm = {"type": "message", "channel_type": "im", "user": READER, "text": "does birch have any credit left?",
          "ts": "1700000000.000600", "channel": "D-READER", "event_ts": "1700000000.000600"}  # fmt: skip
    assert bot.post(event_body(dm, "EvF2"), {"Content-Type": "application/json"}).status == 200
    body, blocks = posted_text(slack)
    assert body["channel"] == "D-READER"
    assert "Birch &amp; Co Architects* (`C-BIRCH`): available credit *$1,500.00*" in blocks
    assert "available credit" in body["text"]  # the notification text carries the facts too


def test_the_console_shows_a_grounded_answer_as_text(demo):
    forget_client_names()
    out = run_console(demo, ["ask why does INV-1003 look wrong?"])
    assert "Finding: duplicate credit" in out
    assert "INV-1003 · Acme Legal LLP (C-ACME): total $6,200.00" in out
    assert "Duplicate credit" in out and "/credit ask finding-duplicate-credit" in out
    assert "*" not in out.split("In your ledger right now")[1]


def test_grounding_reads_only_what_a_question_names(demo):
    # Without references, no ledger read happens at all; with one, the answer still comes from the FAQ.
    faq = grounded_faq(load_faq(), demo)
    plain = faq.ask("how do I undo a credit")
    assert plain.id == "undo" and plain.facts == [] and not plain.references
    grounded = faq.ask("undo the credit on INV-1003")
    assert grounded.references.invoice_numbers == ("INV-1003",) and grounded.facts


def test_an_amount_in_the_question_picks_the_finding_it_matches(demo, bot):
    # The README's example: the $600 duplicate on INV-1003 is the answer, with the payments and the fix.
    reply = bot.slash("ask why is INV-1003 off by 600?", user=READER)
    text = reply.all_text
    assert "*Finding: duplicate credit*" in text
    assert ":warning: *Duplicate credit* on INV-1003: The same credit of $600.00 was applied 2 times" in text
    assert "PAY-4 on 2026-11-03, PAY-5 on 2026-11-05" in text
    assert "balance due $5,000.00" in text  # the split still follows
    [action] = [block for block in reply.blocks if block["type"] == "actions"]
    reverse = action["elements"][0]
    assert (reverse["text"]["text"], reverse["action_id"], reverse["style"]) == (
        "Reverse duplicate",
        "scan_reverse_duplicate",
        "danger",
    )
    assert reverse["confirm"]["confirm"]["text"] == "Reverse duplicate"  # asks before it writes


def test_findings_do_not_take_over_a_question_about_something_else(demo, bot):
    reply = bot.slash("ask how do I give acme a credit", user=READER)
    assert "*Giving a client a credit*" in reply.all_text
    assert "Duplicate credit" in reply.all_text  # still listed among the facts
    assert "scan_reverse_duplicate" not in json.dumps(reply.blocks)


def test_without_findings_the_balance_split_explains_the_invoice(demo, bot):
    text = bot.slash("ask INV-1002 looks off, why?", user=READER).all_text
    assert "*An invoice balance looks wrong after a credit*" in text
    assert "*INV-1002* · Acme Legal LLP" in text and "No open scan findings on this invoice." in text
