"""Issue 17 in Slack (signed HTTP requests on real ledgers) and in the console: the same grammar, Undo buttons, the
apply-all preview button, approvals for the new writes, and typed refusals without tracebacks."""

from __future__ import annotations

import pytest
from sqlmodel import select

from ledger.tables import Payment, PendingApproval
from ledger.totals import stored_totals, totals_from_entries
from tests.builders import available, client, credit, due, import_rows, invoice
from tests.slack_standin import OTHER_ADMIN, READER, running_bot
from tests.test_bot_console import run_console


@pytest.fixture
def bot_ledger(db):
    import_rows(
        db,
        clients=[client("C1", "Acme Legal"), client("C2", "Acme UK")],
        invoices=[invoice("INV-1", "C1", "400.00"), invoice("INV-2", "C1", "300.00", issued_on="2026-10-05")],
        credits=[credit("CR-1", "C1", "500.00")],
    )


def totals_agree(db) -> bool:
    with db.read() as unit:
        return stored_totals(unit.session) == totals_from_entries(unit.session)


def first_application(db) -> int:
    with db.read() as unit:
        return unit.session.exec(select(Payment).order_by(Payment.id)).first().id


def test_partial_reverse_and_its_undo(db, bot):
    bot.slash("apply INV-1 200")
    reply = bot.slash(f"reverse {first_application(db)} 50")
    assert "Reversed $50.00 of application" in reply.text and "$150.00 of it stays applied" in reply.text
    assert available(db) == 35000
    undone = bot.click(reply, "Undo")
    assert "Applied $50.00" in undone.all_text and available(db) == 30000 and totals_agree(db)


def test_move_and_its_undo(db, bot):
    bot.slash("apply INV-1 200")
    moved = bot.slash(f"move {first_application(db)} INV-2 80")
    assert "Moved $80.00 of Acme Legal's credit from invoice INV-1 to INV-2" in moved.text
    assert (due(db, "INV-1"), due(db, "INV-2")) == (28000, 22000)
    bot.click(moved, "Undo")
    assert (due(db, "INV-1"), due(db, "INV-2")) == (20000, 30000) and totals_agree(db)


def test_transfer_and_its_undo(db, bot):
    sent = bot.slash('transfer "Acme Legal" "Acme UK" 120 --reason "belongs to the subsidiary"')
    assert "Transferred $120.00 of credit from Acme Legal to Acme UK" in sent.text
    assert (available(db, "C1"), available(db, "C2")) == (38000, 12000)
    bot.click(sent, "Undo")
    assert (available(db, "C1"), available(db, "C2")) == (50000, 0)


def test_refund_has_a_receipt_and_write_off_can_be_undone(db, bot):
    refunded = bot.slash("refund C1 40 --reason client asked --reference CHK-9")
    assert "receipt CHK-9" in refunded.text and refunded.buttons() == []
    written = bot.slash("write-off C1 10 --reason unused")
    assert available(db) == 45000
    bot.click(written, "Undo")
    assert available(db) == 46000 and totals_agree(db)


def test_apply_all_preview_button_applies_the_plan(db, bot):
    preview = bot.slash("apply-all acme legal --oldest-first --dry-run")
    assert "Would apply $500.00 of Acme Legal's credit over 2 open invoice(s)" in preview.text
    assert preview.buttons() == ["Apply this plan"] and available(db) == 50000
    done = bot.click(preview, "Apply this plan")
    assert "Applied $500.00" in done.all_text and done.buttons() == ["Undo"]
    assert (due(db, "INV-1"), due(db, "INV-2"), available(db)) == (0, 20000, 0)
    bot.click(done, "Undo")
    assert available(db) == 50000 and totals_agree(db)


def test_credits_lists_entries(db, bot):
    bot.slash("apply INV-1 25")
    listing = bot.slash("credits C1 --kind applied")
    assert "applied #" in listing.all_text and "-$25.00" in listing.all_text.replace("−", "-")
    assert "No credit entries match." in bot.slash("credits C1 --kind refund").text


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("transfer C1 120 --reason x", "Name two clients"),
        ("refund C1 40", "--reason"),
        ("move 1", "Give the credit application id"),
        ("credits --page zero", "not a page number"),
        ("apply-all C1 --oldest-first --largest-first", "Choose one order"),
    ],
)
def test_malformed_lines_get_the_usage_and_change_nothing(db, bot, line, problem):
    reply = bot.slash(line)
    assert problem in reply.text and available(db) == 50000


def test_refusals_are_typed_messages(db, bot):
    assert "Cannot refund $600.00" in bot.slash("refund C1 600 --reason too much").text
    assert "only between clients billed in the same currency" not in bot.slash("transfer C1 C2 1 --reason x").text
    assert (
        "Sorry, only billing admins can transfer credit." in bot.slash("transfer C1 C2 1 --reason x", user=READER).text
    )


def test_a_transfer_above_the_threshold_waits_for_a_second_admin(db, slack, bot_ledger):
    with running_bot(db, slack, CREDITBOT_APPROVAL_THRESHOLD="100") as bot:
        asked = bot.slash("transfer C1 C2 300 --reason subsidiary")
        assert asked.text.startswith("Asked for approval: transfer $300.00 of credit from Acme Legal to Acme UK")
        [posted] = bot.posted()
        approved = bot.click(posted, "Approve", user=OTHER_ADMIN)
        assert "Transferred $300.00" in approved.all_text and approved.buttons() == ["Undo"]
    assert (available(db, "C1"), available(db, "C2")) == (20000, 30000)
    with db.read() as unit:
        assert unit.session.exec(select(PendingApproval)).one().status == "approved"


def test_the_console_speaks_the_same_grammar(db, bot_ledger):
    out = run_console(db, ["apply-all C1 --dry-run", "1", "credits C1 --kind applied"])
    assert "Would apply $500.00" in out and "Applied $500.00" in out and "applied #" in out
