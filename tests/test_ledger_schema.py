"""The schema is made only by the migrations (a new SQLite file from their result kept as SQL, proven equal here),
matches the models, and an out-of-date database is refused clearly."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from ledger.db import Database
from ledger.errors import SchemaOutOfDate
from ledger.migrations import HEAD
from ledger.tables import compared_with_migrations


# Indexes on an expression are compared by test_the_migrations_create_the_clients_indexes_as_the_models_define_them.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_migrations_create_exactly_the_models_tables(db):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": compared_with_migrations})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_a_new_sqlite_file_gets_the_schema_automatically(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'new.db'}")
    db.ensure_schema()
    assert db.current_revisions() == db.head_revisions
    assert {"client", "invoice", "payment", "credit", "history"} <= set(inspect(db.engine).get_table_names())


def test_a_database_at_an_older_revision_is_refused_with_the_command_to_run(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(db.alembic_config(), "0001_initial")
    assert db.current_revisions() == {"0001_initial"} and db.current_revisions() != db.head_revisions  # older
    with pytest.raises(SchemaOutOfDate, match="creditbot db upgrade"):
        db.ensure_schema()


def test_a_foreign_database_is_not_touched(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'other.db'}")
    with db.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE someone_elses (id INTEGER)")
    with pytest.raises(SchemaOutOfDate, match="no creditbot schema"):
        db.ensure_schema()


def test_a_balance_read_sums_credits_per_project_from_an_index_alone(sqlite_db: Database):
    # A client with thousands of applications must not make every balance read fetch each of those rows.
    from ledger.kinds import PaymentKind
    from ledger.reads import _CREDITS_BY_PROJECT

    with sqlite_db.engine.connect() as connection:
        plan = connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {_CREDITS_BY_PROJECT.sqlite}", ("C-ANY", PaymentKind.ACCOUNT_CREDIT.value)
        ).all()
    steps = " | ".join(row[-1] for row in plan)
    assert "SCAN payment" not in steps.replace("USING COVERING INDEX", "")
    assert "USING COVERING INDEX ix_payment_client_kind_project" in steps, steps


def test_the_head_the_code_checks_without_alembic_is_alembics_one_head(db):
    from ledger.migrations import HEAD

    assert db.head_revisions == {HEAD}


def _client_indexes(connection: Any, dialect: str) -> dict[str, str]:
    """The definitions of the client's indexes, as the database itself prints them: Alembic's comparison skips those
    on an expression (SQLite cannot reflect them; PostgreSQL's stops at operator classes and collations)."""
    if dialect == "sqlite":
        rows = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name = 'client'"
        )
    else:
        rows = connection.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'client'"
        )
    names = {index.name for index in SQLModel.metadata.tables["client"].indexes}
    return {name: " ".join(sql.replace(" ON public.", " ON ").split()) for name, sql in rows if name in names}


def test_the_migrations_create_the_clients_indexes_as_the_models_define_them(db: Database, tmp_path: Path):
    dialect = db.engine.dialect.name
    with db.engine.connect() as connection:
        migrated = _client_indexes(connection, dialect)
    if dialect == "sqlite":
        fresh = Database(f"sqlite:///{tmp_path / 'models.db'}")
        SQLModel.metadata.create_all(fresh.engine)
        with fresh.engine.connect() as connection:
            from_models = _client_indexes(connection, dialect)
        fresh.dispose()
    else:  # the models' own DDL in a schema of its own, beside the migrated one
        with db.engine.connect() as connection:
            connection.exec_driver_sql("DROP SCHEMA IF EXISTS models CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA models")
            connection.exec_driver_sql("SET search_path TO models, public")
            SQLModel.metadata.create_all(connection, checkfirst=False)
            from_models = _client_indexes(connection, dialect)
            connection.rollback()
    assert migrated and migrated == {name: sql.replace(" ON models.", " ON ") for name, sql in from_models.items()}


def _schema_and_rows(path: Path) -> tuple[list[tuple], dict[str, list[tuple]]]:
    """A SQLite file's objects (kind, name, table, SQL) and every table's rows, sorted: what makes two files alike."""
    from ledger.migrations.sqlite_schema import canonical

    connection = sqlite3.connect(path)
    try:
        objects = sorted((kind, name, table, sql and canonical(sql)) for kind, name, table, sql
                         in connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))  # fmt: skip
        tables = [name for kind, name, _table, _sql in objects if kind == "table"]
        rows = {name: sorted(connection.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in tables}
        pragmas = [connection.execute(f"PRAGMA {name}").fetchone() for name in ("user_version", "application_id")]
        return [*objects, tuple(pragmas)], rows
    finally:
        connection.close()


def test_a_new_sqlite_file_made_from_the_schema_sql_is_the_one_the_migrations_make(tmp_path: Path):
    migrated = Database(f"sqlite:///{tmp_path / 'migrated.db'}")
    migrated.upgrade()
    created = Database(f"sqlite:///{tmp_path / 'created.db'}")
    created.ensure_schema()  # from ledger/migrations/sqlite_schema.sql, without Alembic
    for db in (migrated, created):
        db.dispose()
    assert _schema_and_rows(tmp_path / "created.db") == _schema_and_rows(tmp_path / "migrated.db")


def test_the_schema_sql_is_the_result_of_the_migrations_at_head():
    from ledger.migrations.sqlite_schema import SCHEMA_SQL, canonical, migrated_script, revision, statements

    script, migrated = SCHEMA_SQL.read_text(), migrated_script()
    assert revision(script) == HEAD, "write it again: python -m ledger.migrations.sqlite_schema"
    kept, made = ([canonical(sql) for sql in statements(text)] for text in (script, migrated))
    assert kept == made, "write it again: python -m ledger.migrations.sqlite_schema"
    assert len(kept) > 40  # every table, index and trigger, not a script cut short


def test_writing_the_schema_sql_twice_gives_the_same_file():
    # Alembic's batch mode lists a recreated table's constraints in a set's order, which changes from run to run.
    from ledger.migrations.sqlite_schema import migrated_script

    assert migrated_script() == migrated_script()


def test_the_schema_sql_lists_a_tables_constraints_in_one_order_whatever_order_sqlite_kept():
    from ledger.migrations.sqlite_schema import canonical, script_of

    body = ("\tid INTEGER NOT NULL", "\tcode VARCHAR(8)", "\tPRIMARY KEY (id)", "\tUNIQUE (code)",
            "\tCONSTRAINT ck_code CHECK (code <> '')", "\tFOREIGN KEY(id) REFERENCES other (id)")  # fmt: skip
    scripts = []
    for constraints in (body[2:], body[:1:-1]):
        connection = sqlite3.connect(":memory:")
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        connection.execute("INSERT INTO alembic_version VALUES ('0001_test')")
        connection.execute("CREATE TABLE item (\n" + ", \n".join(body[:2] + constraints) + "\n)")
        scripts.append(script_of(connection))
        connection.close()
    assert scripts[0] == scripts[1]
    made = sqlite3.connect(":memory:")
    made.executescript(scripts[0].split("\n", 1)[1])  # the script still makes the table, with every constraint
    (kept,) = made.execute("SELECT sql FROM sqlite_master WHERE name = 'item'").fetchone()
    assert canonical(kept) == canonical("CREATE TABLE item (\n" + ", \n".join(body) + "\n)")


def test_two_processes_making_a_new_sqlite_file_leave_one_schema(tmp_path: Path):
    first, second = (Database(f"sqlite:///{tmp_path / 'new.db'}") for _ in range(2))
    first.ensure_schema()
    second._create_sqlite_schema()  # it found the file empty, then the first one wrote the schema
    assert second.current_revisions() == first.current_revisions() == {HEAD}


def test_a_new_sqlite_file_is_created_without_loading_alembic(tmp_path: Path):
    # Loading Alembic and running the migrations was a quarter of a second and 8 MiB of every first import.
    made = f"from ledger.db import Database; Database('sqlite:///{tmp_path / 'new.db'}').ensure_schema()"
    loaded = subprocess.run([sys.executable, "-c", f"{made}; import sys; print('alembic' in sys.modules)"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert loaded.stdout.strip() == "False"
    assert Database(f"sqlite:///{tmp_path / 'new.db'}").current_revisions() == {HEAD}
