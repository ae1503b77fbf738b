"""Issue 17 on the command line: the same operations with --json shapes as the README documents them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import common, typer_app
from bot.settings import get_settings
from tests.builders import client, credit, invoice, write_csv

app = typer_app()

runner = CliRunner()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("USER", "alice")
    get_settings.cache_clear()
    common.database.cache_clear()
    folder = tmp_path / "export"
    folder.mkdir()
    write_csv(folder, "clients.csv", [client("C1", "Acme Legal"), client("C2", "Acme UK")])
    write_csv(folder, "invoices.csv", [invoice("INV-1", "C1", "400.00"), invoice("INV-2", "C1", "300.00")])
    write_csv(folder, "credits.csv", [credit("CR-1", "C1", "500.00")])

    def run(*args: str):
        result = runner.invoke(app, list(args))
        return result, (json.loads(result.stdout) if "--json" in args and result.stdout.strip() else None)

    assert run("import", str(folder))[0].exit_code == 0
    yield run
    common.database().dispose()
    get_settings.cache_clear()
    common.database.cache_clear()


def test_partial_reverse_and_move_as_json(cli):
    _, applied = cli("apply", "INV-1", "200", "--json")
    result, body = cli("reverse", str(applied["application_id"]), "50", "--json")
    assert result.exit_code == 0, result.output
    assert body["amount"] == "50.00" and body["remaining"] == "150.00" and body["remaining_application_id"]
    result, body = cli("move", str(applied["application_id"]), "INV-2", "100", "--json")
    assert result.exit_code == 0, result.output
    assert body["from_invoice"] == {"number": "INV-1", "balance_due": "350.00"}
    assert body["to_invoice"] == {"number": "INV-2", "balance_due": "200.00"}
    assert body["available_credit"] == "350.00"


def test_transfer_refund_write_off_as_json(cli):
    result, body = cli("transfer", "C1", "Acme UK", "100", "--reason", "subsidiary", "--json")
    assert result.exit_code == 0, result.output
    assert body["from_client"]["available_credit"] == "400.00" and body["to_client"]["available_credit"] == "100.00"
    result, body = cli("refund", "C1", "50", "--reason", "asked", "--reference", "CHK-7", "--json")
    assert (body["reference"], body["follow_status"], body["available_credit"]) == ("CHK-7", "pending", "350.00")
    result, body = cli("write-off", "C1", "25", "--reason", "old", "--json")
    assert body["available_credit"] == "325.00" and body["write_off_id"]
    result, body = cli("refund", "C1", "1000", "--reason", "too much", "--json")
    assert result.exit_code != 0 and body["error"]["code"] == "exceeds_available_credit"


def test_apply_all_dry_run_then_for_real_and_credits_listing(cli):
    result, plan = cli("apply-all", "C1", "--largest-first", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert plan["dry_run"] and [a["invoice_number"] for a in plan["applications"]] == ["INV-1", "INV-2"]
    assert [a["application_id"] for a in plan["applications"]] == [None, None]
    _, done = cli("apply-all", "C1", "--json")
    assert done["total_applied"] == "500.00" and done["available_credit"] == "0.00"
    result, listing = cli("credits", "C1", "--kind", "applied", "--json")
    assert result.exit_code == 0, result.output
    assert [entry["amount"] for entry in listing["entries"]] == ["-100.00", "-400.00"]
    assert listing["page"] == 1 and not listing["has_more"]
    result, refused = cli("credits", "--kind", "gift", "--json")
    assert result.exit_code != 0 and refused["error"]["code"] == "invalid_credit_search"


def test_issue_with_an_expiry_date(cli):
    result, body = cli("issue", "C1", "10", "--reason", "promo", "--expires", "2999-12-31", "--json")
    assert result.exit_code == 0, result.output
    assert body["expires_on"] == "2999-12-31"
    result, body = cli("issue", "C1", "10", "--reason", "promo", "--expires", "2000-01-01", "--json")
    assert body["error"]["code"] == "expiry_in_past"
