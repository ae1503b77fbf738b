"""The findings store: what a scan found, kept per fingerprint, opened, updated and closed.

- A new fingerprint is stored with its alert pending, before anything is posted (so it cannot be lost).
- A live finding the scan no longer finds is closed; if it comes back it is a new occurrence with a new alert.
- Acknowledging records who and when; an acknowledged finding is never alerted (again).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, select

from ledger.db import Database
from ledger.errors import LedgerError
from ledger.models import Client, utcnow
from ledger.scans.findings import KIND_ORDER, Finding, FindingKind, StoredFinding
from ledger.scans.models import AlertState, FindingState, ScanFinding

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


def reconcile(
    session: Session, kind: FindingKind, scopes: Sequence[str] | None, found: Iterable[Finding], now: datetime
) -> ReconcileCounts:
    """Make the live findings of `kind` in `scopes` (all of them when None) equal to `found`."""
    live = {row.fingerprint: row for row in _live_rows(session, kind, scopes)}
    fresh: list[Finding] = []
    updated = 0
    for finding in found:
        row = live.pop(finding.fingerprint, None)
        if row is None:
            fresh.append(finding)
        elif _differs(row, finding):
            values = {**_values(finding), "changed_at": now}
            session.execute(update(_TABLE).where(_TABLE.c.id == row.id).values(**values))
            updated += 1
    closed = [row.id for row in live.values()]
    _close(session, closed, now)
    return ReconcileCounts(opened=_open(session, fresh, now), updated=updated, closed=len(closed))


_TABLE = ScanFinding.__table__  # type: ignore[attr-defined]
_COMPARED = ("scope", "invoice_id", "invoice_number", "client_id", "amount_minor", "currency", "detail", "payment_ids")


def _live_rows(session: Session, kind: FindingKind, scopes: Sequence[str] | None) -> list[Any]:
    """The live findings' ids, fingerprints and compared values (plain rows: a full scan may hold thousands)."""
    query = select(_TABLE.c.id, _TABLE.c.fingerprint, *(_TABLE.c[name] for name in _COMPARED)).where(
        _TABLE.c.kind == kind.value, _TABLE.c.closed_at.is_(None)
    )
    if scopes is None:
        return list(session.execute(query))
    rows: list[Any] = []
    ordered = sorted(scopes)
    for start in range(0, len(ordered), _CHUNK):
        rows.extend(session.execute(query.where(_TABLE.c.scope.in_(ordered[start : start + _CHUNK]))))
    return rows


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
    previous = _last_occurrences(session, [finding.fingerprint for finding in fresh])
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
    session.execute(insert(_TABLE), rows)
    opened: list[int] = []
    fingerprints = sorted(finding.fingerprint for finding in fresh)
    for start in range(0, len(fingerprints), _CHUNK):
        live = select(_TABLE.c.id).where(
            _TABLE.c.fingerprint.in_(fingerprints[start : start + _CHUNK]), _TABLE.c.closed_at.is_(None)
        )
        opened.extend(session.execute(live).scalars())
    return sorted(opened)


def _last_occurrences(session: Session, fingerprints: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(fingerprints), _CHUNK):
        chunk = fingerprints[start : start + _CHUNK]
        query = (
            select(_TABLE.c.fingerprint, func.max(_TABLE.c.occurrence))
            .where(_TABLE.c.fingerprint.in_(chunk))
            .group_by(_TABLE.c.fingerprint)
        )
        found.update({fingerprint: int(last) for fingerprint, last in session.execute(query)})
    return found


def _close(session: Session, ids: list[int], now: datetime) -> None:
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        session.execute(
            update(_TABLE)
            .where(_TABLE.c.id.in_(chunk))
            .values(state=FindingState.CLOSED.value, closed_at=now, changed_at=now)
        )
        # An alert not yet out is not worth posting any more: the problem is gone.
        session.execute(
            update(_TABLE)
            .where(_TABLE.c.id.in_(chunk), _TABLE.c.alert_state == AlertState.PENDING.value)
            .values(alert_state=AlertState.SKIPPED.value)
        )


# --- reads ----------------------------------------------------------------------------------------------


def open_findings(session: Session) -> list[StoredFinding]:
    """Every live finding (open or acknowledged), money counted twice first, then oldest first."""
    return _stored(session, col(ScanFinding.closed_at).is_(None))


def findings_by_id(session: Session, ids: Iterable[int]) -> list[StoredFinding]:
    wanted = sorted(set(ids))
    return _stored(session, col(ScanFinding.id).in_(wanted)) if wanted else []


def findings_of_message(session: Session, channel: str, ts: str) -> list[StoredFinding]:
    """The findings one alert message carries, to redraw it after a button was used."""
    return _stored(session, ScanFinding.alert_channel == channel, ScanFinding.alert_ts == ts)


def get_finding(session: Session, finding_id: int) -> StoredFinding:
    found = findings_by_id(session, [finding_id])
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


def acknowledge(db: Database, finding_id: int, actor: str, now: datetime | None = None) -> AcknowledgeResult:
    """Record who acknowledged a finding; it stays listed while it is true, but is never alerted again."""
    with db.write() as session:
        row = session.exec(select(ScanFinding).where(ScanFinding.id == int(finding_id)).with_for_update()).one_or_none()
        if row is None:
            raise UnknownFinding(finding_id)
        newly = row.acknowledged_by is None
        if newly:
            row.acknowledged_by, row.acknowledged_at = actor, now or utcnow()
            if row.state == FindingState.OPEN.value:
                row.state = FindingState.ACKNOWLEDGED.value
            if row.alert_state == AlertState.PENDING.value:
                row.alert_state = AlertState.SKIPPED.value
            session.add(row)
            session.flush()
        return AcknowledgeResult(get_finding(session, int(finding_id)), newly)
