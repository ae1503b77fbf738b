"""`/credit report` in Slack (summary, and the full table uploaded with files_upload_v2) and `creditbot report` on
the command line (CSV, JSON lines, an .xlsx workbook with one sheet per report)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import common, typer_app
from bot.settings import get_settings
from tests.builders import client, credit, import_rows, invoice, write_csv
from tests.slack_standin import CHANNEL, READER

app = typer_app()

runner = CliRunner()


@pytest.fixture
def bot_ledger(db):
    import_rows(
        db,
        clients=[client("C1", "Acme Legal LLP"), client("C2", "Northwind Tax", "EUR")],
        invoices=[invoice("INV-1"), invoice("INV-2", "C2")],
        credits=[credit("CR-1", amount="500.00"), credit("CR-2", "C2", "80.00")],
    )


def test_report_answers_with_a_summary_and_uploads_the_csv(bot, slack):
    bot.slash("apply INV-1 120")
    working = bot.slash("report applied --by client", user=READER)
    assert "Working on it" in working.text
    [answer] = slack.wait_for(lambda: slack.responses(working.response_url_name))
    assert "Applied credit by client: 1 row" in answer.body["text"] and "USD 120.00" in answer.body["text"]
    [getting] = slack.api_calls("files.getUploadURLExternal")
    assert getting.body["filename"] == "applied-by-client.csv"
    [completed] = slack.api_calls("files.completeUploadExternal")
    assert completed.body["channel_id"] == CHANNEL
    [shared] = slack.files.shared
    table = list(csv.reader(io.StringIO(shared.content.decode())))
    assert table == [
        ["client_id", "client", "currency", "applications", "applied"],
        ["C1", "Acme Legal LLP", "USD", "1", "120.00"],
    ]
    assert shared.channel == CHANNEL and int(getting.body["length"]) == len(shared.content)


def test_a_malformed_report_gets_its_usage_at_once(bot, slack):
    reply = bot.slash("report owed")
    assert "no “owed” report" in reply.text and "report unapplied|applied" in reply.all_text
    reply = bot.slash("report applied --from yesterday")
    assert "takes a date" in reply.text
    assert slack.api_calls("files.getUploadURLExternal") == []


def test_a_report_the_ledger_cannot_make_says_why(bot, slack):
    working = bot.slash("report unapplied --by project")
    [answer] = slack.wait_for(lambda: slack.responses(working.response_url_name))
    assert "never to a project" in answer.body["text"]
    assert slack.files.shared == []


def test_an_upload_slack_refuses_is_said_in_the_summary(bot, slack):
    slack.fail("files.completeUploadExternal", "posting_to_channel_denied")
    working = bot.slash("report unapplied")
    [answer] = slack.wait_for(lambda: slack.responses(working.response_url_name))
    assert "Unapplied credit: 2 rows" in answer.body["text"]
    assert "posting_to_channel_denied" in str(answer.body["blocks"])


# --- the command line ----------------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    common.database.cache_clear()
    folder = tmp_path / "export"
    folder.mkdir()
    write_csv(folder, "clients.csv", [client("C1", "Acme Legal"), client("C2", "Acme Holdings")])
    write_csv(folder, "invoices.csv", [invoice("INV-1", "C1", "1000.00"), invoice("INV-2", "C2", "80.00")])
    write_csv(folder, "credits.csv", [credit("CR-1", "C1", "300.00")])

    def run(*args: str):
        return runner.invoke(app, list(args))

    assert run("import", str(folder)).exit_code == 0
    assert run("apply", "INV-1", "100").exit_code == 0
    yield run
    common.database().dispose()
    get_settings.cache_clear()
    common.database.cache_clear()


def test_cli_report_writes_csv_and_json_lines(cli, tmp_path: Path):
    target = tmp_path / "applied.csv"
    done = cli("report", "applied", "--by", "month", "--csv", str(target))
    assert done.exit_code == 0, done.output
    assert "Applied credit by month: 1 row" in done.output
    rows = list(csv.reader(target.open()))
    assert rows[0] == ["month", "currency", "applications", "applied"] and rows[1][1:] == ["USD", "1", "100.00"]
    lines = cli("report", "unapplied", "acme legal", "--json")
    assert lines.exit_code == 0, lines.output
    first = json.loads(lines.stdout.splitlines()[0])
    assert first == {"client_id": "C1", "client": "Acme Legal", "currency": "USD", "issued": "300.00",
                     "applied": "100.00", "unapplied": "200.00"}  # fmt: skip


def test_cli_month_end_workbook_has_one_sheet_per_report(cli, tmp_path: Path):
    from openpyxl import load_workbook

    target = tmp_path / "month-end.xlsx"
    done = cli("report", "all", "--xlsx", str(target))
    assert done.exit_code == 0, done.output
    book = load_workbook(target, read_only=True)
    assert book.sheetnames == ["unapplied", "applied", "findings", "activity"]
    applied = list(book["applied"].iter_rows(values_only=True))
    assert applied[0][0] == "application_id" and applied[1][4] == "INV-1"


def test_cli_report_refusals_exit_non_zero(cli):
    assert cli("report", "all").exit_code == 2
    refused = cli("report", "unapplied", "--by", "project")
    assert refused.exit_code == 1 and "never to a project" in refused.output
    assert cli("report", "applied", "--from", "2026-13-01").exit_code == 2


def test_the_reports_bench_runs_at_a_small_size():
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_reports", "--payments", "2000", "--clients", "300"],
        cwd=root, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for line in ("report applied --by client", "report applied --by month", "home tab (admin)", "client typeahead"):
        assert line in done.stdout
