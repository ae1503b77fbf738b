"""`creditbot console`: the same handlers as Slack on the same database, Block Kit shown as text, buttons as
numbers to type. Driven with input lines, as a newcomer (or a script) would."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import func, select

from bot.cli.console import CONSOLE_USER, Console
from bot.handlers.context import Services
from bot.render import blocks
from bot.render.blocks import Button
from bot.render.console_text import plain, render
from bot.settings import Settings
from ledger.tables import Credit
from tests.builders import available, simple_ledger


def run_console(db, lines: list[str], user: str = CONSOLE_USER, **settings: str) -> str:
    values = {"DATABASE_URL": db.url.render_as_string(hide_password=False), "CREDITBOT_BILLING_ADMINS": "U-LEAD"}
    services = Services(Settings(_env_file=None, **{**values, **settings}), db, frozenset({CONSOLE_USER}))
    out = io.StringIO()
    Console(services, user_id=user, out=out).run(lines, interactive=False)
    return out.getvalue()


def test_the_console_shows_replies_as_text(db):
    simple_ledger(db)
    out = run_console(db, ["/credit balance C1", "invoice INV-1"])
    assert "credit> /credit balance C1" in out
    assert "Client C1 · credit and open invoices\n════" in out
    assert "Available credit: $500.00" in out
    assert "Total: $1,000.00" in out and "Cash paid: $0.00" in out and "Balance due: $1,000.00" in out
    assert "QuickBooks: Not posted: credits can be applied here." in out
    assert "*" not in out.split("credit> invoice")[1]  # mrkdwn is turned into plain text


def test_the_default_console_user_is_a_billing_admin_and_buttons_are_numbers(db):
    simple_ledger(db)
    out = run_console(db, ["apply INV-1 100", "1"])
    assert "✔ Applied $100.00 of Client C1's credit to invoice INV-1" in out
    assert "[1] Undo" in out
    assert "(clicked [1] Undo as U-CONSOLE)" in out
    assert "↩ Undone by U-CONSOLE: Reversed application" in out
    assert available(db) == 50000


def test_a_clicked_button_is_gone_and_picking_it_again_changes_nothing(db):
    simple_ledger(db)
    out = run_console(db, ["apply INV-1 100", "1", "1", "7"])
    assert out.count("There is no button [1] on screen.") == 1
    assert "There is no button [7] on screen." in out
    assert available(db) == 50000


def test_another_user_is_not_an_admin_unless_configured(db):
    simple_ledger(db)
    out = run_console(db, ["issue C1 10 x", ":as U-LEAD", "issue C1 10 x"], user="U-SOMEONE")
    assert "⛔ Sorry, only billing admins can issue credits." in out
    assert "You are now U-LEAD, a billing admin." in out
    assert "✔ Issued $10.00 of credit to Client C1" in out


def test_the_approval_flow_in_the_console(db):
    simple_ledger(db)
    lines = ["issue C1 5000 settlement", "1", ":as U-LEAD", "1", "4", ":as U-CONSOLE", "5"]
    out = run_console(db, lines, CREDITBOT_APPROVAL_THRESHOLD="1000")
    assert "⏳ Asked for approval: issue $5,000.00 of credit to Client C1 (C1)" in out
    assert "── posted in #C-CONSOLE for everyone ──" in out
    assert (
        "🔒 Approval needed: U-CONSOLE asks to issue $5,000.00 of credit to Client C1 (C1).\n│ Reason: settlement"
        in out
    )
    assert "[1] Approve   [2] Reject   [3] Review" in out
    assert "(clicked [1] Approve as U-CONSOLE)\n⛔ You asked for request #1" in out
    assert "(clicked [1] Approve as U-LEAD)\n✔ Approved by U-LEAD (asked by U-CONSOLE, request #1)" in out
    assert "[4] Undo" in out and "Asked for approval: take back credit #2 ($5,000.00 of Client C1)" in out
    assert "(clicked [5] Approve as U-CONSOLE)" in out and "Took back credit #2" in out
    assert available(db) == 50000
    with db.read() as unit:
        session = unit.session
        assert session.exec(select(func.count()).select_from(Credit)).one() == 3  # issued, then taken back


def test_quit_stops_reading(db):
    simple_ledger(db)
    out = run_console(db, ["help", "quit", "apply INV-1 100"])
    assert "/credit apply INVOICE [AMOUNT] [project:ID]" in out
    assert available(db) == 50000


def test_console_text_renders_fields_buttons_and_links():
    shown = render(
        blocks.message(
            "*Hello* <@U1> and <https://example.com|the docs> &amp; `code`", "a note", [Button("Go", "x", "1")]
        ),
        first_number=4,
    )
    assert shown.text.splitlines() == ["Hello @U1 and the docs (https://example.com) & code", "[4] Go", "  a note"]
    assert [(c.number, c.action_id, c.value) for c in shown.choices] == [(4, "x", "1")]
    assert plain(":warning: >quoted") == "⚠ >quoted"
    assert render([], "just text").text == "just text"


def test_creditbot_console_runs_the_readme_flow_without_slack_credentials(tmp_path):
    """The README's first command loads the demo; `creditbot console` then answers from it, input piped in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CREDITBOT_", "DATABASE_URL"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'creditbot.db'}"
    cli = [sys.executable, "-c", "from bot.cli import main; main()"]
    subprocess.run([*cli, "demo"], env=env, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    session = "balance acme\ninvoice INV-1003\napply INV-1002 500\n1\nhistory INV-1002\n"
    done = subprocess.run(
        [*cli, "console"], input=session, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Acme Legal LLP · credit and open invoices" in done.stdout
    assert "Client credit applied (AccountCredit, not cash) · $600.00 · (PAY-4)" in done.stdout
    assert "Applied $500.00 of Acme Legal LLP's credit to invoice INV-1002" in done.stdout
    assert "Undone by U-CONSOLE" in done.stdout
    assert "console:U-CONSOLE · reverse_application" in done.stdout
    assert done.stderr == ""
