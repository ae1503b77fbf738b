"""The schema is made only by Alembic, matches the models, and an out-of-date database is refused clearly."""

from __future__ import annotations

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
