"""Reads for reports and Slack's forms and home tab: what a clerk downloads, picks from, and sees waiting.

Reports (`report`) stream: rows come from the database a batch at a time (psycopg's chunked streaming on
PostgreSQL, SQLite's lazy cursor), so a report over a million payments holds one batch in memory, and each is one
SQL statement (a GROUP BY when grouped) so it costs about what the database's own GROUP BY costs
(bench/bench_reports.py).

- unapplied: credit each client holds and has not applied, as of now (R1: credit is the client's).
- applied: credit applications not reversed (R2), each one, or totals by client, project tag (R7) or month.
- findings: what the scans flagged and is still live, each one, or counts by client or month.
- activity: the history, each line, or counts by client or month.
Amounts are decimal strings in the client's currency, so a total never mixes currencies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger import approvals
from ledger.errors import LedgerError
from ledger.kinds import PaymentKind
from ledger.lookup import ClientRef, find_client
from ledger.money import decimal_str
from ledger.reads import ClientBalance, balance_by_id
from ledger.unit import Statement, Unit, statement

KINDS = ("unapplied", "applied", "findings", "activity")
GROUPINGS = ("client", "project", "month")
BATCH = 2000
CREDIT_ACTIONS = ("issue_credit", "apply_credit", "reverse_application", "revoke_credit", "approve_request",
                  "reject_request", "reverse_duplicate", "transfer_credit", "refund_credit", "move_application",
                  "write_off_credit", "reinstate_write_off", "apply_all", "expire_credit")  # fmt: skip


class ReportNotAvailable(LedgerError):
    code = "report_not_available"

    def __init__(self, why: str) -> None:
        super().__init__(why)


@dataclass(frozen=True)
class ReportRequest:
    kind: str
    client: str | None = None
    start: date | None = None
    end: date | None = None
    by: str | None = None

    @property
    def title(self) -> str:
        kind = self.kind.capitalize()
        words = [f"{kind} credit" if self.kind in ("unapplied", "applied") else kind]
        if self.by:
            words.append(f"by {self.by}")
        if self.client:
            words.append(f"for {self.client}")
        if self.start or self.end:
            words.append(f"{self.start or '…'} to {self.end or '…'}")
        return " ".join(words)


@dataclass
class Report:
    """A report's columns and its rows, read as they are iterated (once)."""

    request: ReportRequest
    columns: tuple[str, ...]
    rows: Iterator[tuple[Any, ...]]
    # Which columns are money (decimal strings), summed per currency by `Summary`.
    money_columns: tuple[str, ...] = ()


@dataclass
class Summary:
    """Counted while a report's rows go by: how many, and each money column's total per currency."""

    rows: int = 0
    totals: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # column -> currency -> amount


# --- reports ---------------------------------------------------------------------------------------------


def report(unit: Unit, request: ReportRequest) -> Report:
    """The report `request` asks for; its rows stream from the database while they are iterated."""
    if request.kind not in KINDS:
        raise ReportNotAvailable(f"There is no “{request.kind}” report: choose one of {', '.join(KINDS)}.")
    if request.by is not None and request.by not in GROUPINGS:
        raise ReportNotAvailable(f"Reports group --by {', '.join(GROUPINGS)}, not “{request.by}”.")
    if request.start and request.end and request.start > request.end:
        raise ReportNotAvailable(f"--from {request.start} is after --to {request.end}: nothing falls between them.")
    client = find_client(unit, request.client) if request.client else None
    if not unit.is_sqlite:
        unit.execute(_WITHOUT_JIT)
    return _BUILDERS[request.kind](unit, request, client)


# A report runs each statement once: PostgreSQL plans it without JIT, whose compiling cost more than the scan
# itself when an estimate crossed jit_above_cost (the month report's per-group client lookups did: 0.6 s of 0.8 s
# at 1M payments, EXPLAIN ANALYZE), as any report's may once the ledger grows. For this transaction only.
_WITHOUT_JIT = statement("SET LOCAL jit = off")


def _unapplied(unit: Unit, request: ReportRequest, client: ClientRef | None) -> Report:
    if request.start or request.end:
        raise ReportNotAvailable("Unapplied credit is what clients hold now: --from and --to fit the other reports.")
    if request.by not in (None, "client"):
        raise ReportNotAvailable("Unapplied credit belongs to the client, never to a project (R1): use --by client.")
    where, params = _where([("id = ?", client.id if client else None)])
    sql = (
        "SELECT id, name, currency, credits_issued_minor, credits_applied_minor,"
        " credits_issued_minor - credits_applied_minor FROM client"
        f" WHERE credits_issued_minor - credits_applied_minor <> 0{where} ORDER BY id"
    )
    columns = ("client_id", "client", "currency", "issued", "applied", "unapplied")
    return Report(request, columns, _money_rows(unit, statement(sql), params, 2, (3, 4, 5)), columns[3:])


def _applied(unit: Unit, request: ReportRequest, client: ClientRef | None) -> Report:
    conditions = [
        ("p.client_id = ?", client.id if client else None),
        ("p.received_on >= ?", unit.day(request.start)),
        ("p.received_on <= ?", unit.day(request.end)),
    ]
    where, params = _where(conditions)
    if request.by is not None:
        return _applied_grouped(unit, request, where, params)
    sql = (
        "SELECT p.id, p.received_on, p.client_id, c.name, i.number, p.project_id, c.currency, p.amount_minor,"
        " p.created_by FROM payment p JOIN client c ON c.id = p.client_id JOIN invoice i ON i.id = p.invoice_id"
        " LEFT JOIN reversal r ON r.payment_id = p.id"
        f" WHERE p.kind = '{PaymentKind.ACCOUNT_CREDIT.value}' AND r.id IS NULL{where} ORDER BY p.id"
    )
    columns = ("application_id", "date", "client_id", "client", "invoice", "project", "currency", "applied", "by")
    return Report(request, columns, _money_rows(unit, statement(sql), params, 6, (7,)), ("applied",))


# Grouped, the applications are summed from payment alone (the (client_id, kind, project_id, amount_minor) index
# covers it when no date is given), each group's client read by its key afterwards (a scalar subquery: one primary
# key lookup per group, never a pass over the clients), and the reversed applications, which are few, summed the
# same way and taken off: the database's own GROUP BY, not a reversal lookup per payment. By month the groups are
# months and currencies. PostgreSQL joins the currency from the client as it reads the payments (memoized per
# client): 1.13x the plain GROUP BY month at 1M payments, where grouping by month and client first sorted every
# application (1.35x). SQLite groups by month and client first and reads each group's currency after (1.10x): its
# join looks the client up for every payment (1.48x). Measured side by side, bench/bench_reports.py and by hand.
_NAME = "(SELECT name FROM client WHERE id = g.k1)"
_CURRENCY = "(SELECT currency FROM client WHERE id = g.{key})"
_CLIENT_JOIN = " JOIN client c ON c.id = p.client_id"
_GROUPS = {
    "client": (("p.client_id",), f"g.k1, {_NAME}, {_CURRENCY.format(key='k1')}, g.n, g.total", "", "g.k1",
               ("client_id", "client", "currency"), 2, ""),
    "project": (("p.client_id", "p.project_id"), f"g.k1, {_NAME}, g.k2, {_CURRENCY.format(key='k1')}, g.n, g.total",
                "", "g.k1, coalesce(g.k2, '')", ("client_id", "client", "project", "currency"), 3, ""),
    "month": (("{month}", "c.currency"), "{month_of_k1}, g.k2, g.n, g.total", "", "1, 2", ("month", "currency"), 1,
              _CLIENT_JOIN),
    "month:sqlite": (("{month}", "p.client_id"), f"g.k1, {_CURRENCY.format(key='k2')}, sum(g.n), sum(g.total)",
                     " GROUP BY 1, 2", "1, 2", ("month", "currency"), 1, ""),
}  # fmt: skip


def _applied_grouped(unit: Unit, request: ReportRequest, where: str, params: list[Any]) -> Report:
    by = str(request.by)
    inner_keys, outer, regroup, order, key_columns, currency_at, join = _GROUPS.get(
        f"{by}:sqlite" if unit.is_sqlite else by, _GROUPS[by]
    )
    # PostgreSQL groups months as dates (date_trunc: no text to collate) and spells them once per group.
    month = "substr(p.received_on, 1, 7)" if unit.is_sqlite else "date_trunc('month', p.received_on)"
    keys = [key.format(month=month) for key in inner_keys]
    outer = outer.format(month_of_k1="g.k1" if unit.is_sqlite else "to_char(g.k1, 'YYYY-MM')")
    names = ", ".join(f"{key} AS k{n}" for n, key in enumerate(keys, 1))

    def grouped(source: str, joined: str = "") -> str:
        inner = (
            f"SELECT {names}, count(*) AS n, sum(p.amount_minor) AS total FROM {source}{join}"
            f" WHERE p.kind = '{PaymentKind.ACCOUNT_CREDIT.value}'{joined}{where} GROUP BY {', '.join(keys)}"
        )
        return f"SELECT {outer} FROM ({inner}) g{regroup} ORDER BY {order}"

    applied = statement(grouped("payment p"))
    # The few reversed applications, found from the reversals: SQLite keeps a CROSS JOIN's order, PostgreSQL a
    # LATERAL's, so neither reads every payment a second time.
    reversed_sql = Statement(
        statement(grouped("reversal r CROSS JOIN payment p", " AND p.id = r.payment_id")).sqlite,
        statement(
            grouped("reversal r CROSS JOIN LATERAL (SELECT * FROM payment WHERE id = r.payment_id) p")
        ).postgresql,
    )
    reversed_ = {tuple(row[:-2]): (int(row[-2]), int(row[-1])) for row in unit.rows(reversed_sql, params)}

    def rows() -> Iterator[tuple[Any, ...]]:
        for row in _stream(unit, applied, params):
            key = tuple(row[:-2])
            gone_count, gone_total = reversed_.get(key, (0, 0))
            count, total = int(row[-2]) - gone_count, int(row[-1]) - gone_total
            if count:
                yield (*key, count, decimal_str(total, key[currency_at] or "USD"))

    columns = (*key_columns, "applications", "applied")
    return Report(request, columns, rows(), ("applied",))


def _findings(unit: Unit, request: ReportRequest, client: ClientRef | None) -> Report:
    if request.by == "project":
        raise ReportNotAvailable("Findings are on invoices and clients, not project tags: use --by client or month.")
    where, params = _client_and_period(unit, request, client, "f.client_id", "f.first_seen")
    base = f" FROM scan_finding f LEFT JOIN client c ON c.id = f.client_id WHERE f.closed_at IS NULL{where}"
    if request.by == "client":
        sql = f"SELECT f.client_id, c.name, count(*){base} GROUP BY f.client_id, c.name ORDER BY f.client_id"
        return Report(request, ("client_id", "client", "findings"), _plain_rows(unit, statement(sql), params))
    if request.by == "month":
        month = _month(unit, "f.first_seen")
        sql = f"SELECT {month}, f.kind, count(*){base} GROUP BY {month}, f.kind ORDER BY {month}, f.kind"
        return Report(request, ("month", "kind", "findings"), _plain_rows(unit, statement(sql), params))
    sql = (
        "SELECT f.id, f.kind, f.state, f.client_id, c.name, f.invoice_number, f.currency, f.amount_minor,"
        f" f.first_seen, f.detail{base} ORDER BY f.id"
    )
    columns = ("finding_id", "kind", "state", "client_id", "client", "invoice", "currency", "amount", "first_seen",
               "detail")  # fmt: skip
    return Report(request, columns, _money_rows(unit, statement(sql), params, 6, (7,), times=(8,)), ("amount",))


def _activity(unit: Unit, request: ReportRequest, client: ClientRef | None) -> Report:
    if request.by == "project":
        raise ReportNotAvailable("The history is kept by client and invoice: use --by client or month.")
    where, params = _client_and_period(unit, request, client, "h.client_id", "h.at")
    base = f" FROM history h WHERE 1 = 1{where}"
    if request.by == "client":
        sql = f"SELECT h.client_id, h.action, count(*){base} GROUP BY h.client_id, h.action ORDER BY h.client_id"
        return Report(request, ("client_id", "action", "entries"), _plain_rows(unit, statement(sql), params))
    if request.by == "month":
        month = _month(unit, "h.at")
        sql = f"SELECT {month}, h.action, count(*){base} GROUP BY {month}, h.action ORDER BY {month}, h.action"
        return Report(request, ("month", "action", "entries"), _plain_rows(unit, statement(sql), params))
    sql = f"SELECT h.id, h.at, h.actor, h.action, h.outcome, h.client_id, h.subject, h.detail{base} ORDER BY h.id"
    columns = ("entry_id", "at", "actor", "action", "outcome", "client_id", "subject", "detail")
    return Report(request, columns, _plain_rows(unit, statement(sql), params, times=(1,)))


_BUILDERS = {"unapplied": _unapplied, "applied": _applied, "findings": _findings, "activity": _activity}


def summarize(report: Report) -> tuple[Report, Summary]:
    """The same report, whose rows also count themselves into the returned summary as they are read."""
    summary = Summary()
    money = [report.columns.index(name) for name in report.money_columns]
    currency_at = report.columns.index("currency") if "currency" in report.columns else None

    def counted() -> Iterator[tuple[Any, ...]]:
        for row in report.rows:
            summary.rows += 1
            if currency_at is not None:
                currency = row[currency_at] or "-"
                for at in money:
                    if row[at] is not None:
                        by_currency = summary.totals.setdefault(report.columns[at], {})
                        by_currency[currency] = by_currency.get(currency, Decimal(0)) + Decimal(row[at])
            yield row

    return Report(report.request, report.columns, counted(), report.money_columns), summary


# --- what forms and the home tab show ------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyChoices:
    """What the apply form offers for one client: its credit, the open invoices with a balance due, its projects."""

    balance: ClientBalance
    projects: list[tuple[str, str]]


_PROJECTS = statement("SELECT id, name FROM project WHERE client_id = ? ORDER BY id LIMIT ?")


def apply_choices(unit: Unit, client_id: str, limit: int = 100) -> ApplyChoices | None:
    """The client's oldest `limit` open invoices and its projects (Slack lists at most 100 options)."""
    balance = balance_by_id(unit, client_id, invoice_limit=limit)
    if balance is None:
        return None
    balance.invoices[:] = [invoice for invoice in balance.invoices if invoice.balance_due_minor > 0]
    return ApplyChoices(balance, [(row[0], row[1]) for row in unit.rows(_PROJECTS, (client_id, limit))])


@dataclass(frozen=True)
class LiveApplication:
    application_id: int
    invoice_number: str
    amount_minor: int
    currency: str
    received_on: date
    project_id: str | None


_LIVE_APPLICATIONS = statement(
    "SELECT p.id, i.number, p.amount_minor, c.currency, p.received_on, p.project_id FROM payment p"
    " JOIN invoice i ON i.id = p.invoice_id JOIN client c ON c.id = p.client_id"
    " LEFT JOIN reversal r ON r.payment_id = p.id"
    f" WHERE p.client_id = ? AND p.kind = '{PaymentKind.ACCOUNT_CREDIT.value}' AND r.id IS NULL"
    " ORDER BY p.id DESC LIMIT ?"
)


def live_applications(unit: Unit, client_id: str, limit: int = 100) -> list[LiveApplication]:
    """The client's latest credit applications not reversed (what the reverse form offers)."""
    return [
        LiveApplication(row[0], row[1], int(row[2]), row[3], unit.read_day(row[4]), row[5])
        for row in unit.rows(_LIVE_APPLICATIONS, (client_id, limit))
    ]


@dataclass(frozen=True)
class CreditHolder:
    client: ClientRef
    unapplied_minor: int


@dataclass(frozen=True)
class CreditAction:
    at: datetime
    actor: str
    action: str
    client_id: str | None
    subject: str
    detail: str


@dataclass(frozen=True)
class QuickBooksState:
    entities: int
    unresolved: int
    last_synced_at: datetime | None
    overpayments: int


@dataclass(frozen=True)
class ExpiringCredit:
    client: ClientRef
    expires_on: date
    amount_minor: int


@dataclass(frozen=True)
class HomeSummary:
    pending: list[approvals.ApprovalRequest]
    open_finding_ids: list[int]
    open_findings: int
    top_holders: list[CreditHolder]
    recent: list[CreditAction]
    quickbooks: QuickBooksState
    expiring: list[ExpiringCredit] = field(default_factory=list)


# Each is served by an index: the expression index ix_client_unapplied (the expression must be spelled as it is),
# the history's primary key read backwards, ix_qb_txn_synced_at and ix_qb_txn_status.
_TOP_HOLDERS = statement(
    "SELECT id, name, currency, credits_issued_minor - credits_applied_minor FROM client"
    " WHERE (credits_issued_minor - credits_applied_minor) > 0"
    " ORDER BY (credits_issued_minor - credits_applied_minor) DESC LIMIT ?"
)
_RECENT = statement(
    "SELECT at, actor, action, client_id, subject, detail FROM history"
    f" WHERE outcome = 'done' AND action IN ({', '.join(repr(a) for a in CREDIT_ACTIONS)}) ORDER BY id DESC LIMIT ?"
)
_EXPIRING_WALLETS = statement(
    "SELECT id, name, currency, credits_issued_minor - credits_applied_minor FROM client"
    " WHERE next_expiry_on IS NOT NULL AND next_expiry_on <= ? ORDER BY next_expiry_on, id LIMIT ?"
)
_LIVE_FINDINGS = statement("SELECT id FROM scan_finding WHERE closed_at IS NULL ORDER BY id LIMIT ?")
_LIVE_FINDING_COUNT = statement("SELECT count(*) FROM scan_finding WHERE closed_at IS NULL")
_QB_LAST_SYNC = statement("SELECT synced_at FROM qb_txn ORDER BY synced_at DESC LIMIT 1")
_QB_ENTITIES = statement("SELECT count(*) FROM qb_txn")
_QB_UNRESOLVED = statement("SELECT count(*) FROM qb_txn WHERE status = 'unresolved'")
_QB_OVERPAYMENTS = statement("SELECT count(*) FROM qb_overpayment")
_CHANGES = statement(
    "SELECT (SELECT max(id) FROM history), (SELECT max(id) FROM scan_finding),"
    " (SELECT count(*) FROM scan_finding WHERE closed_at IS NULL),"
    " (SELECT count(acknowledged_by) FROM scan_finding WHERE closed_at IS NULL),"
    " (SELECT max(synced_at) FROM qb_txn)"
)


def home_summary(unit: Unit, findings: int = 5, holders: int = 10, recent: int = 20) -> HomeSummary:
    """What the home tab shows: requests waiting, live findings, the largest credit holders, the latest credit
    actions and the QuickBooks sync's state."""
    top = [CreditHolder(ClientRef(r[0], r[1], r[2]), int(r[3])) for r in unit.rows(_TOP_HOLDERS, (holders,))]
    actions = [
        CreditAction(unit.read_time(r[0]) or unit.now, r[1], r[2], r[3], r[4] or "", r[5] or "")
        for r in unit.rows(_RECENT, (recent,))
    ]
    last_sync = unit.row(_QB_LAST_SYNC)
    quickbooks = QuickBooksState(
        entities=int(unit.one(_QB_ENTITIES)[0]),
        unresolved=int(unit.one(_QB_UNRESOLVED)[0]),
        last_synced_at=unit.read_time(last_sync[0]) if last_sync else None,
        overpayments=int(unit.one(_QB_OVERPAYMENTS)[0]),
    )
    return HomeSummary(
        expiring=expiring_credits(unit),
        pending=approvals.pending_requests(unit, 10),
        open_finding_ids=unit.column(_LIVE_FINDINGS, (findings,)),
        open_findings=int(unit.one(_LIVE_FINDING_COUNT)[0]),
        top_holders=top,
        recent=actions,
        quickbooks=quickbooks,
    )


def expiring_credits(unit: Unit, wallets: int = 10) -> list[ExpiringCredit]:
    """Credit that expires within the scans' warning days, earliest first (what each wallet's lots still hold)."""
    from ledger.credit_ops import lots  # the expiry rule lives with the credit operations

    days = getattr(unit.rules.scan, "expiry_warning_days", 14)
    today = unit.now.date()
    until = today + timedelta(days=days)
    found = []
    for client_id, name, currency, available in unit.rows(_EXPIRING_WALLETS, (unit.day(until), wallets)):
        for holding in lots.holdings(lots.open_lots(unit, client_id), int(available)):
            expires_on = holding.lot.expires_on
            if expires_on is not None and today <= expires_on <= until and holding.held_minor > 0:
                found.append(ExpiringCredit(ClientRef(client_id, name, currency), expires_on, holding.held_minor))
    return sorted(found, key=lambda credit: (credit.expires_on, credit.client.id))


def changes_marker(unit: Unit) -> tuple[Any, ...]:
    """Changes whenever something the home tab shows may have changed: a write or decision (every one leaves a
    history line), a scan (findings opened or closed), a QuickBooks sync. A few index lookups."""
    return tuple(unit.one(_CHANGES))


# --- streaming ---------------------------------------------------------------------------------------------


def _stream(unit: Unit, sql: Statement, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
    """Rows a batch at a time, on a cursor of their own: SQLite's lazy cursor; on PostgreSQL psycopg's chunked
    streaming (`Cursor.stream`), which runs the query as a plain one, so PostgreSQL may scan in parallel as its own
    GROUP BY does (a named, server-side cursor never runs a parallel plan), while the rows still reach Python a
    batch at a time. The unit runs nothing else until the rows are read or the iteration is closed."""
    dbapi = unit.connection.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        if unit.is_sqlite:
            cursor.execute(sql.sqlite, params)
            while batch := cursor.fetchmany(BATCH):
                yield from batch
        else:
            yield from _streamed(cursor, sql.postgresql, params)
    finally:
        cursor.close()


def _streamed(cursor: Any, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
    """psycopg's stream inside a savepoint: a report left half-read is cancelled, which would abort the whole
    transaction; rolling back to the savepoint leaves the unit usable for what comes next."""
    cursor.execute("SAVEPOINT creditbot_report")
    finished = False
    try:
        yield from cursor.stream(sql, params, size=BATCH)
        finished = True
    finally:
        cursor.execute(("RELEASE" if finished else "ROLLBACK TO") + " SAVEPOINT creditbot_report")


def _plain_rows(unit: Unit, sql: Statement, params: Sequence[Any], times: Sequence[int] = ()) -> Iterator[tuple]:
    for row in _stream(unit, sql, params):
        yield _with_times(unit, row, times) if times else tuple(row)


def _money_rows(
    unit: Unit, sql: Statement, params: Sequence[Any], currency_at: int, amounts: Sequence[int],
    times: Sequence[int] = (),
) -> Iterator[tuple[Any, ...]]:  # fmt: skip
    for row in _stream(unit, sql, params):
        values = list(_with_times(unit, row, times))
        currency = values[currency_at] or "USD"
        for at in amounts:
            if values[at] is not None:
                values[at] = decimal_str(int(values[at]), currency)
        yield tuple(values)


def _with_times(unit: Unit, row: Sequence[Any], times: Sequence[int]) -> tuple[Any, ...]:
    values = list(row)
    for at in times:
        moment = unit.read_time(values[at])
        values[at] = moment.isoformat(timespec="seconds") if moment else None
    return tuple(values)


def _client_and_period(
    unit: Unit, request: ReportRequest, client: ClientRef | None, client_column: str, time_column: str
) -> tuple[str, list[Any]]:
    """The conditions of a report kept by time: its client, and its days from --from through --to."""
    return _where(
        [
            (f"{client_column} = ?", client.id if client else None),
            (f"{time_column} >= ?", _start_of(unit, request.start)),
            (f"{time_column} < ?", _start_of(unit, request.end + timedelta(days=1)) if request.end else None),
        ]
    )


def _where(conditions: Sequence[tuple[str, Any]]) -> tuple[str, list[Any]]:
    used = [(sql, value) for sql, value in conditions if value is not None]
    return "".join(f" AND {sql}" for sql, _ in used), [value for _, value in used]


def _month(unit: Unit, column: str) -> str:
    return f"substr({column}, 1, 7)" if unit.is_sqlite else f"to_char({column}, 'YYYY-MM')"


def _start_of(unit: Unit, day: date | None) -> Any:
    return None if day is None else unit.time(datetime(day.year, day.month, day.day, tzinfo=unit.now.tzinfo))
