"""Fixtures: a real, migrated ledger database per test, on SQLite and on PostgreSQL; Slack and the bot over HTTP.

PostgreSQL tests read its URL from CREDITBOT_TEST_POSTGRES_URL. Where it is not set or not reachable they skip,
saying why; with CREDITBOT_REQUIRE_POSTGRES=1 (as .ci/run sets) they fail instead, so CI cannot pass without them.

`slack` is a stand-in for Slack's Web API and `bot` the running bot over `db` (tests/slack_standin.py). A test file
whose bot needs a ledger loaded first, or other settings, overrides `bot_ledger` or `bot_env` (pytest's fixture
overriding), not `bot` itself.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import ledger.tables  # noqa: F401  (every table on the metadata)
from ledger.db import Database

if TYPE_CHECKING:
    from tests.slack_standin import BotUnderTest, SlackStandIn

POSTGRES_ENV = "CREDITBOT_TEST_POSTGRES_URL"
REQUIRE_ENV = "CREDITBOT_REQUIRE_POSTGRES"


def _postgres_unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"PostgreSQL is required here ({REQUIRE_ENV}=1) but {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (migrating per test would dominate the suite's time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> Iterator[str]:
    """A migrated database of this test worker's own on the configured PostgreSQL server."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        _postgres_unavailable(f"{POSTGRES_ENV} is not set")
    assert base is not None
    # One database per test process, so concurrent test runs on one server never share or drop each other's.
    name = f"creditbot_test_{worker_id}_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as unreachable:  # any connection failure means: no PostgreSQL here
        _postgres_unavailable(f"{base} is not reachable ({type(unreachable).__name__})")
    finally:
        admin.dispose()
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    db.upgrade()
    db.dispose()
    yield url
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    # pytest-xdist gives each worker an id; without it, one process is "main".
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty, migrated ledger on each database the project supports."""
    if request.param == "sqlite":
        path = tmp_path / "ledger.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        database = Database(f"sqlite:///{path}")
    else:
        database = Database(request.getfixturevalue("postgres_url"))
        _truncate_all(database)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    path = tmp_path / "ledger.db"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


def _truncate_all(database: Database) -> None:
    tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
    with database.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


# --- Slack and the bot (imported when used, so the ledger's tests do not depend on bot/) ---------------------


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    """A stand-in for Slack's Web API, healthy until the test tells it to misbehave (`fail`, `fail_next`)."""
    from tests.slack_standin import SlackStandIn

    with SlackStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def bot_ledger(db: Database) -> None:
    """What the ledger holds when `bot` starts: nothing. A test file overrides this to load its own first."""


@pytest.fixture
def bot_env() -> dict[str, str]:
    """Settings for `bot` beyond tests/slack_standin.py's `bot_settings`; a test file overrides this for its own."""
    return {}


@pytest.fixture
def bot(db: Database, slack: SlackStandIn, bot_ledger: None, bot_env: dict[str, str]) -> Iterator[BotUnderTest]:
    """The bot's WSGI app (as `creditbot serve` runs it) on a local port over `db`, talking to `slack`."""
    from tests.slack_standin import running_bot

    with running_bot(db, slack, **bot_env) as running:
        yield running
