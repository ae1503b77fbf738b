"""A request key names one request of one person (issue 12.2): two console sessions typing the same line write
twice, on SQLite and PostgreSQL; a real retry (Slack's, a --key repeated on the CLI) writes once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from ledger.demo import load_demo
from ledger.tables import Credit, Invoice, Payment

CREDITBOT = str(Path(sys.executable).parent / "creditbot")


@pytest.fixture
def creditbot(db, tmp_path: Path):
    """`creditbot ...` as a separate process on the test's database (each call a new session)."""
    load_demo(db)
    env = {**os.environ, "HOME": str(tmp_path), "DATABASE_URL": db.url.render_as_string(hide_password=False)}

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([CREDITBOT, *args], input=stdin, env=env, capture_output=True, text=True, timeout=120)

    return run


def applications_on(db, number: str) -> int:
    """Credit applications made from the console on invoice `number`."""
    with db.read() as unit:
        query = (
            select(Payment)
            .join(Invoice, Invoice.id == Payment.invoice_id)
            .where(Invoice.number == number, Payment.kind == "AccountCredit", Payment.created_by.startswith("console"))
        )
        return len(unit.session.exec(query).all())


def issued_by_console(db) -> int:
    with db.read() as unit:
        return len(unit.session.exec(select(Credit).where(Credit.created_by.startswith("console"))).all())


def test_two_console_sessions_typing_the_same_line_write_twice(db, creditbot):
    first = creditbot("console", stdin="apply INV-1002 100\n")
    second = creditbot("console", stdin="apply INV-1002 100\n")
    assert "Applied $100.00" in first.stdout and "Applied $100.00" in second.stdout, second.stdout
    assert "Already done" not in second.stdout
    assert applications_on(db, "INV-1002") == 2


def test_a_line_first_in_a_later_session_is_not_taken_for_an_earlier_request(db, creditbot):
    creditbot("console", stdin="apply INV-1002 100\n")
    later = creditbot("console", stdin="issue birch 10 goodwill\n")
    assert "Issued $10.00" in later.stdout and "different request" not in later.stdout
    assert issued_by_console(db) == 1


def test_the_same_cli_key_again_is_a_retry_and_writes_once(db, creditbot):
    first = creditbot("issue", "birch", "10", "--reason", "goodwill", "--key", "retry-1")
    again = creditbot("issue", "birch", "10", "--reason", "goodwill", "--key", "retry-1")
    assert first.returncode == 0 and again.returncode == 0, again.stderr
    assert "Already done" in again.stdout
    with db.read() as unit:
        assert len(unit.session.exec(select(Credit).where(Credit.reason == "goodwill")).all()) == 1
