"""Connections, transactions and the schema's revision.

Writes take the database's write lock when they begin: on SQLite a `BEGIN IMMEDIATE` (pysqlite's default
`BEGIN` is deferred, so two writers could both read a balance before either writes), on PostgreSQL row
locks (`SELECT ... FOR UPDATE`) taken by the operations themselves. Reads use plain transactions. The hottest
write (applying credit) and read (a client's balance) run on the driver connection itself (`driver_write`,
`driver_read`, see ledger/driver.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import cached_property
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

from ledger.driver import DriverRead, DriverWrite
from ledger.errors import SchemaOutOfDate

MIGRATIONS = Path(__file__).parent / "migrations"
_WRITE = "creditbot_write"
# How long a SQLite writer waits for the database's write lock before giving up ("database is locked").
SQLITE_BUSY_TIMEOUT_S = 30
_Driver = TypeVar("_Driver", bound=DriverRead)


class Database:
    """One database, by URL: an engine for reads and a session factory for locked writes."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.engine = _create_engine(url, echo=echo)
        self._write_engine = self.engine.execution_options(**{_WRITE: True})
        # SQLite has one writer at a time, and a writer that finds it taken sleeps in SQLite's busy handler (1 ms,
        # then 2, 5, 10 ... up to 100 ms between tries): threads of one process colliding on it lose milliseconds
        # each time. Driver writes of one process queue on this lock instead, and the next one starts at once.
        self._sqlite_writers = threading.Lock()

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A short write transaction, committed on success and rolled back on any error."""
        with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def driver_write(self) -> Iterator[DriverWrite]:
        """A short write transaction on the pooled driver connection, without SQLAlchemy's per-statement work.

        Committed on success and rolled back on any error; on SQLite it begins IMMEDIATE, as `write` does, after
        the process's other driver writes. Driver errors come out as SQLAlchemy's (IntegrityError,
        OperationalError, ...), as they do from `write`.
        """
        with self._sqlite_writer_turn() if self._driver[1] else nullcontext():
            yield from self._driver_transaction(DriverWrite)

    @contextmanager
    def driver_read(self) -> Iterator[DriverRead]:
        """A read transaction on the pooled driver connection, without SQLAlchemy's per-statement work.

        Its statements see one snapshot, as in `read` (on SQLite a deferred BEGIN, on PostgreSQL the driver's own
        transaction); it is rolled back at the end, since it wrote nothing. Driver errors come out as SQLAlchemy's.
        """
        yield from self._driver_transaction(DriverRead)

    def _driver_transaction(self, kind: type[_Driver]) -> Iterator[_Driver]:
        dbapi_error, is_sqlite = self._driver
        write = issubclass(kind, DriverWrite)
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if is_sqlite:
                cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield kind(cursor, is_sqlite)
            except BaseException:
                raw.rollback()
                raise
            if write:
                raw.commit()
            else:
                raw.rollback()
        except dbapi_error as failed:
            raise DBAPIError.instance(None, None, failed, dbapi_error, dialect=self.engine.dialect) from failed
        finally:
            raw.close()

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
        """The driver's base error class and whether it is SQLite, looked up once rather than on every write."""
        return self.engine.dialect.loaded_dbapi.Error, self.is_sqlite

    def dispose(self) -> None:
        self.engine.dispose()

    # --- schema -----------------------------------------------------------------------------------------

    @cached_property
    def head_revisions(self) -> frozenset[str]:
        return frozenset(ScriptDirectory.from_config(self.alembic_config()).get_heads())

    def current_revisions(self) -> frozenset[str]:
        with self.engine.connect() as connection:
            return frozenset(MigrationContext.configure(connection).get_current_heads())

    def alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.render_as_string(hide_password=False))
        config.attributes["engine"] = self.engine
        return config

    def upgrade(self) -> None:
        command.upgrade(self.alembic_config(), "heads")

    def ensure_schema(self) -> None:
        """Refuse to work on a database at another revision; create the schema in a new, empty SQLite file."""
        current = self.current_revisions()
        if current == self.head_revisions:
            return
        if not current and self.is_sqlite and not inspect(self.engine).get_table_names():
            self.upgrade()
            return
        raise SchemaOutOfDate(", ".join(sorted(current)) or None, ", ".join(sorted(self.head_revisions)))


def driver_read_in(session: Session) -> DriverRead:
    """A `DriverRead` inside a Session's own transaction (begun if it was not), seeing what the Session flushed.

    For callers that hold a Session: the balance read then runs the same plain SQL as through `driver_read`.
    """
    session.flush()  # the Session's pending changes, as its own queries would have flushed them first
    connection = session.connection()
    return DriverRead(connection.connection.dbapi_connection.cursor(), connection.dialect.name == "sqlite")


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
            # A larger page cache (64 MiB) keeps index pages in memory during bulk imports.
            cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        is_write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if is_write else "BEGIN")

    return engine
