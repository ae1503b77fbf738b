"""Connections, transactions and the schema's revision.

Everything runs in a unit of work (ledger/unit.py) that `Database` opens. Writes take the database's write lock
when they begin: on SQLite a `BEGIN IMMEDIATE` (pysqlite's default `BEGIN` is deferred, so two writers could both
read a balance before either writes), on PostgreSQL row locks (`SELECT ... FOR UPDATE`) taken by the operations
themselves. Reads use plain transactions.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from ledger.errors import SchemaOutOfDate
from ledger.migrations import HEAD
from ledger.rules import Rules
from ledger.unit import Unit

MIGRATIONS = Path(__file__).parent / "migrations"
# How long a SQLite writer waits for the database's write lock before giving up ("database is locked").
SQLITE_BUSY_TIMEOUT_S = 30
_T = TypeVar("_T")
# PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back and may be run again.
_RETRYABLE = {"40P01", "40001"}
_ATTEMPTS = 3


_ONE_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


class Database:
    """One database, by URL, with the ledger's rules: it opens the units of work (ledger/unit.py) everything runs in.

    `write()` begins a write (SQLite: BEGIN IMMEDIATE, after the process's other writers; PostgreSQL: the
    operations lock the rows they change), `read()` a read that is rolled back at the end, and `transact(work)`
    runs `work(unit, ...)` in a write, again when PostgreSQL reports a deadlock or a serialization failure (nothing
    of a lost attempt is kept, so a retry is safe). Driver errors come out as SQLAlchemy's (IntegrityError,
    OperationalError, ...).
    """

    def __init__(self, url: str, *, rules: Rules | None = None, echo: bool = False) -> None:
        self.url = make_url(url)
        self.rules = rules or Rules()
        self.engine = _create_engine(url, echo=echo)
        # SQLite has one writer at a time, and a writer that finds it taken sleeps in SQLite's busy handler (1 ms,
        # then 2, 5, 10 ... up to 100 ms between tries): threads of one process colliding on it lose milliseconds
        # each time. Writes of one process queue on this lock instead, and the next one starts at once.
        self._sqlite_writers = threading.Lock()

    def with_rules(self, rules: Rules) -> Database:
        """The same database (engine, pool, writers' lock) under other rules: how a front end applies its settings."""
        governed = copy.copy(self)
        governed.rules = rules
        return governed

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Unit]:
        """A short write transaction, committed on success and rolled back on any error."""
        with self._sqlite_writer_turn() if self._driver[1] else nullcontext():
            yield from self._unit(writes=True)

    @contextmanager
    def read(self, snapshot: bool = False) -> Iterator[Unit]:
        """A read transaction (on SQLite a deferred BEGIN: one snapshot); rolled back at the end.

        PostgreSQL's default (READ COMMITTED) gives each statement its own snapshot. A read whose statements must
        agree while writers commit between them (`creditbot db check` of a live ledger: the running totals in one
        statement, their entries in the next) asks for `snapshot`: REPEATABLE READ, READ ONLY."""
        yield from self._unit(writes=False, snapshot=snapshot)

    def transact(self, work: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """`work(unit, *args, **kwargs)` in a write unit, retried when PostgreSQL picked it as a deadlock victim."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self.write() as unit:
                    return work(unit, *args, **kwargs)
            except DBAPIError as failed:
                if attempt == _ATTEMPTS or getattr(failed.orig, "sqlstate", None) not in _RETRYABLE:
                    raise
        raise AssertionError("unreachable")

    def _unit(self, *, writes: bool, snapshot: bool = False) -> Iterator[Unit]:
        dbapi_error, is_sqlite = self._driver
        try:
            pooled = self.engine.raw_connection()  # the Unit makes a Core connection only if asked for one
        except dbapi_error as failed:
            raise DBAPIError.instance(None, None, failed, dbapi_error, dialect=self.engine.dialect) from failed
        unit: Unit | None = None
        try:
            if is_sqlite:
                pooled.dbapi_connection.execute("BEGIN IMMEDIATE" if writes else "BEGIN")  # type: ignore[union-attr]
            elif snapshot:  # the transaction's first statement, so that all the others read its snapshot
                pooled.dbapi_connection.execute(_ONE_SNAPSHOT)  # type: ignore[union-attr]
            unit = Unit(pooled, self.engine, writes=writes, is_sqlite=is_sqlite, rules=self.rules)
            try:
                yield unit
            except BaseException:
                unit._finish(commit=False)
                raise
            unit._finish(commit=writes)
        except dbapi_error as failed:
            raise DBAPIError.instance(None, None, failed, dbapi_error, dialect=self.engine.dialect) from failed
        finally:
            if unit is not None:
                unit._close()
            else:
                pooled.close()
        for callback in unit._committed_callbacks():
            callback()

    @contextmanager
    def _sqlite_writer_turn(self) -> Iterator[None]:
        if not self._sqlite_writers.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
            dbapi_error = self._driver[0]
            raise OperationalError(None, None, dbapi_error("database is locked"))  # what SQLite says when it times out
        try:
            yield
        finally:
            self._sqlite_writers.release()

    @cached_property
    def _driver(self) -> tuple[type[Exception], bool]:
        """The driver's base error class and whether it is SQLite, looked up once rather than on every unit."""
        return self.engine.dialect.loaded_dbapi.Error, self.is_sqlite

    def dispose(self) -> None:
        self.engine.dispose()

    # --- schema -----------------------------------------------------------------------------------------

    # Alembic is imported by the methods that need it (upgrading, listing the migrations): a command that finds the
    # database at `HEAD` never loads it.

    @cached_property
    def head_revisions(self) -> frozenset[str]:
        from alembic.script import ScriptDirectory

        return frozenset(ScriptDirectory.from_config(self.alembic_config()).get_heads())

    def current_revisions(self) -> frozenset[str]:
        """The database's revisions, read from Alembic's version table (none in a database never migrated)."""
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return frozenset()
            return frozenset(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())

    def alembic_config(self) -> Any:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.render_as_string(hide_password=False))
        config.attributes["engine"] = self.engine
        return config

    def upgrade(self) -> None:
        from alembic import command

        command.upgrade(self.alembic_config(), "heads")

    def ensure_schema(self) -> None:
        """Refuse to work on a database at another revision; create the schema in a new, empty SQLite file."""
        current = self.current_revisions()
        if current == {HEAD}:
            return
        if not current and self.is_sqlite and not inspect(self.engine).get_table_names():
            self.upgrade()
            return
        raise SchemaOutOfDate(", ".join(sorted(current)) or None, ", ".join(sorted(self.head_revisions)))


def _create_engine(url: str, *, echo: bool) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S})
    is_memory = parsed.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writes can ask for IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        if not is_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # A larger page cache (16 MiB, SQLite's default is 2) keeps index pages in memory during bulk imports.
            # 64 MiB saved a 1,000,000-payment import 7% of its CPU (11.1 s against 11.9 s, a loaded machine) but held
            # 78 MiB more at its peak (271 against 193 MiB of a 16 MiB-floor process; issue 14).
            cursor.execute("PRAGMA cache_size=-16384")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        if connection.connection.dbapi_connection.in_transaction:
            return  # a unit of work began it on the driver (ledger/unit.py); SQLAlchemy joins it
        connection.exec_driver_sql("BEGIN")

    return engine
