"""One detector per finding kind: set-based SQL (the grouping happens in the database), then a few lines of
Python per *finding* to word it. Never a Python loop over payments.

Each detector evaluates a unit, its scope: an invoice, a client, or a QuickBooks payment. Given scope keys it
evaluates only those (what changed since the last scan); given None it evaluates the whole ledger. The two
must agree, so a finding depends only on rows of its own scope, and its wording only on those rows.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict, namedtuple
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, String
from sqlmodel import Session
from sqlmodel.sql.sqltypes import UTCDateTime

from ledger.money import currency_decimals, format_money
from ledger.rules import ScanOptions
from ledger.scans.changes import Changes, Positions
from ledger.scans.driver import Driver
from ledger.scans.findings import Finding, FindingKind
from ledger.unit import list_parameter, read_day, read_json, read_time

LIVE = "NOT EXISTS (SELECT 1 FROM reversal r WHERE r.payment_id = p.id)"
# Money fields whose change after posting makes QuickBooks disagree with the ledger.
EDITED_FIELDS = ("total", "amount", "kind")


@dataclass(frozen=True)
class Detector:
    kind: FindingKind
    # Evaluates the given scope keys, or everything when None.
    detect: Callable[[Session, Sequence[Any] | None, ScanOptions], list[Finding]]
    # Scope keys touched by changes since a watermark; None when this detector re-reads everything each time.
    affected: Callable[[Changes, Positions], set[Any]] | None
    # What a scope key names ("invoice:12"), and the table the detector needs (absent: it cannot run here).
    scope: str = "invoice"
    table: str = "payment"
    version: str = "v1"

    def config(self, options: ScanOptions) -> str:
        """What the findings depend on besides the ledger: a change forces a full re-evaluation."""
        if self.kind is FindingKind.DUPLICATE_CREDIT:
            return f"{self.version} window={options.duplicate_window_days}"
        if self.kind is FindingKind.CREDIT_EXPIRING:
            return f"{self.version} days={options.expiry_warning_days}"
        return self.version


# --- SQL helpers ----------------------------------------------------------------------------------------


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _days_between(session: Session, later: str, earlier: str) -> str:
    if _dialect(session) == "sqlite":
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"
    return f"({later} - {earlier})"


def _has_key(session: Session, json_column: str, key: str) -> str:
    if _dialect(session) == "sqlite":
        return f"json_type({json_column}, '$.{key}') IS NOT NULL"
    return f"json_extract_path({json_column}, '{key}') IS NOT NULL"


class _Scope:
    """Formats `{scope:COLUMN}` in a detector's SQL: nothing for a full scan, else "AND COLUMN in the keys".

    The keys travel as one parameter (a JSON array on SQLite, a typed array on PostgreSQL), so a thousand
    changed invoices cost one statement, and the database looks each up by its index. A query names the key
    column of every table it reads (`p.invoice_id` and `i.id`), so no table is scanned whole to join.
    """

    def __init__(self, session: Session, keys: Sequence[Any] | None) -> None:
        self.keys = keys
        self.sqlite = _dialect(session) == "sqlite"
        # Typed as the column is: an untyped array of Python ints may arrive as numeric[], and a bigint column
        # compared with numerics cannot use its index. A detector's keys are all of one type (its scope's), so the
        # first says it; SQLite needs no type at all.
        self.array = "BIGINT[]" if keys and not self.sqlite and isinstance(keys[0], int) else "TEXT[]"

    def __format__(self, column: str) -> str:
        if self.keys is None:
            return ""
        if self.sqlite:
            return f"AND {column} IN (SELECT value FROM json_each(:keys))"
        return f"AND {column} = ANY(CAST(:keys AS {self.array}))"

    def parameter(self) -> dict[str, Any]:
        if self.keys is None:
            return {}
        return {"keys": list_parameter(self.keys, self.sqlite)}


def _run(
    session: Session,
    sql: str,
    keys: Sequence[Any] | None,
    params: dict[str, Any] | None = None,
    types: dict[str, Any] | None = None,
) -> list[Any]:
    """Run `sql` over everything (keys None) or over the scope keys only (see `_Scope`), as named rows.

    On the driver's cursor: through SQLAlchemy each of a scan's statements cost more Python than SQLite's own work
    for a scoped read. The columns named in `types` come back as SQLAlchemy would give them (SQLite keeps dates,
    times and JSON as text).
    """
    scope = _Scope(session, keys)
    statement = _statement(sql.format(scope=scope), scope.sqlite)
    names, fetched = Driver(session).named_rows(statement, {**(params or {}), **scope.parameter()})
    return _named(names, fetched, types or {})


def _named(names: tuple[str, ...], fetched: list[tuple[Any, ...]], types: dict[str, Any]) -> list[Any]:
    """The rows with attributes by column name, the typed columns read as SQLAlchemy would give them."""
    row_type = _row_type(names)
    readers = [(at, _READERS[types[name]]) for at, name in enumerate(names) if types.get(name) in _READERS]
    if not readers:
        return [row_type._make(values) for values in fetched]
    rows = []
    for values in fetched:
        typed = list(values)
        for at, read in readers:
            typed[at] = read(typed[at])
        rows.append(row_type._make(typed))
    return rows


# `:name` parameters (not PostgreSQL's `::` casts), spelt `%(name)s` for psycopg.
_NAMED_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=64)
def _statement(sql: str, sqlite: bool) -> str:
    """Each detector's SQL in its driver's parameter style (a handful: scoped or not), made once."""
    return sql if sqlite else _NAMED_PARAMETER.sub(r"%(\1)s", sql.replace("%", "%%"))


@lru_cache(maxsize=64)
def _row_type(names: tuple[str, ...]) -> Any:
    return namedtuple("Row", names, rename=True)  # type: ignore[misc]


_READERS: dict[Any, Callable[[Any], Any]] = {Date: read_day, UTCDateTime: read_time, JSON: read_json}


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _fingerprint(prefix: str, ids: Iterable[int]) -> str:
    listed = ",".join(str(i) for i in ids)
    if len(prefix) + len(listed) > 200:
        listed = "sha256-" + hashlib.sha256(listed.encode()).hexdigest()[:32]
    return prefix + listed


def _int(value: Any) -> int:
    # PostgreSQL's SUM(bigint) is NUMERIC; the sums are exact integers either way.
    return int(value)


# --- duplicate_credit -----------------------------------------------------------------------------------


def _duplicate_sql(session: Session) -> str:
    # Live AccountCredit payments of one invoice and one amount, ordered by date; a cluster is a run in which
    # each payment came within the window of the one before. Clusters of two or more are duplicates.
    previous = "LAG(l.received_on) OVER (PARTITION BY l.invoice_id, l.amount_minor ORDER BY l.received_on, l.id)"
    gap = _days_between(session, "l.received_on", previous)
    return f"""
        WITH live AS (
            SELECT p.id, p.invoice_id, p.amount_minor, p.received_on FROM payment p
            WHERE p.kind = 'AccountCredit' AND {LIVE} {{scope:p.invoice_id}}
        ),
        repeated AS (
            SELECT invoice_id, amount_minor FROM live GROUP BY invoice_id, amount_minor HAVING COUNT(*) > 1
        ),
        starts AS (
            SELECT l.id, l.invoice_id, l.amount_minor, l.received_on,
                   CASE WHEN {gap} <= :window THEN 0 ELSE 1 END AS starts_cluster
            FROM live l JOIN repeated g ON g.invoice_id = l.invoice_id AND g.amount_minor = l.amount_minor
        ),
        clusters AS (
            SELECT id, invoice_id, amount_minor, received_on,
                   SUM(starts_cluster) OVER (PARTITION BY invoice_id, amount_minor ORDER BY received_on, id
                                             ROWS UNBOUNDED PRECEDING) AS cluster
            FROM starts
        ),
        sized AS (
            SELECT c.*, COUNT(*) OVER (PARTITION BY invoice_id, amount_minor, cluster) AS size FROM clusters c
        )
        SELECT s.invoice_id, i.number, i.client_id, cl.currency, s.amount_minor, s.cluster, s.id AS payment_id,
               pay.external_id, s.received_on
        FROM sized s
        JOIN invoice i ON i.id = s.invoice_id
        JOIN client cl ON cl.id = i.client_id
        JOIN payment pay ON pay.id = s.id
        WHERE s.size > 1 {{scope:i.id}}
        ORDER BY s.invoice_id, s.amount_minor, s.cluster, s.received_on, s.id
    """


def detect_duplicate_credit(session: Session, keys: Sequence[int] | None, options: ScanOptions) -> list[Finding]:
    rows = _run(
        session,
        _duplicate_sql(session),
        keys,
        {"window": options.duplicate_window_days},
        {
            "invoice_id": BigInteger,
            "number": String,
            "client_id": String,
            "currency": String,
            "amount_minor": BigInteger,
            "cluster": BigInteger,
            "payment_id": BigInteger,
            "external_id": String,
            "received_on": Date,
        },
    )
    clusters: dict[tuple[int, int, int], list[Any]] = defaultdict(list)
    for row in rows:
        clusters[(row.invoice_id, row.amount_minor, row.cluster)].append(row)
    return [_duplicate_finding(members, options) for members in clusters.values()]


def _duplicate_finding(members: list[Any], options: ScanOptions) -> Finding:
    first = members[0]
    money = first.currency
    each = format_money(first.amount_minor, money)
    listed = ", ".join(f"{_payment_name(m.payment_id, m.external_id)} on {m.received_on:%Y-%m-%d}" for m in members)
    extra = first.amount_minor * (len(members) - 1)
    payment_ids = tuple(m.payment_id for m in members)
    return Finding(
        kind=FindingKind.DUPLICATE_CREDIT,
        fingerprint=_fingerprint(f"duplicate_credit:invoice={first.invoice_id}:payments=", payment_ids),
        scope=f"invoice:{first.invoice_id}",
        invoice_id=first.invoice_id,
        invoice_number=first.number,
        client_id=first.client_id,
        amount_minor=extra,
        currency=money,
        payment_ids=payment_ids,
        detail=(
            f"The same credit of {each} was applied {len(members)} times to invoice {first.number} within "
            f"{options.duplicate_window_days} days ({listed}), and none is reversed: "
            f"{format_money(extra, money)} of credit is counted more than once."
        ),
    )


def _payment_name(payment_id: int, external_id: str | None) -> str:
    return external_id or f"application #{payment_id}"


# --- negative_balance -----------------------------------------------------------------------------------

# The invoice's running totals are its live payments summed by kind (kept in every write's transaction, see
# ledger/totals.py), so a changed invoice costs one row, not a read of all its payments; the EXISTS keeps the
# finding to invoices with a live payment, as summing the payments did.
_NEGATIVE_SQL = f"""
    SELECT i.id AS invoice_id, i.number, i.client_id, cl.currency, i.total_minor, i.cash_paid_minor AS cash,
           i.credits_applied_minor AS credits, i.qb_credit_memos_minor AS memos
    FROM invoice i
    JOIN client cl ON cl.id = i.client_id
    WHERE i.cash_paid_minor + i.credits_applied_minor + i.qb_credit_memos_minor > i.total_minor {{scope:i.id}}
      AND EXISTS (SELECT 1 FROM payment p WHERE p.invoice_id = i.id AND {LIVE})
"""


def detect_negative_balance(session: Session, keys: Sequence[int] | None, options: ScanOptions) -> list[Finding]:
    findings = []
    for row in _run(session, _NEGATIVE_SQL, keys):
        money = row.currency
        cash, credits, memos = _int(row.cash), _int(row.credits), _int(row.memos)
        paid = cash + credits + memos
        excess = paid - row.total_minor
        findings.append(
            Finding(
                kind=FindingKind.NEGATIVE_BALANCE,
                fingerprint=f"negative_balance:invoice={row.invoice_id}",
                scope=f"invoice:{row.invoice_id}",
                invoice_id=row.invoice_id,
                invoice_number=row.number,
                client_id=row.client_id,
                amount_minor=excess,
                currency=money,
                detail=(
                    f"Invoice {row.number} totals {format_money(row.total_minor, money)} but has "
                    f"{format_money(paid, money)} recorded against it (cash {format_money(cash, money)}, credits "
                    f"applied {format_money(credits, money)}, QuickBooks credit memos {format_money(memos, money)}): "
                    f"its balance is {format_money(-excess, money)}."
                ),
            )
        )
    return findings


# --- overapplied_credit ---------------------------------------------------------------------------------

# The client's running totals are its credits and its live credit applications summed (ledger/totals.py), so a
# changed client costs one row rather than a read of every entry it ever had; the EXISTS keeps the finding to
# clients with a live credit application, as summing the applications did.
_OVERAPPLIED_SQL = f"""
    SELECT cl.id AS client_id, cl.name, cl.currency, cl.credits_applied_minor AS applied,
           cl.credits_issued_minor AS issued
    FROM client cl
    WHERE cl.credits_applied_minor > cl.credits_issued_minor {{scope:cl.id}}
      AND EXISTS (SELECT 1 FROM payment p WHERE p.client_id = cl.id AND p.kind = 'AccountCredit' AND {LIVE})
"""


def detect_overapplied_credit(session: Session, keys: Sequence[str] | None, options: ScanOptions) -> list[Finding]:
    findings = []
    for row in _run(session, _OVERAPPLIED_SQL, keys):
        money = row.currency
        applied, issued = _int(row.applied), _int(row.issued)
        findings.append(
            Finding(
                kind=FindingKind.OVERAPPLIED_CREDIT,
                fingerprint=f"overapplied_credit:client={row.client_id}",
                scope=f"client:{row.client_id}",
                client_id=row.client_id,
                amount_minor=applied - issued,
                currency=money,
                detail=(
                    f"{row.name} has {format_money(applied, money)} of credit applied to invoices but only "
                    f"{format_money(issued, money)} issued: {format_money(applied - issued, money)} more than it "
                    "ever had (available credit is negative)."
                ),
            )
        )
    return findings


# --- credit_after_posting -------------------------------------------------------------------------------

_AFTER_POSTING_SQL = f"""
    SELECT p.id AS payment_id, p.external_id, p.amount_minor, p.created_at, p.created_by, i.id AS invoice_id,
           i.number, i.client_id, cl.currency, i.posted_to_qb_at
    FROM payment p
    JOIN invoice i ON i.id = p.invoice_id
    JOIN client cl ON cl.id = i.client_id
    WHERE p.kind = 'AccountCredit' AND i.posted_to_qb_at IS NOT NULL AND p.created_at > i.posted_to_qb_at
      AND {LIVE} {{scope:p.invoice_id}} {{scope:i.id}}
"""


def detect_credit_after_posting(session: Session, keys: Sequence[int] | None, options: ScanOptions) -> list[Finding]:
    types = {
        "payment_id": BigInteger,
        "external_id": String,
        "amount_minor": BigInteger,
        "created_at": UTCDateTime,
        "created_by": String,
        "invoice_id": BigInteger,
        "number": String,
        "client_id": String,
        "currency": String,
        "posted_to_qb_at": UTCDateTime,
    }
    findings = []
    for row in _run(session, _AFTER_POSTING_SQL, keys, types=types):
        money = row.currency
        findings.append(
            Finding(
                kind=FindingKind.CREDIT_AFTER_POSTING,
                fingerprint=f"credit_after_posting:payment={row.payment_id}",
                scope=f"invoice:{row.invoice_id}",
                invoice_id=row.invoice_id,
                invoice_number=row.number,
                client_id=row.client_id,
                amount_minor=row.amount_minor,
                currency=money,
                payment_ids=(row.payment_id,),
                detail=(
                    f"A credit of {format_money(row.amount_minor, money)} "
                    f"({_payment_name(row.payment_id, row.external_id)}) was entered on invoice {row.number} on "
                    f"{_when(row.created_at)} by {row.created_by}, after the invoice was posted to QuickBooks on "
                    f"{_when(row.posted_to_qb_at)}: QuickBooks does not know about it."
                ),
            )
        )
    return findings


# --- post_sync_edit -------------------------------------------------------------------------------------


def _edit_history_sql(session: Session) -> str:
    touched = " OR ".join(
        _has_key(session, f"h.{side}", name) for side in ("before", "after") for name in EDITED_FIELDS
    )
    return f"""
        SELECT h.id, h.invoice_id, h.subject, h.at, h.before, h.after, i.number, i.client_id, cl.currency,
               i.posted_to_qb_at
        FROM history h
        JOIN invoice i ON i.id = h.invoice_id
        JOIN client cl ON cl.id = i.client_id
        WHERE h.action = 'import_edit' AND i.posted_to_qb_at IS NOT NULL AND h.at > i.posted_to_qb_at
          AND ({touched}) {{scope:h.invoice_id}} {{scope:i.id}}
        ORDER BY h.id
    """


_EDITED_INVOICES_SQL = """
    SELECT i.id AS invoice_id, i.number, i.client_id, cl.currency, i.posted_to_qb_at, i.updated_at,
           'invoice:' || i.number AS subject
    FROM invoice i JOIN client cl ON cl.id = i.client_id
    WHERE i.posted_to_qb_at IS NOT NULL AND i.updated_at > i.posted_to_qb_at {scope:i.id}
"""
_EDITED_PAYMENTS_SQL = """
    SELECT p.invoice_id, i.number, i.client_id, cl.currency, i.posted_to_qb_at, p.updated_at, p.id AS payment_id,
           p.external_id
    FROM payment p
    JOIN invoice i ON i.id = p.invoice_id
    JOIN client cl ON cl.id = i.client_id
    WHERE i.posted_to_qb_at IS NOT NULL AND p.updated_at > i.posted_to_qb_at {scope:p.invoice_id} {scope:i.id}
"""


@dataclass
class _EditedSubject:
    """Everything known about one edited row (the invoice itself, or one payment) of a posted invoice."""

    invoice_id: int
    number: str
    client_id: str
    currency: str
    posted_at: datetime
    subject: str
    payment_id: int | None = None
    changes: list[tuple[datetime, dict[str, Any], dict[str, Any]]] | None = None
    updated_at: datetime | None = None


def detect_post_sync_edit(session: Session, keys: Sequence[int] | None, options: ScanOptions) -> list[Finding]:
    subjects: dict[tuple[int, str], _EditedSubject] = {}

    def subject_of(row: Any, subject: str, payment_id: int | None = None) -> _EditedSubject:
        key = (row.invoice_id, subject)
        if key not in subjects:
            subjects[key] = _EditedSubject(
                row.invoice_id, row.number, row.client_id, row.currency, row.posted_to_qb_at, subject, payment_id
            )
        return subjects[key]

    when_types = {"invoice_id": BigInteger, "posted_to_qb_at": UTCDateTime, "updated_at": UTCDateTime}
    history_types = {
        "id": BigInteger,
        "invoice_id": BigInteger,
        "subject": String,
        "at": UTCDateTime,
        "before": JSON,
        "after": JSON,
        "number": String,
        "client_id": String,
        "currency": String,
        "posted_to_qb_at": UTCDateTime,
    }
    for row in _run(session, _edit_history_sql(session), keys, types=history_types):
        edited = subject_of(row, row.subject)
        edited.changes = [*(edited.changes or []), (row.at, row.before or {}, row.after or {})]
    for row in _run(session, _EDITED_INVOICES_SQL, keys, types=when_types):
        subject_of(row, row.subject).updated_at = row.updated_at
    for row in _run(session, _EDITED_PAYMENTS_SQL, keys, types=when_types):
        name = f"payment:{_payment_name(row.payment_id, row.external_id)}"
        edited = subject_of(row, name, row.payment_id)
        edited.payment_id = row.payment_id
        edited.updated_at = row.updated_at
    return [_post_sync_finding(edited) for edited in subjects.values()]


def _post_sync_finding(edited: _EditedSubject) -> Finding:
    money = edited.currency
    is_invoice = edited.subject.startswith("invoice:")
    what = (
        f"Invoice {edited.number}"
        if is_invoice
        else (f"Payment {edited.subject.removeprefix('payment:')} on invoice {edited.number}")
    )
    if edited.changes:
        happened = "; ".join(_describe_change(at, before, after, money) for at, before, after in edited.changes)
    else:
        assert edited.updated_at is not None, "a subject comes from history or from updated_at"
        happened = f"last edited in the billing system on {_when(edited.updated_at)}"
    return Finding(
        kind=FindingKind.POST_SYNC_EDIT,
        fingerprint=f"post_sync_edit:invoice={edited.invoice_id}:{edited.subject}",
        scope=f"invoice:{edited.invoice_id}",
        invoice_id=edited.invoice_id,
        invoice_number=edited.number,
        client_id=edited.client_id,
        amount_minor=_net_change(edited.changes or [], "total" if is_invoice else "amount", money),
        currency=money,
        payment_ids=(edited.payment_id,) if edited.payment_id is not None else (),
        detail=(
            f"{what} was changed after the invoice was posted to QuickBooks on {_when(edited.posted_at)}: {happened}. "
            "QuickBooks still has the old values."
        ),
    )


def _describe_change(at: datetime, before: dict[str, Any], after: dict[str, Any], currency: str) -> str:
    parts = []
    for name in EDITED_FIELDS:
        if name in before or name in after:
            old, new = before.get(name), after.get(name)
            if name != "kind":
                old, new = _money_text(old, currency), _money_text(new, currency)
            parts.append(f"{name} {old} → {new}")
    return f"{', '.join(parts)} on {_when(at)}"


def _money_text(value: Any, currency: str) -> str:
    minor = _minor(value, currency)
    return "?" if minor is None else format_money(minor, currency)


def _minor(value: Any, currency: str) -> int | None:
    try:
        return int(Decimal(str(value)).scaleb(currency_decimals(currency)))
    except (ArithmeticError, ValueError):
        return None


def _net_change(changes: list[tuple[datetime, dict[str, Any], dict[str, Any]]], name: str, currency: str) -> int | None:
    """How much the money field moved from before the first edit to after the last one (None if it did not)."""
    values = [(before.get(name), after.get(name)) for _at, before, after in changes if name in before]
    if not values:
        return None
    first, last = _minor(values[0][0], currency), _minor(values[-1][1], currency)
    if first is None or last is None or first == last:
        return None
    return abs(last - first)


# --- qb_overpayment_unreflected -------------------------------------------------------------------------

_UNREFLECTED_SQL = """
    SELECT o.qb_payment_id, o.client_id, o.amount_minor, o.currency, o.qb_txn_date, cl.name
    FROM qb_overpayment o
    JOIN client cl ON cl.id = o.client_id
    WHERE o.amount_minor > 0 {scope:o.qb_payment_id}
      AND NOT EXISTS (SELECT 1 FROM credit c WHERE c.qb_payment_id = o.qb_payment_id)
"""


def detect_qb_overpayment_unreflected(
    session: Session, keys: Sequence[str] | None, options: ScanOptions
) -> list[Finding]:
    types = {
        "qb_payment_id": String,
        "client_id": String,
        "amount_minor": BigInteger,
        "currency": String,
        "qb_txn_date": Date,
        "name": String,
    }
    findings = []
    for row in _run(session, _UNREFLECTED_SQL, keys, types=types):
        taken_on: date = row.qb_txn_date
        findings.append(
            Finding(
                kind=FindingKind.QB_OVERPAYMENT_UNREFLECTED,
                fingerprint=f"qb_overpayment_unreflected:qb_payment={row.qb_payment_id}",
                scope=f"qb_payment:{row.qb_payment_id}",
                client_id=row.client_id,
                amount_minor=row.amount_minor,
                currency=row.currency,
                detail=(
                    f"{row.name} overpaid {format_money(row.amount_minor, row.currency)} in QuickBooks (payment "
                    f"{row.qb_payment_id} of {taken_on:%Y-%m-%d}). QuickBooks holds it as credit, but it does not "
                    "flow back here, so the client's credit in creditbot is short by that much."
                ),
            )
        )
    return findings


# --- credit_expiring ------------------------------------------------------------------------------------

# The entries of every client with a grant expiring within the warning window (lots.py decides which grants still
# hold credit: everything taken out draws on the earliest expiry first).
_EXPIRING_SQL = """
    SELECT c.client_id, c.id, c.amount_minor, c.kind, c.expires_on, c.external_id, cl.name, cl.currency,
           cl.credits_issued_minor - cl.credits_applied_minor AS available
    FROM credit c JOIN client cl ON cl.id = c.client_id
    WHERE c.client_id IN (SELECT x.client_id FROM credit x WHERE x.expires_on >= :today AND x.expires_on <= :until
                          AND x.amount_minor > 0) {scope:c.client_id}
    ORDER BY c.client_id, c.id
"""


def detect_credit_expiring(session: Session, keys: Sequence[str] | None, options: ScanOptions) -> list[Finding]:
    from ledger.credit_ops import lots  # the expiry rule lives with the ledger's writes

    today = datetime.now(UTC).date()
    until = today + timedelta(days=options.expiry_warning_days)
    types = {"expires_on": Date, "client_id": String, "name": String, "currency": String}
    by_client: dict[str, list[Any]] = defaultdict(list)
    sqlite = _dialect(session) == "sqlite"  # SQLite stores dates as ISO text
    window = {"today": today.isoformat() if sqlite else today, "until": until.isoformat() if sqlite else until}
    for row in _run(session, _EXPIRING_SQL, keys, window, types=types):
        by_client[row.client_id].append(row)
    findings = []
    for client_id, rows in by_client.items():
        first = rows[0]
        entries = [(r.id, _int(r.amount_minor), r.kind, r.expires_on, r.external_id) for r in rows]
        for holding in lots.holdings(lots.lots_of(entries, lambda day: day), _int(first.available)):
            expires_on = holding.lot.expires_on
            if expires_on is None or not today <= expires_on <= until or holding.held_minor <= 0:
                continue
            money, days = first.currency, (expires_on - today).days
            when = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
            findings.append(
                Finding(
                    kind=FindingKind.CREDIT_EXPIRING,
                    fingerprint=f"credit_expiring:credit={holding.lot.credit_id}:on={expires_on.isoformat()}",
                    scope=f"client:{client_id}",
                    client_id=client_id,
                    amount_minor=holding.held_minor,
                    currency=money,
                    detail=(
                        f"{first.name} has {format_money(holding.held_minor, money)} of credit "
                        f"#{holding.lot.credit_id} that can be used through {expires_on.isoformat()} ({when}); "
                        "after that it expires and leaves the wallet. Apply it to an open invoice (`apply-all`) "
                        "before then."
                    ),
                )
            )
    return findings


# --- the detectors, in the order findings are listed ----------------------------------------------------


def _invoices(changes: Changes, positions: Positions) -> set[Any]:
    return set(changes.invoices_since(positions))


def _clients(changes: Changes, positions: Positions) -> set[Any]:
    return set(changes.clients_since(positions))


DETECTORS: tuple[Detector, ...] = (
    Detector(FindingKind.DUPLICATE_CREDIT, detect_duplicate_credit, _invoices),  # type: ignore[arg-type]
    Detector(FindingKind.OVERAPPLIED_CREDIT, detect_overapplied_credit, _clients, scope="client"),  # type: ignore[arg-type]
    Detector(FindingKind.NEGATIVE_BALANCE, detect_negative_balance, _invoices),  # type: ignore[arg-type]
    Detector(FindingKind.POST_SYNC_EDIT, detect_post_sync_edit, _invoices),  # type: ignore[arg-type]
    Detector(FindingKind.CREDIT_AFTER_POSTING, detect_credit_after_posting, _invoices),  # type: ignore[arg-type]
    # QuickBooks overpayments are updated in place by the sync (the amount follows the payment's latest version,
    # and drops to zero when it is applied there), so ids cannot say what changed; the table holds one row per
    # overpaid QuickBooks payment, far fewer than payments, and is re-read whole each scan.
    Detector(
        FindingKind.QB_OVERPAYMENT_UNREFLECTED,
        detect_qb_overpayment_unreflected,  # type: ignore[arg-type]
        None,
        scope="qb_payment",
        table="qb_overpayment",
    ),
    # Depends on today's date, so it cannot follow changed ids: re-read each scan, like the overpayments; it reads
    # only the entries of clients with a credit expiring within the window.
    Detector(
        FindingKind.CREDIT_EXPIRING,
        detect_credit_expiring,  # type: ignore[arg-type]
        None,
        scope="client",
        table="credit",
    ),
)
