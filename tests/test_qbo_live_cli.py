"""`creditbot qb connect|status|poll|apply-memo|disconnect` against a local QuickBooks stand-in: the OAuth flow
completed from the URL the browser landed on, JSON for scripts with no token in it, and refusals as one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli import common
from bot.cli import quickbooks as quickbooks_cli
from bot.settings import get_settings
from tests.qbo_live import load_posted_invoice, qbo_env
from tests.qbo_standin import QBOStandIn

runner = CliRunner()


@pytest.fixture
def qb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[object, QBOStandIn]]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    with QBOStandIn() as stand_in:
        for name, value in qbo_env(stand_in).items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        common.database.cache_clear()
        db = common.database()
        load_posted_invoice(db, stand_in)
        app = typer.Typer(pretty_exceptions_enable=False)
        quickbooks_cli.register(app)

        def run(*args: str):
            return runner.invoke(app, ["qb", *args])

        yield run, stand_in
        db.dispose()
    get_settings.cache_clear()
    common.database.cache_clear()


def _connect(run, stand_in: QBOStandIn) -> None:
    printed = run("connect")
    assert printed.exit_code == 0, printed.output
    url = next(line for line in printed.output.splitlines() if line.startswith("http"))
    done = run("connect", "--redirect-url", stand_in.authorize(url))
    assert done.exit_code == 0 and f"Connected to QuickBooks company {stand_in.realm}" in done.output


def test_connect_status_poll_and_disconnect(qb) -> None:
    run, stand_in = qb
    before = json.loads(run("status", "--json").output)
    assert before["connected"] is False
    _connect(run, stand_in)
    status = run("status", "--json").output
    shown = json.loads(status)
    assert shown["connected"] is True and shown["realm_id"] == stand_in.realm
    assert not any(token in status for token in [*stand_in.refresh_tokens, *stand_in.access_tokens])
    polled = json.loads(run("poll", "--json").output)
    assert [p["invoice_number"] for p in polled["invoices_posted"]] == ["INV-2001"]
    assert polled["next_changed_since"] > polled["changed_since"]
    text = run("poll").output
    assert "Changes read from" in text
    assert run("disconnect").exit_code == 0
    assert json.loads(run("status", "--json").output)["connected"] is False


def test_apply_memo_from_the_command_line(qb) -> None:
    run, stand_in = qb
    _connect(run, stand_in)
    run("poll")
    applied = run("apply-memo", "INV-2001", "150", "--memo", "1043", "--key", "k-1", "--json")
    assert applied.exit_code == 0, applied.output
    shown = json.loads(applied.output)
    assert shown["status"] == "sent" and shown["amount"] == "150.00"
    again = json.loads(run("apply-memo", "INV-2001", "150", "--memo", "1043", "--key", "k-1", "--json").output)
    assert again["replayed"] is True and len(stand_in.payments()) == 1
    refused = run("apply-memo", "INV-2001", "900")
    assert refused.exit_code == 1 and "has only $350.00 left" in refused.output


def test_commands_refuse_when_not_connected_or_not_set_up(qb, monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = qb
    refused = run("poll")
    assert refused.exit_code == 1 and "not connected to QuickBooks" in refused.output
    monkeypatch.setenv("CREDITBOT_SECRET_KEY", "")
    get_settings.cache_clear()
    missing = run("status")
    assert missing.exit_code == 1 and "CREDITBOT_SECRET_KEY" in missing.output
