"""The findings store: what a scan found, kept per fingerprint, opened, updated and closed.

- A new fingerprint is stored with its alert pending, before anything is posted (so it cannot be lost).
- A live finding the scan no longer finds is closed; if it comes back it is a new occurrence with a new alert.
- Acknowledging records who and when; an acknowledged finding is never alerted (again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, any_, bindparam, func, insert, update
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col, select

from ledger.errors import LedgerError
from ledger.scans.findings import KIND_ORDER, Finding, FindingKind, StoredFinding
from ledger.tables import AlertState, Client, FindingState, ScanFinding
from ledger.unit import Unit, list_parameter

_CHUNK = 500


class UnknownFinding(LedgerError):
    code = "unknown_finding"

    def __init__(self, finding_id: object) -> None:
        super().__init__(f"There is no scan finding #{finding_id}. Run `/credit scan` to see the open findings.")


@dataclass(frozen=True)
class ReconcileCounts:
    opened: list[int]
    updated: int
    closed: int


@dataclass(frozen=True)
class Reconciliation:
    """What one detector found, and where it looked: the scopes it evaluated (None: everything)."""

    kind: FindingKind
    scopes: Sequence[str] | None
    found: Sequence[Finding]


def reconcile(session: Session, work: Sequence[Reconciliation], now: datetime) -> ReconcileCounts:
    """Make the live findings of each kind in its scopes (all of them when None) equal to what it found.

    All kinds are reconciled together, so a scan pays for one read of the live findings and one insert of the
    new ones, not one per detector: most incremental scans find little, and then these fixed costs dominate.
    """
    live = _live_rows(session, work)
    fresh: list[Finding] = []
    changed: list[dict[str, Any]] = []
    closed: list[int] = []
    for item in work:
        rows = {row.fingerprint: row for row in live.get(item.kind.value, ())}
        for finding in item.found:
            row = rows.pop(finding.fingerprint, None)
            if row is None:
                fresh.append(finding)
            elif _differs(row, finding):
                changed.append({**_values(finding), "changed_at": now, "row_id": row.id})
        closed.extend(row.id for row in rows.values())
    if changed:
        _connection(session).execute(_UPDATE, changed)
    _close(session, closed, now)
    return ReconcileCounts(opened=_open(session, fresh, now), updated=len(changed), closed=len(closed))


_TABLE = ScanFinding.__table__  # type: ignore[attr-defined]
_COMPARED = ("scope", "invoice_id", "invoice_number", "client_id", "amount_minor", "currency", "detail", "payment_ids")

# The statements are built once: SQLAlchemy then finds their compiled form in its cache instead of building and
# hashing a new statement per call. A list of scopes or fingerprints travels as one parameter (a JSON array on
# SQLite, an array on PostgreSQL) rather than one bound value each: a thousand changed invoices are a thousand
# scopes, and expanding them into placeholders cost more than the lookups themselves.
_COLUMNS = (_TABLE.c.id, _TABLE.c.kind, _TABLE.c.fingerprint, *(_TABLE.c[n] for n in _COMPARED))
_LIVE_OF_KINDS = select(*_COLUMNS).where(
    _TABLE.c.closed_at.is_(None), _TABLE.c.kind.in_(bindparam("kinds", expanding=True))
)


def _among(column: Any, name: str, sqlite: bool) -> Any:
    """`column` is one of the strings in the list parameter `name`."""
    if sqlite:
        each = func.json_each(bindparam(name)).table_valued("value")
        return column.in_(select(each.c.value))
    return column == any_(bindparam(name, type_=postgresql.ARRAY(String)))


def _for_dialects(build: Callable[[bool], Any]) -> dict[bool, Any]:
    """The statement for SQLite (True) and for PostgreSQL (False)."""
    return {sqlite: build(sqlite) for sqlite in (True, False)}


_LIVE_IN_SCOPES = _for_dialects(lambda sqlite: _LIVE_OF_KINDS.where(_among(_TABLE.c.scope, "scopes", sqlite)))
# Without .values(): the SET columns are the parameters' keys (the compared values and changed_at).
_UPDATE = update(_TABLE).where(_TABLE.c.id == bindparam("row_id"))
_NOW = bindparam("now", type_=_TABLE.c.closed_at.type)
_CLOSE = (
    update(_TABLE)
    .where(_TABLE.c.id.in_(bindparam("ids", expanding=True)))
    .values(state=FindingState.CLOSED.value, closed_at=_NOW, changed_at=_NOW)
)
_SKIP_ALERT = (
    update(_TABLE)
    .where(_TABLE.c.id.in_(bindparam("ids", expanding=True)), _TABLE.c.alert_state == AlertState.PENDING.value)
    .values(alert_state=AlertState.SKIPPED.value)
)
_LAST_OCCURRENCES = _for_dialects(
    lambda sqlite: (
        select(_TABLE.c.fingerprint, func.max(_TABLE.c.occurrence))
        .where(_among(_TABLE.c.fingerprint, "fingerprints", sqlite))
        .group_by(_TABLE.c.fingerprint)
    )
)
# The new rows' ids come back from the insert itself, not from a second read (in no set order: they are sorted).
_INSERT = insert(_TABLE).returning(_TABLE.c.id)


def _connection(session: Session) -> Connection:
    """The Session's connection: Core statements run there skip the ORM's per-statement work."""
    return session.connection()


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _live_rows(session: Session, work: Sequence[Reconciliation]) -> dict[str, list[Any]]:
    """The live findings' ids, kinds, fingerprints and compared values in the scopes of `work`, by kind.

    Plain rows (a full scan may hold thousands). Kinds evaluated in full are read whole in one query; the scoped
    kinds in one query over all their scopes at once, keeping only each kind's own scopes.
    """
    connection = _connection(session)
    by_kind: dict[str, list[Any]] = {}
    everything = [item.kind.value for item in work if item.scopes is None]
    if everything:
        for row in connection.execute(_LIVE_OF_KINDS, {"kinds": everything}):
            by_kind.setdefault(row.kind, []).append(row)
    wanted = {item.kind.value: set(item.scopes) for item in work if item.scopes}
    if wanted:
        names = sorted(set().union(*wanted.values()))
        statement = _LIVE_IN_SCOPES[_is_sqlite(connection)]
        for row in connection.execute(statement, {"kinds": sorted(wanted), "scopes": _listed(connection, names)}):
            if row.scope in wanted[row.kind]:
                by_kind.setdefault(row.kind, []).append(row)
    return by_kind


def _values(finding: Finding) -> dict[str, Any]:
    return {
        "scope": finding.scope,
        "invoice_id": finding.invoice_id,
        "invoice_number": finding.invoice_number,
        "client_id": finding.client_id,
        "amount_minor": finding.amount_minor,
        "currency": finding.currency,
        "detail": finding.detail,
        "payment_ids": list(finding.payment_ids),
    }


def _differs(row: Any, finding: Finding) -> bool:
    return any(getattr(row, name) != value for name, value in _values(finding).items())


def _open(session: Session, fresh: list[Finding], now: datetime) -> list[int]:
    if not fresh:
        return []
    connection = _connection(session)
    previous = _last_occurrences(connection, [finding.fingerprint for finding in fresh])
    rows = [
        {
            "fingerprint": finding.fingerprint,
            "occurrence": previous.get(finding.fingerprint, 0) + 1,
            "kind": finding.kind.value,
            **_values(finding),
            "state": FindingState.OPEN.value,
            "first_seen": now,
            "changed_at": now,
            "alert_state": AlertState.PENDING.value,
        }
        for finding in fresh
    ]
    return sorted(connection.execute(_INSERT, rows).scalars())


def _last_occurrences(connection: Connection, fingerprints: list[str]) -> dict[str, int]:
    statement = _LAST_OCCURRENCES[_is_sqlite(connection)]
    rows = connection.execute(statement, {"fingerprints": _listed(connection, fingerprints)})
    return {fingerprint: int(last) for fingerprint, last in rows}


def _is_sqlite(connection: Connection) -> bool:
    return connection.dialect.name == "sqlite"


def _listed(connection: Connection, values: list[str]) -> Any:
    """A list of strings as the one parameter `_among` reads."""
    return list_parameter(values, _is_sqlite(connection))


def _close(session: Session, ids: list[int], now: datetime) -> None:
    for chunk in _chunks(ids):
        _connection(session).execute(_CLOSE, {"ids": list(chunk), "now": now})
        # An alert not yet out is not worth posting any more: the problem is gone.
        _connection(session).execute(_SKIP_ALERT, {"ids": list(chunk)})


# --- reads ----------------------------------------------------------------------------------------------


def open_findings(unit: Unit) -> list[StoredFinding]:
    """Every live finding (open or acknowledged), money counted twice first, then oldest first."""
    return _stored(unit.session, col(ScanFinding.closed_at).is_(None))


def findings_by_id(unit: Unit, ids: Iterable[int]) -> list[StoredFinding]:
    wanted = sorted(set(ids))
    return _stored(unit.session, col(ScanFinding.id).in_(wanted)) if wanted else []


def findings_of_message(unit: Unit, channel: str, ts: str) -> list[StoredFinding]:
    """The findings one alert message carries, to redraw it after a button was used."""
    return _stored(unit.session, ScanFinding.alert_channel == channel, ScanFinding.alert_ts == ts)


def get_finding(unit: Unit, finding_id: int) -> StoredFinding:
    found = findings_by_id(unit, [finding_id])
    if not found:
        raise UnknownFinding(finding_id)
    return found[0]


def _stored(session: Session, *conditions: Any) -> list[StoredFinding]:
    query = (
        select(ScanFinding, Client.name)
        .join(Client, col(Client.id) == ScanFinding.client_id, isouter=True)
        .where(*conditions)
    )
    findings = [_as_stored(row, name) for row, name in session.exec(query)]
    return sorted(findings, key=lambda f: (KIND_ORDER[f.kind], f.first_seen, f.id))


def _as_stored(row: ScanFinding, client_name: str | None) -> StoredFinding:
    assert row.id is not None
    return StoredFinding(
        id=row.id,
        kind=FindingKind(row.kind),
        fingerprint=row.fingerprint,
        occurrence=row.occurrence,
        invoice_id=row.invoice_id,
        invoice_number=row.invoice_number,
        client_id=row.client_id,
        client_name=client_name,
        amount_minor=row.amount_minor,
        currency=row.currency,
        detail=row.detail,
        payment_ids=tuple(row.payment_ids or ()),
        state=row.state,
        first_seen=row.first_seen,
        closed_at=row.closed_at,
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
        alert_state=row.alert_state,
        alert_channel=row.alert_channel,
        alert_ts=row.alert_ts,
    )


# --- acknowledging --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AcknowledgeResult:
    finding: StoredFinding
    # False when someone had already acknowledged it (a double click, or two people): the first one is kept.
    newly_acknowledged: bool


def acknowledge(unit: Unit, finding_id: int, actor: str) -> AcknowledgeResult:
    """Record who acknowledged a finding; it stays listed while it is true, but is never alerted again."""
    session = unit.session
    row = session.exec(select(ScanFinding).where(ScanFinding.id == int(finding_id)).with_for_update()).one_or_none()
    if row is None:
        raise UnknownFinding(finding_id)
    newly = row.acknowledged_by is None
    if newly:
        row.acknowledged_by, row.acknowledged_at = actor, unit.now
        if row.state == FindingState.OPEN.value:
            row.state = FindingState.ACKNOWLEDGED.value
        if row.alert_state == AlertState.PENDING.value:
            row.alert_state = AlertState.SKIPPED.value
        session.add(row)
        session.flush()
    return AcknowledgeResult(get_finding(unit, int(finding_id)), newly)
