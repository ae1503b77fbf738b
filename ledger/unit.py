"""The unit of work: one transaction on one pooled connection, which every ledger operation and read takes.

A caller opens one (`Database.write()` / `Database.read()`, or `Database.transact(work, ...)`, which retries a
write that lost a deadlock) and passes it to as many operations as belong together: what they do commits
together or not at all (a move is a reversal and an application in one unit).

Statements are plain SQL on the driver's cursor (`row`, `rows`, `one`, `column`, `execute`, `executemany`):
through a SQLAlchemy Session every statement costs about 0.1 ms of Python bookkeeping (execution context, events,
result metadata), several times SQLite's own work for the ledger's short writes. Values that are not plain
(aware times, dates, JSON) are converted the way SQLAlchemy stores them, so what a unit writes reads back the same
through the ORM. Code written against SQLAlchemy reaches the same transaction through `connection` (Core) or
`session` (ORM); both are made only when asked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # SQLModel (and with it SQLAlchemy's ORM) is imported only when a unit's `session` is first asked for: the
    # plain-SQL reads (`creditbot balance`) never load it.
    from sqlalchemy import Connection, Engine, RootTransaction
    from sqlalchemy.pool import PoolProxiedConnection
    from sqlmodel import Session

    from ledger.rules import Rules


# json.dumps's text, without its search for circular references: what the ledger stores is flat records of plain
# values, and that search was half of each dump's cost (a write stores three; issue 14).
_ENCODE = json.JSONEncoder(check_circular=False).encode


def stored_time(value: datetime | None, is_sqlite: bool) -> Any:
    """An aware time as SQLAlchemy stores it: on SQLite UTC text with microseconds always, else the value."""
    if value is None or not is_sqlite:
        return value
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def read_json(value: Any) -> Any:
    """SQLite returns JSON columns as text; psycopg has already parsed them."""
    return json.loads(value) if isinstance(value, str) else value


def read_time(value: Any) -> datetime | None:
    """An aware UTC time, from SQLite's text (stored without an offset, as UTC) or PostgreSQL's timestamptz."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment.astimezone(UTC)


def read_day(value: Any) -> date:
    """A date, from SQLite's ISO text or PostgreSQL's date."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def list_parameter(values: Iterable[Any], is_sqlite: bool) -> Any:
    """A list that travels as one parameter: a JSON array for SQLite's `json_each(?)`, a list for PostgreSQL's
    `= ANY(?)` (one placeholder, however many values)."""
    values = list(values)
    return json.dumps(values) if is_sqlite else values


@dataclass(frozen=True)
class Statement:
    """One SQL statement, spelled for each database."""

    sqlite: str
    postgresql: str


def statement(sql: str, row_lock: str = "") -> Statement:
    """`sql` with `?` for its parameters; `row_lock` is the locking clause PostgreSQL appends.

    SQLite needs no row locks: a write unit begins IMMEDIATE, so it holds the database's write lock throughout.
    """
    return Statement(sql, sql.replace("?", "%s") + (f" {row_lock}" if row_lock else ""))


class Unit:
    """One transaction: the cursor every statement runs on, the ledger's rules, and the time it began."""

    def __init__(
        self,
        dbapi_connection: Any,
        pooled: PoolProxiedConnection | None,
        engine: Engine | None,
        *,
        cache_key: object,
        writes: bool,
        is_sqlite: bool,
        rules: Rules,
    ) -> None:
        # `pooled` (the pool's connection, as the floors use it) and `engine` are None for a plain read on the
        # driver alone (`Database.read(plain=True)`): no SQLAlchemy. A SQLAlchemy Connection around the pool's costs
        # ~50 µs a unit to open and close, so it is made only for code that asks for one (`connection`, `session`).
        self._dbapi = dbapi_connection
        self._pooled = pooled
        self._engine = engine
        self._core: Connection | None = None
        self._cursor = dbapi_connection.cursor()
        self.cache_key = cache_key  # the same for every unit of one database: what caches of it are keyed by
        self._transaction: RootTransaction | None = None
        self._session: Session | None = None
        self._after_commit: list[Callable[[], None]] = []
        self._before_commit: dict[Hashable, Callable[[], None]] = {}
        self.writes = writes
        self.is_sqlite = is_sqlite
        self.rules = rules
        # One time for everything the unit records, so the history of one request reads as one moment.
        self.now = datetime.now(UTC)
        self._now_stored: tuple[datetime, Any] | None = None  # `now` as `time` stores it, and the `now` it is of

    # --- statements ---------------------------------------------------------------------------------

    def execute(self, sql: Statement, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(sql.sqlite if self.is_sqlite else sql.postgresql, params)

    def executemany(self, sql: Statement, rows: Iterable[Sequence[Any]]) -> None:
        self._cursor.executemany(sql.sqlite if self.is_sqlite else sql.postgresql, rows)

    def row(self, sql: Statement, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        # On the cursor itself, not through `execute`: a write reads several rows, and each call costs (issue 14).
        return self._cursor.execute(sql.sqlite if self.is_sqlite else sql.postgresql, params).fetchone()

    def one(self, sql: Statement, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        """The row a statement must return (a locked row by id, an insert's RETURNING)."""
        row = self.row(sql, params)
        if row is None:
            raise LookupError(f"no row from {sql.sqlite!r}")
        return row

    def column(self, sql: Statement, params: Sequence[Any] = ()) -> list[Any]:
        """The first column of every row of a query."""
        self.execute(sql, params)
        return [row[0] for row in self._cursor.fetchall()]

    def rows(self, sql: Statement, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        self.execute(sql, params)
        return self._cursor.fetchall()

    def each(self, sql: Statement, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """The rows of a query one at a time, from a cursor of their own: a large table read into a map without a
        list of all its rows first (the import's invoices)."""
        cursor = self.cursor()
        try:
            cursor.execute(sql.sqlite if self.is_sqlite else sql.postgresql, params)
            yield from cursor
        finally:
            cursor.close()

    def cursor(self) -> Any:
        """A cursor of its own on the unit's connection, for bulk writes (executemany, PostgreSQL's COPY)."""
        return self._dbapi.cursor()

    @property
    def plain(self) -> bool:
        """Whether the unit runs on the driver alone (`Database.read(plain=True)`, `write(plain=True)` on a SQLite
        file): plain SQL only, no `connection` or `session`."""
        return self._engine is None

    @property
    def rowcount(self) -> int:
        """How many rows the last statement changed."""
        return self._cursor.rowcount

    # --- values in ----------------------------------------------------------------------------------

    def time(self, value: datetime | None) -> Any:
        """An aware time: on SQLite UTC text in SQLAlchemy's format (microseconds always), else the value."""
        if value is None or not self.is_sqlite:
            return value
        stored = self._now_stored
        if stored is not None and stored[0] is value:  # the unit's time, which a write stores several times
            return stored[1]
        text = stored_time(value, True)
        if value is self.now:
            self._now_stored = (value, text)
        return text

    def day(self, value: date | None) -> Any:
        return value.isoformat() if self.is_sqlite and value is not None else value

    def json(self, value: Any) -> str | None:
        """JSON text; PostgreSQL casts the untyped parameter to the column's json type."""
        return None if value is None else _ENCODE(value)

    # --- values out ---------------------------------------------------------------------------------

    # The readers are the module's functions (the scans' driver reads with them too), as static methods.
    read_json = staticmethod(read_json)
    read_time = staticmethod(read_time)
    read_day = staticmethod(read_day)

    # --- the same transaction for SQLAlchemy code -----------------------------------------------------

    @property
    def connection(self) -> Connection:
        """The unit's transaction as a SQLAlchemy Core connection."""
        if self._pooled is None or self._engine is None:
            raise RuntimeError("a plain read (Database.read(plain=True)) runs plain SQL only: no Core, no ORM")
        if self._core is None:
            from sqlalchemy import Connection

            self._core = Connection(self._engine, connection=self._pooled)
        if self._transaction is None:
            # The driver's transaction is already open (BEGIN was sent on the cursor); SQLAlchemy joins it.
            self._transaction = self._core.begin()
        return self._core

    @property
    def session(self) -> Session:
        """The unit's transaction as a SQLModel Session (it flushes before the unit commits)."""
        if self._session is None:
            from sqlmodel import Session

            # The connection's transaction is the unit's: the Session joins it and never ends it itself.
            self._session = Session(bind=self.connection, expire_on_commit=False)
        return self._session

    def before_commit(self, key: Hashable, callback: Callable[[], None]) -> None:
        """Run `callback` once, at the end of the unit's work, just before it commits (never when it rolls back):
        work that must see everything the unit wrote, registered by each step that needs it (`key`: once each)."""
        self._before_commit.setdefault(key, callback)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the unit has committed (never when it rolls back): e.g. refresh a Slack view."""
        self._after_commit.append(callback)

    # --- the end --------------------------------------------------------------------------------------

    def _finish(self, commit: bool) -> None:
        if commit:
            try:
                for callback in list(self._before_commit.values()):
                    callback()
            except BaseException:
                self._finish(commit=False)
                raise
        # The callbacks hold the unit (settle's closure does): dropped now, the unit is freed as soon as its caller
        # lets go rather than by the cyclic garbage collector, whose passes cost a short write ~20 µs (issue 14).
        self._before_commit.clear()
        if self._session is not None:
            if commit:
                self._session.flush()
            self._session.close()
        if self._transaction is not None:
            (self._transaction.commit if commit else self._transaction.rollback)()
        else:
            (self._dbapi.commit if commit else self._dbapi.rollback)()

    def _close(self) -> None:
        """Give the connection back to the pool (through the Core connection, when one was made around it)."""
        (self._core or self._pooled).close()  # type: ignore[union-attr]

    def _committed_callbacks(self) -> list[Callable[[], None]]:
        """The after-commit callbacks, once: the unit lets go of them (see `_finish`)."""
        callbacks, self._after_commit = self._after_commit, []
        return callbacks
