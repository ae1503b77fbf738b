"""`creditbot sync-qb FILE|-`: a summary for people, JSON for scripts, one clear line and exit 1 for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli import common
from bot.cli import quickbooks as quickbooks_cli
from bot.settings import get_settings
from tests.builders import client, invoice, write_csv
from tests.qbo_payloads import cdc, link, memo_payment, qbo_invoice, qbo_payment

runner = CliRunner()


def creditbot() -> typer.Typer:
    """The CLI with this module's commands (plus import, for setting up), as bot/cli registers them."""
    from bot.cli import ledger as ledger_cli

    app = typer.Typer(pretty_exceptions_enable=False)
    ledger_cli.register(app)
    quickbooks_cli.register(app)
    return app


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    common.database.cache_clear()
    app = creditbot()

    def run(*args: str, stdin: str | None = None):
        return runner.invoke(app, list(args), input=stdin)

    export = tmp_path / "export"
    export.mkdir()
    write_csv(export, "clients.csv", [client("C1", "Acme Legal", qb_customer_id="58")])
    write_csv(export, "invoices.csv", [invoice("INV-1001", "C1", "1000.00"), invoice("INV-1002", "C1", "500.00")])
    assert run("import", str(export)).exit_code == 0
    yield run
    common.database().dispose()
    get_settings.cache_clear()
    common.database.cache_clear()


def feed_file(tmp_path: Path, document: object, name: str = "cdc.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


FEED = cdc(
    Invoice=[qbo_invoice("130", "INV-1001", total=1100.00), qbo_invoice("131", "INV-1002", total=500.00)],
    Payment=[
        memo_payment("160", "130", "150", 200.00),
        qbo_payment("180", [link("Invoice", "131", 500.00)], unapplied=120.00),
        qbo_payment("181", [link("Invoice", "999", 10.00)]),
    ],
)


def test_sync_prints_what_changed_and_what_to_check(cli, tmp_path):
    result = cli("sync-qb", feed_file(tmp_path, FEED))
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "Synced 5 QuickBooks entities" in text
    assert "Posted: invoice INV-1001 (QuickBooks invoice 130, 2026-10-05 16:30 UTC)" in text
    assert "Recorded: $200.00 credit memo on invoice INV-1001 (QuickBooks payment 160)" in text
    assert "Recorded: $500.00 payment received on invoice INV-1002" in text
    assert "Overpayment new: $120.00 unapplied on QuickBooks payment 180" in text
    assert "Drift: invoice INV-1001 totals $1,000.00 here but $1,100.00 in QuickBooks" in text
    assert "Check: QuickBooks Payment 181 pays QuickBooks invoice 999" in text


def test_sync_json_for_scripts(cli, tmp_path):
    result = cli("sync-qb", feed_file(tmp_path, FEED), "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["entities"] == 5
    assert [p["invoice_number"] for p in body["invoices_posted"]] == ["INV-1001", "INV-1002"]
    assert body["payments_recorded"][0] == {
        "qb_payment_id": "160",
        "payment_id": 1,
        "external_id": "qbo:payment:160/130/memo",
        "invoice_number": "INV-1001",
        "kind": "QBCreditMemo",
        "currency": "USD",
        "amount": "200.00",
    }
    assert body["overpayments"] == [
        {"qb_payment_id": "180", "client_id": "C1", "currency": "USD", "change": "new", "amount": "120.00"}
    ]
    assert body["drift"][0]["qb_total"] == "1100.00"
    assert [(p["code"], p["qbo_id"]) for p in body["problems"]] == [("unknown_invoice", "181")]

    again = json.loads(cli("sync-qb", feed_file(tmp_path, FEED), "--json").stdout)
    assert again["payments_recorded"] == [] and again["unchanged"] == 4


def test_sync_reads_standard_input(cli):
    result = cli("sync-qb", "-", "--json", stdin=json.dumps(cdc(Invoice=[qbo_invoice("130", "INV-1001")])))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["invoices_posted"][0]["qb_invoice_id"] == "130"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("{oops", "is not valid JSON (line 1, column 2: Expecting property name"),
        ('{"QueryResponse": {"Payment": [{"Id": "7"}]}}', "QuickBooks Payment 7"),
    ],
)
def test_bad_input_is_one_clear_line_and_writes_nothing(cli, tmp_path, content, expected):
    path = tmp_path / "feed.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    before = cli("invoice", "INV-1001", "--json").stdout
    result = cli("sync-qb", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Refused: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert cli("invoice", "INV-1001", "--json").stdout == before


def test_bad_input_with_json_gives_an_error_object(cli, tmp_path):
    result = cli("sync-qb", str(tmp_path / "missing.json"), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "invalid_qbo_feed"


def test_a_folder_is_refused(cli, tmp_path):
    result = cli("sync-qb", str(tmp_path))
    assert result.exit_code == 1 and "is a folder" in result.stderr
