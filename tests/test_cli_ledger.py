"""The command line: the same operations for operators and scripts, JSON shapes fixed, refusals exit non-zero."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import common, typer_app
from bot.settings import get_settings
from tests.builders import client, credit, invoice, payment, write_csv

app = typer_app()

runner = CliRunner()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("USER", "alice")
    get_settings.cache_clear()
    common.database.cache_clear()

    def run(*args: str):
        return runner.invoke(app, list(args))

    yield run
    common.database().dispose()
    get_settings.cache_clear()
    common.database.cache_clear()


@pytest.fixture
def export(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    write_csv(folder, "clients.csv", [client("C1", "Acme Legal"), client("C2", "Acme Holdings")])
    write_csv(folder, "invoices.csv", [invoice("INV-1", "C1", "1000.00"), invoice("INV-2", "C2", "80.00")])
    write_csv(folder, "credits.csv", [credit("CR-1", "C1", "300.00")])
    write_csv(folder, "payments.csv", [payment("PAY-1", "INV-1", "wire", "100.00")])
    return folder


def test_import_then_balance_as_json(cli, export):
    assert cli("import", str(export)).exit_code == 0
    result = cli("balance", "acme legal", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["client"] == {"id": "C1", "name": "Acme Legal", "currency": "USD"}
    assert body["available_credit"] == "300.00"
    assert body["invoices"] == [
        {"number": "INV-1", "total": "1000.00", "cash_paid": "100.00", "credits_applied": "0.00",
         "qb_credit_memos": "0.00", "balance_due": "900.00", "posted_to_qb": False}
    ]  # fmt: skip
    assert body["credits_by_project"] == {}


def test_apply_with_key_is_idempotent_and_json_shaped(cli, export):
    cli("import", str(export))
    first = json.loads(cli("apply", "INV-1", "120.50", "--key", "ops-1", "--json").stdout)
    again = json.loads(cli("apply", "INV-1", "120.50", "--key", "ops-1", "--json").stdout)
    assert first["application_id"] == again["application_id"] and again["replayed"] is True
    assert first["amount"] == "120.50"
    assert first["invoice"]["balance_due"] == "779.50"
    history = json.loads(cli("history", "INV-1", "--json").stdout)["history"]
    # The import that created the invoice, then the one application (the retry added nothing).
    assert [(h["actor"], h["action"]) for h in history] == [("cli:alice", "import"), ("cli:alice", "apply_credit")]


def test_ambiguous_client_lists_the_matches(cli, export):
    cli("import", str(export))
    result = cli("balance", "acme", "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "ambiguous_client"
    assert "Acme Legal (C1)" in error["message"] and "Acme Holdings (C2)" in error["message"]


def test_refusal_exits_non_zero_with_one_clear_line(cli, export):
    cli("import", str(export))
    result = cli("apply", "INV-1", "500.00")
    assert result.exit_code == 1
    assert "Refused:" in result.stderr and "only $300.00 of credit available" in result.stderr
    assert "Traceback" not in result.output


def test_issue_reverse_and_invoice_detail(cli, export):
    cli("import", str(export))
    issued = json.loads(cli("issue", "C2", "40", "--reason", "goodwill", "--json").stdout)
    assert issued["available_credit"] == "40.00"
    applied = json.loads(cli("apply", "INV-2", "--json").stdout)
    assert applied["amount"] == "40.00"
    reversed_ = json.loads(cli("reverse", str(applied["application_id"]), "--json").stdout)
    assert reversed_["balance_due"] == "80.00"
    detail = json.loads(cli("invoice", "INV-2", "--json").stdout)
    assert detail["client"]["id"] == "C2" and detail["currency"] == "USD"
    assert [(p["type"], p["amount"]) for p in detail["payments"]] == [("AccountCredit", "40.00")]
    assert set(detail["payments"][0]) >= {"id", "type", "amount", "received_on"}


def test_import_error_names_file_line_and_column(cli, tmp_path: Path):
    folder = tmp_path / "bad"
    folder.mkdir()
    write_csv(folder, "clients.csv", [client("C1")])
    write_csv(folder, "invoices.csv", [invoice("INV-1", total="12,00")])
    result = cli("import", str(folder), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["message"].startswith("invoices.csv:2, column total:")


def test_demo_loads_and_is_repeatable(cli):
    assert cli("demo").exit_code == 0
    again = cli("demo", "--json")
    assert again.exit_code == 0
    clients = {c["client"]["id"]: c for c in json.loads(again.stdout)["clients"]}
    assert clients["C-ACME"]["available_credit"] == "550.00"
