"""`creditbot db backup FILE` and `creditbot db check` (issue 19): a billing ledger is restorable and checkable."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event, text
from typer.testing import CliRunner

from bot.cli import common, typer_app
from bot.settings import get_settings
from ledger import operations
from ledger.approvals import WriteRequest
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


def test_db_check_of_a_live_ledger_reads_one_moment_while_writes_commit_between_its_statements(db, cli):
    """Found by kill -9 of `serve` workers (bench/bench_faults_crash.py): on PostgreSQL each statement of the check
    read its own snapshot, so an apply committed between the running totals and the entries was reported as a
    difference (exit 1) in a consistent ledger."""
    writer = Database(db.url.render_as_string(hide_password=False))
    applied = []

    def apply_meanwhile(_conn, _cursor, statement, *_args) -> None:
        if not applied and "credits_issued_minor, credits_applied_minor FROM client" in statement:
            applied.append(
                writer.transact(operations.apply_credit, "INV-1", "10.00", None, by=WriteRequest("U1", "k1"))
            )

    event.listen(common.database().engine, "after_cursor_execute", apply_meanwhile)
    try:
        result = cli("db", "check", "--json")
    finally:
        event.remove(common.database().engine, "after_cursor_execute", apply_meanwhile)
        writer.dispose()
    assert applied, "the apply ran between the check's statements"
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True
    assert cli("db", "check", "--json").exit_code == 0


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
