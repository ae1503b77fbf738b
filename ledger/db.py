"""Connections, transactions and the schema's revision.

Everything runs in a unit of work (ledger/unit.py) that `Database` opens. Writes take the database's write lock
when they begin: on SQLite a `BEGIN IMMEDIATE` (pysqlite's default `BEGIN` is deferred, so two writers could both
read a balance before either writes), on PostgreSQL row locks (`SELECT ... FOR UPDATE`) taken by the operations
themselves. Reads use plain transactions.

SQLAlchemy is imported when the engine is first needed: a plain read of a SQLite file (`read(plain=True)`, the
ledger reads of ledger/reads.py) in a process that has made no engine yet runs on a sqlite3 connection of its own,
set up as the engine sets up its connections (`_configure_sqlite`), so `creditbot balance` never loads SQLAlchemy
(issue 14: its import was most of the command's start-up).
"""

from __future__ import annotations

import copy
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ledger.errors import SchemaOutOfDate
from ledger.migrations import HEAD
from ledger.rules import Rules
from ledger.unit import Statement, Unit

if TYPE_CHECKING:
    from sqlalchemy import URL, Engine

MIGRATIONS = Path(__file__).parent / "migrations"
# How long a SQLite writer waits for the database's write lock before giving up ("database is locked").
SQLITE_BUSY_TIMEOUT_S = 30
# SQLite reads a file database's pages through a memory map of this size (address space, not memory): a page read
# is then the operating system's cached page, shared by every connection and process, where SQLite's own page
# cache copies it into each connection. `creditbot serve` (4 workers x 4 connections) held 5 MiB less in each
# worker that served balance requests on a 100,000-payment ledger (issue 14). Writes still go through the file.
SQLITE_MMAP_BYTES = 256 * 1024 * 1024
_T = TypeVar("_T")
# PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back and may be run again.
_RETRYABLE = {"40P01", "40001"}
_ATTEMPTS = 3


_ONE_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
_HAS_VERSION_TABLE = Statement(
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'",
    "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'alembic_version' AND schemaname = current_schema()",
)
_VERSIONS = Statement("SELECT version_num FROM alembic_version", "SELECT version_num FROM alembic_version")
_SQLITE_TABLES = "SELECT count(*) FROM sqlite_master WHERE type = 'table'"


class _Shared:
    """What a database and its `with_rules` copies share: the engine, made when first needed (caches of the
    database are keyed by this, weakly)."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.making = threading.Lock()


class Database:
    """One database, by URL, with the ledger's rules: it opens the units of work (ledger/unit.py) everything runs in.

    `write()` begins a write (SQLite: BEGIN IMMEDIATE, after the process's other writers; PostgreSQL: the
    operations lock the rows they change), `read()` a read that is rolled back at the end, and `transact(work)`
    runs `work(unit, ...)` in a write, again when PostgreSQL reports a deadlock or a serialization failure (nothing
    of a lost attempt is kept, so a retry is safe). Driver errors come out as SQLAlchemy's (IntegrityError,
    OperationalError, ...).
    """

    def __init__(self, url: str, *, rules: Rules | None = None, echo: bool = False) -> None:
        self._url_text = url
        self._echo = echo
        self.rules = rules or Rules()
        self._shared = _Shared()
        # A SQLite file by itself, from "sqlite:///PATH" (no driver named, no query), for plain reads without
        # SQLAlchemy; None when only the engine can open it (PostgreSQL, an in-memory database, a URL with options).
        self._sqlite_path = _plain_sqlite_path(url)
        if self._sqlite_path is None:
            # Made now, so that a URL or a driver that is not usable is refused here (bot/settings.py).
            self._shared.engine = _create_engine(url, echo=echo)
        # SQLite has one writer at a time, and a writer that finds it taken sleeps in SQLite's busy handler (1 ms,
        # then 2, 5, 10 ... up to 100 ms between tries): threads of one process colliding on it lose milliseconds
        # each time. Writes of one process queue on this lock instead, and the next one starts at once.
        self._sqlite_writers = threading.Lock()

    def with_rules(self, rules: Rules) -> Database:
        """The same database (engine, pool, writers' lock) under other rules: how a front end applies its settings."""
        governed = copy.copy(self)
        governed.rules = rules
        return governed

    @cached_property
    def url(self) -> URL:
        from sqlalchemy.engine import make_url

        return make_url(self._url_text)

    @property
    def engine(self) -> Engine:
        shared = self._shared
        if shared.engine is None:
            with shared.making:
                if shared.engine is None:
                    shared.engine = _create_engine(self._url_text, echo=self._echo)
        return shared.engine

    @property
    def is_sqlite(self) -> bool:
        return self._sqlite_path is not None or self.url.get_backend_name() == "sqlite"

    @contextmanager
    def write(self, plain: bool = False) -> Iterator[Unit]:
        """A short write transaction, committed on success and rolled back on any error.

        `plain`: the write runs plain SQL only (as a plain read does, see `read`), so on a SQLite file it runs on a
        sqlite3 connection of its own, engine or not: `creditbot import` of a SQLite ledger never loads SQLAlchemy."""
        plain_file = plain and self._sqlite_path is not None  # checked first: a plain write makes no engine
        if not plain_file and not self._driver[1]:  # PostgreSQL: no writers' queue
            yield from self._unit(writes=True)
            return
        self._take_sqlite_writer_turn()  # not a context manager of its own: one less per write (issue 14)
        try:
            yield from self._plain_sqlite_unit(writes=True) if plain_file else self._unit(writes=True)
        finally:
            self._sqlite_writers.release()

    @contextmanager
    def read(self, snapshot: bool = False, plain: bool = False) -> Iterator[Unit]:
        """A read transaction (on SQLite a deferred BEGIN: one snapshot); rolled back at the end.

        PostgreSQL's default (READ COMMITTED) gives each statement its own snapshot. A read whose statements must
        agree while writers commit between them (`creditbot db check` of a live ledger: the running totals in one
        statement, their entries in the next) asks for `snapshot`: REPEATABLE READ, READ ONLY.

        `plain`: the read runs plain SQL only (the unit's statements, never its `connection` or `session`), so on a
        SQLite file, while this process has made no engine, it runs on a sqlite3 connection of its own."""
        if plain and self._sqlite_path is not None and self._shared.engine is None:
            yield from self._plain_sqlite_unit(writes=False)
        else:
            yield from self._unit(writes=False, snapshot=snapshot)

    def _plain_sqlite_unit(self, *, writes: bool) -> Iterator[Unit]:
        try:
            dbapi_connection = self._connect_sqlite_file()
        except sqlite3.Error as failed:
            raise _as_sqlalchemy_error(failed, sqlite3.Error) from failed
        try:
            dbapi_connection.execute("BEGIN IMMEDIATE" if writes else "BEGIN")
            unit = Unit(dbapi_connection, None, None, cache_key=self._shared, writes=writes, is_sqlite=True,
                        rules=self.rules)  # fmt: skip
            yield from _lend(unit, writes)
        except sqlite3.Error as failed:
            raise _as_sqlalchemy_error(failed, sqlite3.Error) from failed
        finally:
            dbapi_connection.close()
        for callback in unit._committed_callbacks():
            callback()

    def transact(self, work: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """`work(unit, *args, **kwargs)` in a write unit, retried when PostgreSQL picked it as a deadlock victim."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self.write() as unit:
                    return work(unit, *args, **kwargs)
            except Exception as failed:
                retryable = _is_dbapi_error(failed) and getattr(failed.orig, "sqlstate", None) in _RETRYABLE  # type: ignore[attr-defined]
                if attempt == _ATTEMPTS or not retryable:
                    raise
        raise AssertionError("unreachable")

    def _unit(self, *, writes: bool, snapshot: bool = False) -> Iterator[Unit]:
        dbapi_error, is_sqlite = self._driver
        try:
            pooled = self.engine.raw_connection()  # the Unit makes a Core connection only if asked for one
        except dbapi_error as failed:
            raise _as_sqlalchemy_error(failed, dbapi_error, self.engine.dialect) from failed
        unit: Unit | None = None
        try:
            if is_sqlite:
                pooled.dbapi_connection.execute("BEGIN IMMEDIATE" if writes else "BEGIN")  # type: ignore[union-attr]
            elif snapshot:  # the transaction's first statement, so that all the others read its snapshot
                pooled.dbapi_connection.execute(_ONE_SNAPSHOT)  # type: ignore[union-attr]
            unit = Unit(pooled.dbapi_connection, pooled, self.engine, cache_key=self._shared, writes=writes,
                        is_sqlite=is_sqlite, rules=self.rules)  # fmt: skip
            yield from _lend(unit, writes)
        except dbapi_error as failed:
            raise _as_sqlalchemy_error(failed, dbapi_error, self.engine.dialect) from failed
        finally:
            if unit is not None:
                unit._close()
            else:
                pooled.close()
        for callback in unit._committed_callbacks():
            callback()

    def _take_sqlite_writer_turn(self) -> None:
        if not self._sqlite_writers.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
            from sqlalchemy.exc import OperationalError

            # What SQLite says when it times out.
            raise OperationalError(None, None, sqlite3.OperationalError("database is locked"))

    @cached_property
    def _driver(self) -> tuple[type[Exception], bool]:
        """The driver's base error class and whether it is SQLite, looked up once rather than on every unit."""
        return self.engine.dialect.loaded_dbapi.Error, self.is_sqlite

    def dispose(self) -> None:
        if self._shared.engine is not None:
            self._shared.engine.dispose()

    def forget_inherited_connections(self) -> None:
        """In a forked child: drop the pooled connections the parent had open, without closing them (they are the
        parent's), so this process opens its own. Nothing happens when the parent opened none."""
        if self._shared.engine is not None:
            self._shared.engine.dispose(close=False)

    # --- schema -----------------------------------------------------------------------------------------

    # Alembic is imported by the methods that need it (upgrading, listing the migrations): a command that finds the
    # database at `HEAD` never loads it.

    @cached_property
    def head_revisions(self) -> frozenset[str]:
        from alembic.script import ScriptDirectory

        return frozenset(ScriptDirectory.from_config(self.alembic_config()).get_heads())

    def current_revisions(self) -> frozenset[str]:
        """The database's revisions, read from Alembic's version table (none in a database never migrated)."""
        with self.read(plain=True) as unit:
            if not unit.column(_HAS_VERSION_TABLE)[0]:
                return frozenset()
            return frozenset(unit.column(_VERSIONS))

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
        if not current and self.is_sqlite and not self._sqlite_table_count():
            self._create_sqlite_schema()
            return
        raise SchemaOutOfDate(", ".join(sorted(current)) or None, ", ".join(sorted(self.head_revisions)))

    def _create_sqlite_schema(self) -> None:
        """A new SQLite file's schema: the migrations' result kept as SQL (ledger/migrations/sqlite_schema.py),
        written in one transaction; Alembic runs the migrations when that SQL is of another revision than `HEAD`."""
        from ledger.migrations.sqlite_schema import SCHEMA_SQL, revision

        script = SCHEMA_SQL.read_text() if SCHEMA_SQL.exists() else ""
        if revision(script) != HEAD:
            self.upgrade()
            return
        with self._schema_connection() as driver:
            try:
                driver.executescript(f"BEGIN IMMEDIATE;\n{script}COMMIT;\n")
            except driver.OperationalError:
                driver.rollback()
                # Another process made the schema first ("table ... already exists"): then it is at HEAD.
                if self.current_revisions() != {HEAD}:
                    raise

    @contextmanager
    def _schema_connection(self) -> Iterator[Any]:
        """The driver's connection a new file's schema is written on: of its own on a plain SQLite file (a first
        `creditbot import` loads no SQLAlchemy), else the engine's."""
        if self._sqlite_path is None:
            with self.engine.connect() as connection:
                yield connection.connection.dbapi_connection
            return
        driver = self._connect_sqlite_file()
        try:
            yield driver
        finally:
            driver.close()

    def _connect_sqlite_file(self) -> sqlite3.Connection:
        """A sqlite3 connection of its own to the SQLite file, set up as every connection is (`_configure_sqlite`)."""
        connection = sqlite3.connect(self._sqlite_path, timeout=SQLITE_BUSY_TIMEOUT_S)  # type: ignore[arg-type]
        try:
            _configure_sqlite(connection, is_memory=False)
        except BaseException:
            connection.close()
            raise
        return connection

    def _sqlite_table_count(self) -> int:
        with self.read(plain=True) as unit:
            return unit.column(Statement(_SQLITE_TABLES, _SQLITE_TABLES))[0]


def _lend(unit: Unit, writes: bool) -> Iterator[Unit]:
    """Lend `unit` to the caller's work: rolled back if the work raises, else ended (committed when it writes)."""
    try:
        yield unit
    except BaseException:
        unit._finish(commit=False)
        raise
    unit._finish(commit=writes)


def _plain_sqlite_path(url: str) -> str | None:
    """The file of a plain "sqlite:///PATH" URL, or None (another database, memory, a driver or options named)."""
    prefix = "sqlite:///"
    path = url[len(prefix) :] if url.startswith(prefix) else ""
    if not path or path == ":memory:" or any(mark in path for mark in "?#%"):
        return None
    return path


def _configure_sqlite(dbapi_connection: Any, *, is_memory: bool) -> None:
    """How every SQLite connection is set up, the engine's and a plain read's."""
    # BEGIN is sent by the units (and SQLAlchemy's "begin" event), so writes can ask for IMMEDIATE.
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
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.close()


def _as_sqlalchemy_error(failed: Exception, dbapi_error: type[Exception], dialect: Any = None) -> Exception:
    """A driver's error as SQLAlchemy wraps it (OperationalError, IntegrityError, ...): what callers catch."""
    from sqlalchemy.exc import DBAPIError

    return DBAPIError.instance(None, None, failed, dbapi_error, dialect=dialect)


def _is_dbapi_error(error: Exception) -> bool:
    from sqlalchemy.exc import DBAPIError

    return isinstance(error, DBAPIError)


def _create_engine(url: str, *, echo: bool) -> Engine:
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S})
    is_memory = parsed.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        _configure_sqlite(dbapi_connection, is_memory=is_memory)

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        if connection.connection.dbapi_connection.in_transaction:
            return  # a unit of work began it on the driver (ledger/unit.py); SQLAlchemy joins it
        connection.exec_driver_sql("BEGIN")

    return engine
