"""Whatever is typed after /credit, the bot answers (no error page, no stack trace) and writes only what it says
it wrote. Property-based: random text, and random arguments after each subcommand, over signed HTTP requests."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.handlers import grammar
from bot.handlers.grammar import UsageError
from ledger.tables import Credit, HistoryEntry, IdempotencyKey, Payment, PendingApproval, Reversal
from tests.builders import row_counts, simple_ledger
from tests.slack_standin import ADMIN, READER

WRITE_SENTENCES = ("Issued ", "Applied ", "Reversed ", "Asked for approval")
APOLOGY = "Sorry, something went wrong"
TABLES = (Credit, Payment, Reversal, IdempotencyKey, HistoryEntry, PendingApproval)
MONEY_TABLES = (Credit, Payment, Reversal)

WORDS = ["C1", "Client", "c", "INV-1", "inv-1", "1", "0", "00.00", "-5", "1,000", "$5", "€5", "5.001", "1e3", "+5",
         "project:P1", "project:", "project:NOPE", '"', "“", "#1", "#", "99999999999999999999", "NaN", "   ", "\t",
         "'", "O'Brien", "<@U1>", "&amp;", "*bold*", "`code`", "\x00", "\u200b", "ℵ", "🙂"]  # fmt: skip
SUBCOMMANDS = [*grammar.SUBCOMMANDS, "/credit", "HELP", "Balance", "issue-", "appl"]

any_text = st.text(max_size=120)
argument_soup = st.builds(
    lambda name, words: " ".join([name, *words]),
    st.sampled_from(SUBCOMMANDS),
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), max_size=6),
)
amounts = st.one_of(st.sampled_from(["1", "0.5", "10.00", "1.001", "0", "-1", "1,0", "$1"]), st.text(max_size=6))
near_writes = st.one_of(
    st.builds(lambda a, r: f"issue C1 {a} {r}", amounts, st.text(max_size=20)),
    st.builds(lambda a, p: f"apply INV-1 {a} {p}", amounts, st.sampled_from(["", "project:P1", "project:X"])),
    st.builds(lambda n: f"reverse {n}", st.one_of(st.integers(-2, 5).map(str), st.text(max_size=4))),
)
lines = st.one_of(any_text, argument_soup, near_writes)
QUICK = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def bot_ledger(db):
    simple_ledger(db)


def counts(db, tables=TABLES) -> tuple[int, ...]:
    return row_counts(db, *tables)


@QUICK
@given(line=lines)
def test_a_billing_admin_typing_anything_gets_an_answer_and_only_the_writes_it_names(db, bot, line):
    before = counts(db)
    reply = bot.slash(line, user=ADMIN)  # asserts HTTP 200 and an ephemeral reply
    assert reply.text.strip()
    assert APOLOGY not in reply.text and "Traceback" not in reply.all_text
    wrote = reply.text.startswith(WRITE_SENTENCES) and "Already done" not in reply.text
    event("wrote" if wrote else "no write")
    assert (counts(db) != before) == wrote, (line, reply.text)


@QUICK
@given(line=lines)
def test_anyone_else_typing_anything_never_moves_money(db, bot, line):
    before = counts(db, MONEY_TABLES)
    reply = bot.slash(line, user=READER)
    assert reply.text.strip()
    assert APOLOGY not in reply.text
    assert counts(db, MONEY_TABLES) == before


@settings(max_examples=2000, deadline=None)
@given(line=lines)
def test_the_grammar_either_parses_or_explains_with_a_usage_line(line):
    try:
        command = grammar.parse(line)
    except UsageError as malformed:
        assert malformed.message.strip()
        assert malformed.usage and "/credit" in malformed.usage
        return
    assert command.name in grammar.SUBCOMMANDS
