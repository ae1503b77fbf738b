"""Text people type is bounded before it reaches the database or a log (issue 19): a 50,000-character name gets a
clear refusal, not "something went wrong"; a control character (NUL above all) in a name or a QuickBooks number is
refused with its file, row and column on SQLite and PostgreSQL alike; `issue acme -5` gets the amount's refusal."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import common, typer_app
from bot.settings import get_settings
from ledger.errors import ImportRowError
from ledger.qbo.errors import QBOFeedError
from ledger.tables import Client, Credit, HistoryEntry, Invoice, Payment
from tests.builders import client, import_rows, invoice, row_counts, simple_ledger, write_csv
from tests.qbo_payloads import cdc, qbo_invoice, sync
from tests.slack_standin import ADMIN

app = typer_app()

APOLOGY = "something went wrong"
runner = CliRunner()


@pytest.fixture
def bot_ledger(db):
    simple_ledger(db)


@pytest.fixture
def cli(db, monkeypatch: pytest.MonkeyPatch):
    """`creditbot ...` over the test's database (SQLite or PostgreSQL)."""
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CREDITBOT_APPROVAL_THRESHOLD", "")
    get_settings.cache_clear()
    common.database.cache_clear()
    yield lambda *args: runner.invoke(app, list(args))
    common.database().dispose()
    get_settings.cache_clear()
    common.database.cache_clear()


def long_log_lines(caplog, limit: int = 1000) -> list[int]:
    return [len(record.getMessage()) for record in caplog.records if len(record.getMessage()) > limit]


# --- Slack ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [300, 5_000, 50_000])
def test_a_huge_client_name_in_slack_gets_a_clear_refusal_and_no_huge_log_line(bot, caplog, length):
    caplog.set_level(logging.DEBUG)
    reply = bot.slash("balance " + "a" * length, user=ADMIN)
    assert APOLOGY not in reply.all_text
    assert "characters long" in reply.text, reply.text
    assert long_log_lines(caplog) == []


@pytest.mark.parametrize("line", ["balance " + "x" * 1900, "invoice " + "9" * 1500, "history " + "y" * 300,
                                  "apply " + "I" * 250 + " 5", "issue " + "c" * 400 + " 5 reason"])  # fmt: skip
def test_every_long_field_is_refused_by_name_before_the_database(db, bot, line):
    before = row_counts(db, Credit, Payment)
    reply = bot.slash(line, user=ADMIN)
    assert APOLOGY not in reply.all_text and "characters long" in reply.text, reply.text
    assert row_counts(db, Credit, Payment) == before


# --- the command line -------------------------------------------------------------------------------------------


@pytest.fixture
def ledger_loaded(db):
    simple_ledger(db)


def test_the_cli_refuses_a_50000_character_name_in_one_line(cli, ledger_loaded):
    result = cli("balance", "a" * 50_000, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "unusable_text"
    assert "Traceback" not in result.output and len(result.stderr) < 300


@pytest.mark.parametrize("name", ["Acme\x00", "Ac\x01me", "C1\x7f"])
def test_a_control_character_in_a_typed_name_is_refused_not_sent_to_the_database(cli, ledger_loaded, name):
    result = cli("balance", name)
    assert result.exit_code == 1 and "control character" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("args", [("issue", "C1", "-5", "--reason", "x"), ("apply", "INV-1", "-5")])
def test_a_negative_amount_gets_the_amount_refusal_not_a_usage_box(db, cli, ledger_loaded, args):
    before = row_counts(db, Credit, Payment, HistoryEntry)
    result = cli(*args)
    assert result.exit_code == 1
    assert "amounts must be positive" in result.stderr and "No such option" not in result.output
    assert row_counts(db, Credit, Payment) == before[:2]


@pytest.mark.parametrize(
    "args, field",
    [
        (("issue", "C1", "5", "--reason", "r" * 3000), "reason"),
        (("issue", "C1", "5", "--reason", "nul\x00here"), "reason"),
        (("issue", "C1", "5", "--reason", "ok", "--actor", "a" * 500), "--actor"),
        (("issue", "C1", "5", "--reason", "ok", "--key", "k" * 500), "--key"),
        (("apply", "INV-1", "5", "--approved-by", "b\x00"), "--approved-by"),
    ],
)
def test_every_text_option_is_bounded_before_it_is_stored(db, cli, ledger_loaded, args, field):
    before = row_counts(db, Credit, Payment, HistoryEntry)
    result = cli(*args, "--json")
    assert result.exit_code == 1, result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "unusable_text" and field in error["message"]
    assert row_counts(db, Credit, Payment, HistoryEntry) == before


# --- imports and QuickBooks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["Acme\x00Legal", "Acme\x1bLegal"])
def test_a_control_character_in_an_imported_name_is_refused_with_its_row_and_column(db, value):
    with pytest.raises(ImportRowError) as refused:
        import_rows(db, clients=[client("C1"), client("C2", value)])
    assert "clients.csv:3, column name" in refused.value.message
    assert "name" in refused.value.message and "control character" in refused.value.message
    assert row_counts(db, Client, Invoice) == (0, 0)


def test_a_control_character_in_an_imported_invoice_number_is_refused_on_the_cli(db, cli, tmp_path: Path):
    folder = tmp_path / "export"
    folder.mkdir()
    write_csv(folder, "clients.csv", [client("C1")])
    write_csv(folder, "invoices.csv", [invoice("INV-\x001")])
    result = cli("import", str(folder))
    assert result.exit_code == 1 and "invoices.csv" in result.stderr and "control character" in result.stderr
    assert row_counts(db, Client, Invoice) == (0, 0)


@pytest.mark.parametrize("doc_number", ["INV-\x001001", "INV\n1001", "I" * 65])
def test_a_quickbooks_docnumber_with_a_control_character_is_refused_naming_the_entity(db, doc_number):
    import_rows(db, clients=[client("C1", qb_customer_id="58")], invoices=[invoice("INV-1001")])
    with pytest.raises(QBOFeedError) as refused:
        sync(db, cdc(Invoice=[qbo_invoice("130", doc_number)]))
    assert "Invoice 130" in refused.value.message and "DocNumber" in refused.value.message
