"""`creditbot db backup FILE` and `creditbot db check` (issue 19): a billing ledger is restorable and checkable."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from bot.cli import common, typer_app
from bot.settings import get_settings
from ledger.db import Database
from tests.builders import available, simple_ledger

app = typer_app()

runner = CliRunner()


@pytest.fixture
def cli(db, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CREDITBOT_APPROVAL_THRESHOLD", "")
    get_settings.cache_clear()
    common.database.cache_clear()
    simple_ledger(db)
    yield lambda *args: runner.invoke(app, list(args))
    common.database().dispose()
    get_settings.cache_clear()
    common.database.cache_clear()


def test_db_check_finds_every_total_consistent_after_writes(cli):
    assert cli("issue", "C1", "25", "--reason", "goodwill").exit_code == 0
    assert cli("apply", "INV-1", "10").exit_code == 0
    result = cli("db", "check", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"clients": 1, "invoices": 1, "ok": True, "differences": []}


def test_db_check_lists_a_total_that_disagrees_with_its_entries_and_exits_1(db, cli):
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE client SET credits_issued_minor = credits_issued_minor + 7"))
    result = cli("db", "check")
    assert result.exit_code == 1
    assert "client C1: credits_issued_minor" in result.stdout and "1 difference(s)" in result.stdout


def test_a_sqlite_backup_is_a_working_copy_of_the_ledger(db, cli, tmp_path):
    if not db.is_sqlite:
        pytest.skip("SQLite's online backup; PostgreSQL gets pg_dump guidance (next test)")
    assert cli("issue", "C1", "25", "--reason", "goodwill").exit_code == 0
    copy_path = tmp_path / "backup.db"
    result = cli("db", "backup", str(copy_path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True
    copy = Database(f"sqlite:///{copy_path}")
    try:
        assert available(copy) == available(db)
        copy.ensure_schema()
    finally:
        copy.dispose()
    again = cli("db", "backup", str(copy_path))
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_a_postgresql_backup_says_how_to_use_pg_dump_without_the_password(db, cli, tmp_path):
    if db.is_sqlite:
        pytest.skip("PostgreSQL only")
    result = cli("db", "backup", str(tmp_path / "ledger.dump"))
    assert result.exit_code == 1
    assert "pg_dump --format=custom" in result.stderr and "postgresql://" in result.stderr
    assert not (tmp_path / "ledger.dump").exists()
