"""`creditbot scan [--full] [--alert] [--json]`: the open findings, in a table or in the fixed JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli import common
from bot.cli import scans as scans_cli
from bot.settings import get_settings
from ledger.demo import load_demo
from tests.slack_standin import SlackStandIn

runner = CliRunner()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    for name in ("SLACK_BOT_TOKEN", "CREDITBOT_ALERT_CHANNEL", "SLACK_API_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    common.database.cache_clear()
    app = typer.Typer()
    scans_cli.register(app)

    def run(*args: str):
        get_settings.cache_clear()
        return runner.invoke(app, list(args))

    yield run
    common.database().dispose()
    get_settings.cache_clear()
    common.database.cache_clear()


def test_scan_json_has_the_fixed_shape(cli):
    load_demo(common.database())
    result = cli("scan", "--json")
    assert result.exit_code == 0, result.output
    findings = json.loads(result.stdout)["findings"]
    assert [set(f) for f in findings] == [{"kind", "invoice", "client", "amount", "detail", "first_seen"}] * 2
    assert [(f["kind"], f["invoice"], f["client"], f["amount"]) for f in findings] == [
        ("duplicate_credit", "INV-1003", "C-ACME", "600.00"),
        ("post_sync_edit", "INV-2001", "C-BIRCH", "600.00"),
    ]
    assert findings[0]["first_seen"].endswith("+00:00")

    again = json.loads(cli("scan", "--full", "--json").stdout)["findings"]
    assert again == findings, "a full scan finds the same, and first_seen stays"


def test_scan_prints_a_table_of_open_findings(cli):
    load_demo(common.database())
    result = cli("scan")
    assert result.exit_code == 0, result.output
    assert "Open findings: 2 (2 new, 0 closed by this scan)" in result.stdout
    assert "duplicate_credit" in result.stdout and "INV-2001" in result.stdout and "$600.00" in result.stdout


def test_scan_alert_posts_to_the_channel(cli, monkeypatch):
    load_demo(common.database())
    with SlackStandIn() as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        monkeypatch.setenv("CREDITBOT_ALERT_CHANNEL", "C-ALERTS")
        result = cli("scan", "--alert", "--json")
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.stdout)["findings"]) == 2
        assert "Alerts: 2 posted to C-ALERTS" in result.stderr
        assert cli("scan", "--alert").exit_code == 0
        assert len(slack.posted) == 1


def test_scan_alert_without_slack_settings_is_refused_before_scanning(cli):
    result = cli("scan", "--alert", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "not_configured"
    assert "--alert needs SLACK_BOT_TOKEN and CREDITBOT_ALERT_CHANNEL" in result.stderr
    assert "Traceback" not in result.output


def test_scheduler_refuses_a_wrong_cron_in_one_line(cli, monkeypatch):
    monkeypatch.setenv("CREDITBOT_SCAN_CRON", "hourly")
    result = cli("scheduler")
    assert result.exit_code == 1
    assert "CREDITBOT_SCAN_CRON “hourly” is not a crontab line" in result.stderr
