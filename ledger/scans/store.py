"""The findings store: what a scan found, kept per fingerprint, opened, updated and closed.

- A new fingerprint is stored with its alert pending, before anything is posted (so it cannot be lost).
- A live finding the scan no longer finds is closed; if it comes back it is a new occurrence with a new alert.
- Acknowledging records who and when; an acknowledged finding is never alerted (again).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, update
from sqlmodel import Session, col, select

from ledger.errors import LedgerError
from ledger.scans.driver import Driver, Spelt, spelt
from ledger.scans.findings import KIND_ORDER, Finding, FindingKind, StoredFinding
from ledger.tables import AlertState, Client, FindingState, ScanFinding
from ledger.unit import Unit, read_json

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
    The statements run on the driver's cursor, in the session's transaction (`ledger.scans.driver`).
    """
    driver = Driver(session)
    live = _live_rows(driver, work)
    fresh: list[Finding] = []
    changed: list[tuple[Any, ...]] = []
    closed: list[int] = []
    for item in work:
        rows = {row[_FINGERPRINT]: row for row in live.get(item.kind.value, ())}
        for finding in item.found:
            row = rows.pop(finding.fingerprint, None)
            values = _compared(finding)
            if row is None:
                fresh.append(finding)
            elif row[_FIRST_COMPARED:] != values:
                changed.append((*_parameters(driver, values), driver.time(now), row[_ID]))
        closed.extend(row[_ID] for row in rows.values())
    if changed:
        driver.executemany(_UPDATE_SQL, changed)
    _close(session, closed, now)
    return ReconcileCounts(opened=_open(driver, fresh, now), updated=len(changed), closed=len(closed))


_TABLE = ScanFinding.__table__  # type: ignore[attr-defined]
_COMPARED = ("scope", "invoice_id", "invoice_number", "client_id", "amount_minor", "currency", "detail", "payment_ids")
# A live row as read: id, kind, fingerprint, then the compared values in `_COMPARED`'s order.
_ID, _KIND, _FINGERPRINT, _FIRST_COMPARED = 0, 1, 2, 3


_LIVE_COLUMNS = f"SELECT id, kind, fingerprint, {', '.join(_COMPARED)} FROM scan_finding WHERE closed_at IS NULL"


@lru_cache(maxsize=8)
def _live_sql(scope_lists: int) -> Spelt:
    """The live findings of the kinds evaluated in full, and of each group of scoped kinds in the group's scopes
    (kinds that evaluated the same scopes, e.g. the invoice detectors), in one statement. Grouped, each kind is
    looked up only in its own scopes (the index is by kind and scope): not in the client scopes of another."""
    parts = [f"{_LIVE_COLUMNS} AND kind IN (SELECT value FROM json_each(?))"]
    scoped = (
        f"{_LIVE_COLUMNS} AND kind IN (SELECT value FROM json_each(?)) AND scope IN (SELECT value FROM json_each(?))"
    )
    return spelt(" UNION ALL ".join(parts + [scoped] * scope_lists))


_UPDATE_SQL = spelt(
    f"UPDATE scan_finding SET {', '.join(f'{name} = ?' for name in _COMPARED[:-1])}, payment_ids = ? /* json */, "
    "changed_at = ? WHERE id = ?"
)
# A new occurrence of a fingerprint: the one after its last (closed) occurrence, counted in the same statement.
_NEW_COLUMNS = ("fingerprint", "kind", *_COMPARED, "state", "first_seen", "changed_at", "alert_state")
_INSERT_SQL = spelt(
    f"INSERT INTO scan_finding (occurrence, {', '.join(_NEW_COLUMNS)}) VALUES ("
    "(SELECT COALESCE(MAX(occurrence), 0) + 1 FROM scan_finding WHERE fingerprint = ?), "
    "?, ?, ?, ?, ?, ?, ?, ?, ?, ? /* json */, ?, ?, ?, ?)"
)
# The new rows' ids: a fingerprint has one live row at most (ux_scan_finding_live).
_NEW_IDS_SQL = spelt(
    "SELECT id FROM scan_finding WHERE closed_at IS NULL AND fingerprint IN (SELECT value FROM json_each(?))"
)


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


def _connection(session: Session) -> Connection:
    """The Session's connection: Core statements run there skip the ORM's per-statement work."""
    return session.connection()


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _live_rows(driver: Driver, work: Sequence[Reconciliation]) -> dict[str, list[tuple[Any, ...]]]:
    """The live findings' ids, kinds, fingerprints and compared values in the scopes of `work`, by kind.

    Kinds evaluated in full are read whole, the scoped kinds in their own scopes, all in one statement.
    """
    everything = [item.kind.value for item in work if item.scopes is None]
    # Kinds that evaluated the same scopes share one list of them (the scanner's invoice detectors do).
    groups: dict[int, tuple[Sequence[str], list[str]]] = {}
    for item in work:
        if item.scopes:
            groups.setdefault(id(item.scopes), (item.scopes, []))[1].append(item.kind.value)
    if not everything and not groups:
        return {}
    params = [driver.listed(everything)]
    for scopes, kinds in groups.values():
        params += [driver.listed(kinds), driver.listed(scopes)]
    by_kind: dict[str, list[tuple[Any, ...]]] = {}
    for row in driver.rows(_live_sql(len(groups)), params):
        by_kind.setdefault(row[_KIND], []).append(_read(row))
    return by_kind


def _compared(finding: Finding) -> tuple[Any, ...]:
    """What a stored finding keeps of it, in `_COMPARED`'s order."""
    return (
        finding.scope,
        finding.invoice_id,
        finding.invoice_number,
        finding.client_id,
        finding.amount_minor,
        finding.currency,
        finding.detail,
        tuple(finding.payment_ids),
    )


def _parameters(driver: Driver, values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Compared values as parameters: the payment ids (the last) as JSON."""
    return (*values[:-1], driver.json(list(values[-1])))


def _read(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A live row as `_compared` spells a finding: the payment ids as a tuple."""
    return (*row[:-1], tuple(read_json(row[-1]) or ()))


def _open(driver: Driver, fresh: list[Finding], now: datetime) -> list[int]:
    if not fresh:
        return []
    at = driver.time(now)
    rows = [
        (
            finding.fingerprint,
            finding.fingerprint,
            finding.kind.value,
            *_parameters(driver, _compared(finding)),
            FindingState.OPEN.value,
            at,
            at,
            AlertState.PENDING.value,
        )
        for finding in fresh
    ]
    driver.executemany(_INSERT_SQL, rows)
    new = driver.rows(_NEW_IDS_SQL, [driver.listed([finding.fingerprint for finding in fresh])])
    return sorted(int(row[0]) for row in new)


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
