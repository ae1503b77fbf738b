"""One change-data-capture poll: what changed in QuickBooks since the watermark, applied to the ledger.

`GET {QBO_API_URL}/company/{realm}/cdc?entities=Invoice,Payment,CreditMemo&changedSince=...` goes through the same
`parse_feed` / `apply_entities` path as `creditbot sync-qb`, and each page is applied in one transaction that also
moves the watermark (`qbo_connection.changed_since`): a poll that fails half-way leaves the watermark at the last
page it applied, so nothing is skipped, and applying a page twice changes nothing (the sync is idempotent).

Change data capture's limits:
- At most 1,000 objects of a type per answer, so a full list may be cut short. The window is split: the page is
  applied up to its latest change time of that type, and the poll asks again from there (entities changed in that
  very second come again: harmless). A second that alone holds 1,000 changes is read with paged queries.
- `changedSince` more than 30 days back is refused, so after a long outage each type is read with
  `SELECT * FROM <type> WHERE MetaData.LastUpdatedTime >= '...'`, paged with STARTPOSITION/MAXRESULTS, and the
  result says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.db import Database
from ledger.qbo.api import QBOApi
from ledger.qbo.connection import read_status
from ledger.qbo.entities import CREDIT_MEMO, INVOICE, PAYMENT, QBOEntity
from ledger.qbo.errors import QBONotConnected, QuickBooksRefused
from ledger.qbo.feed import parse_feed
from ledger.qbo.summary import SyncSummary
from ledger.qbo.sync import apply_entities
from ledger.unit import Unit, statement

CDC_ENTITIES = (INVOICE, PAYMENT, CREDIT_MEMO)
QUERY_ORDER = (INVOICE, CREDIT_MEMO, PAYMENT)  # invoices first: payments find the invoices they pay
CDC_PAGE_LIMIT = 1000
QUERY_PAGE = 1000
# Change data capture refuses a changedSince older than 30 days; queries take over a little before that.
CDC_LOOKBACK = timedelta(days=30) - timedelta(hours=1)
MAX_PAGES = 10_000

_ADVANCE = statement(
    "UPDATE qbo_connection SET changed_since = ?, last_poll_at = ?, last_error = NULL, last_error_at = NULL, "
    "alerted_error = NULL WHERE id = 1 AND status = 'connected'"
)
_POLLED = statement("UPDATE qbo_connection SET last_poll_at = ? WHERE id = 1")
_LOCK = statement("SELECT changed_since FROM qbo_connection WHERE id = 1", "FOR UPDATE")


@dataclass
class PollResult:
    summary: SyncSummary
    changed_since: datetime
    next_changed_since: datetime
    mode: str = "cdc"  # cdc | query
    pages: int = 0
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return self.summary.as_json() | {
            "changed_since": self.changed_since.isoformat(),
            "next_changed_since": self.next_changed_since.isoformat(),
            "mode": self.mode,
            "pages": self.pages,
            "notes": self.notes,
        }


def poll(db: Database, api: QBOApi, now: datetime | None = None) -> PollResult:
    """Read and apply everything QuickBooks changed since the watermark (see the module docstring)."""
    connection = api.connection
    with db.read() as unit:
        status = read_status(unit)
    if not status.connected:
        api.connection.access_token()  # raises the reason: not connected, or broken
        raise QBONotConnected()
    now = now or datetime.now(UTC)
    since = status.changed_since or now - CDC_LOOKBACK
    try:
        if since < now - CDC_LOOKBACK:
            return _by_queries(db, api, since, [_too_old(since)])
        return _by_cdc(db, api, since)
    except QuickBooksRefused as refused:
        if refused.says_too_old:
            return _by_queries(db, api, since, [_too_old(since)])
        connection.record_error(refused.message)
        raise
    except Exception as failed:
        message = getattr(failed, "message", None)
        if message:
            connection.record_error(message)
        raise


def _by_cdc(db: Database, api: QBOApi, since: datetime) -> PollResult:
    result = PollResult(SyncSummary(), since, since)
    window = since
    for _ in range(MAX_PAGES):
        document = api.cdc(CDC_ENTITIES, qbo_time(window))
        feed = parse_feed(document, "QuickBooks change data capture")
        answered_at = _time_of(document) or datetime.now(UTC)
        cut = _cut_short(document)
        upto = answered_at
        if cut:
            upto = min(cut.values())
            if upto <= window:  # one second holds a whole page: read that part with queries
                notes = [f"{', '.join(sorted(cut))}: over {CDC_PAGE_LIMIT} changes at {upto.isoformat()}"]
                queried = _by_queries(db, api, window, notes, types=tuple(sorted(cut)))
                _merge(result.summary, queried.summary)
                result.pages += queried.pages
                result.notes.extend(queried.notes)
                upto = queried.next_changed_since
                cut = {}
        summary = db.transact(_apply_page, feed.entities, window, upto)
        summary.other_entities = feed.other_entities
        _merge(result.summary, summary)
        result.pages += 1
        result.next_changed_since = window = upto
        if not cut:
            return result
        result.notes.append(
            f"{', '.join(sorted(cut))}: {CDC_PAGE_LIMIT} changes in one answer, so the window was split at "
            f"{upto.isoformat()} and read again from there"
        )
    raise AssertionError("more CDC pages than MAX_PAGES")


def _by_queries(
    db: Database, api: QBOApi, since: datetime, notes: list[str], types: tuple[str, ...] = QUERY_ORDER
) -> PollResult:
    """Every change since `since` by paged queries, applied with the watermark in one transaction."""
    entities: list[QBOEntity] = []
    started: datetime | None = None
    pages = 0
    for entity_type in types:
        position = 1
        while True:
            sql = (
                f"SELECT * FROM {entity_type} WHERE MetaData.LastUpdatedTime >= '{qbo_time(since)}' "
                f"ORDERBY MetaData.LastUpdatedTime STARTPOSITION {position} MAXRESULTS {QUERY_PAGE}"
            )
            document = api.query(sql, f"read QuickBooks {entity_type} changes with a query")
            started = started or _time_of(document) or datetime.now(UTC)
            entities.extend(parse_feed(document, f"QuickBooks query of {entity_type}").entities)
            pages += 1
            found = _count(document.get("QueryResponse"), entity_type)
            if found < QUERY_PAGE:
                break
            position += QUERY_PAGE
    upto = started or since
    summary = db.transact(_apply_page, entities, since, upto)
    notes = [*notes, f"read with {pages} paged queries instead of change data capture"]
    return PollResult(summary, since, upto, mode="query", pages=pages, notes=notes)


def _apply_page(unit: Unit, entities: list[QBOEntity], since: datetime, upto: datetime) -> SyncSummary:
    """One page and the watermark, together. The watermark never moves back (another poller may be ahead)."""
    current = unit.row(_LOCK)
    if current is None:
        raise QBONotConnected()
    summary = apply_entities(unit, entities)
    stored = unit.read_time(current[0])
    if stored is None or stored < upto:
        unit.execute(_ADVANCE, (unit.time(upto), unit.time(unit.now)))
    else:
        unit.execute(_POLLED, (unit.time(unit.now),))
    return summary


def qbo_time(moment: datetime) -> str:
    """A time as QuickBooks takes it: ISO 8601 with an offset, to the second (rounded down: a repeat is harmless)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def _time_of(document: dict[str, Any]) -> datetime | None:
    value = document.get("time")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _cut_short(document: dict[str, Any]) -> dict[str, datetime]:
    """Entity types with a full page in a CDC answer, each with its latest change time in that page."""
    cut: dict[str, datetime] = {}
    for page in document.get("CDCResponse") or []:
        for group in page.get("QueryResponse") or [] if isinstance(page, dict) else []:
            for entity_type in CDC_ENTITIES:
                listed = group.get(entity_type) if isinstance(group, dict) else None
                if isinstance(listed, list) and len(listed) >= CDC_PAGE_LIMIT:
                    times = [t for t in (_updated(raw) for raw in listed) if t is not None]
                    if times:
                        cut[entity_type] = max(times)
    return cut


def _updated(raw: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(raw["MetaData"]["LastUpdatedTime"])
    except (KeyError, TypeError, ValueError):
        return None
    return moment.astimezone(UTC)


def _count(group: Any, entity_type: str) -> int:
    listed = group.get(entity_type) if isinstance(group, dict) else None
    return len(listed) if isinstance(listed, list) else 0


def _too_old(since: datetime) -> str:
    return (
        f"the last poll reached {since.isoformat()}, more than 30 days ago, which QuickBooks' change data capture "
        "refuses"
    )


def _merge(total: SyncSummary, page: SyncSummary) -> None:
    total.entities += page.entities
    total.unchanged += page.unchanged
    total.stale += page.stale
    total.retried += page.retried
    total.credit_memos_seen += page.credit_memos_seen
    for name in ("invoices_posted", "drift", "payments_recorded", "payments_reversed", "overpayments", "deleted"):
        getattr(total, name).extend(getattr(page, name))
    known = {(p.entity_type, p.qbo_id, p.code) for p in total.problems}
    total.problems.extend(p for p in page.problems if (p.entity_type, p.qbo_id, p.code) not in known)
    for name, count in page.other_entities.items():
        total.other_entities[name] = total.other_entities.get(name, 0) + count
