"""The database side of posting each finding's alert exactly once (no Slack here; `bot.jobs.alerts` posts).

The protocol, with no transaction held across the network call:
1. `claim_alerts`: a short transaction moves up to `limit` pending alerts to "posting" under a fresh claim
   token. Rows are locked with SKIP LOCKED on PostgreSQL (SQLite serializes writers), so two concurrent
   posters claim disjoint batches and never post the same finding.
2. `mark_attempt` records the token as this batch's attempt just before the post, which carries the token in
   its message metadata.
3. The post, outside any transaction.
4. `record_posted` stores channel and ts for the rows still held by the claim; `release` puts them back to
   pending when Slack failed, for the next run.

The crash window: if a poster dies between a successful post and `record_posted`, its rows stay "posting".
After `LEASE` another run takes them over; because they carry an attempt token, it first looks for a message
with that token in the channel and, if found, records that message instead of posting again. If the channel
cannot be searched (missing scope, a channel name instead of an id) it posts again: a duplicate message is the
lesser harm than a lost alert about money counted twice. The lease is far longer than a post with all its
retries can take, so a slow poster is not mistaken for a dead one.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, or_, update
from sqlmodel import col, select

from ledger.db import Database
from ledger.scans.findings import StoredFinding
from ledger.scans.store import findings_by_id
from ledger.tables import AlertState, FindingState, ScanFinding, utcnow

LEASE = timedelta(minutes=15)
# Slack allows 50 blocks per message; a finding takes three, plus a header.
BATCH = 15


@dataclass(frozen=True)
class EarlierAttempt:
    """A post that may have reached Slack without its ts being recorded (a crash or an uncertain failure)."""

    token: str
    attempted_at: datetime
    finding_ids: list[int]


@dataclass(frozen=True)
class AlertBatch:
    claim: str
    findings: list[StoredFinding]
    earlier_attempts: list[EarlierAttempt] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [finding.id for finding in self.findings]


def new_claim() -> str:
    return uuid.uuid4().hex


def claim_alerts(
    db: Database, limit: int = BATCH, now: datetime | None = None, lease: timedelta = LEASE
) -> AlertBatch | None:
    """Claim up to `limit` alerts to post: pending ones, and ones whose poster died (claim older than the lease)."""
    now = now or utcnow()
    claim = new_claim()
    with db.write() as unit:
        session = unit.session
        claimable = or_(
            ScanFinding.alert_state == AlertState.PENDING.value,
            (ScanFinding.alert_state == AlertState.POSTING.value) & (col(ScanFinding.alert_claimed_at) < now - lease),
        )
        query = (
            select(ScanFinding.id, ScanFinding.alert_attempt, ScanFinding.alert_attempted_at)
            .where(ScanFinding.state == FindingState.OPEN.value, claimable)
            .order_by(col(ScanFinding.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = list(session.exec(query))
        if not rows:
            return None
        ids = [row[0] for row in rows]
        session.execute(
            update(ScanFinding)
            .where(col(ScanFinding.id).in_(ids))
            .values(alert_state=AlertState.POSTING.value, alert_claim=claim, alert_claimed_at=now)
        )
        findings = findings_by_id(unit, ids)
    return AlertBatch(claim, findings, _earlier_attempts(rows))


def _earlier_attempts(rows: list[tuple[int | None, str | None, datetime | None]]) -> list[EarlierAttempt]:
    by_token: dict[str, list[int]] = defaultdict(list)
    when: dict[str, datetime] = {}
    for finding_id, token, attempted_at in rows:
        if token is not None and finding_id is not None and attempted_at is not None:
            by_token[token].append(finding_id)
            when[token] = attempted_at
    return [EarlierAttempt(token, when[token], ids) for token, ids in by_token.items()]


def mark_attempt(db: Database, claim: str, ids: list[int], now: datetime | None = None) -> None:
    """Just before posting: these rows' alert may now exist in Slack under `claim`."""
    with db.write() as unit:
        session = unit.session
        session.execute(
            update(ScanFinding)
            .where(col(ScanFinding.id).in_(ids), ScanFinding.alert_claim == claim)
            .values(alert_attempt=claim, alert_attempted_at=now or utcnow())
        )


def record_posted(db: Database, claim: str, ids: list[int], channel: str, ts: str) -> int:
    """The post succeeded: keep where it is. Returns how many rows were still held by this claim."""
    with db.write() as unit:
        session = unit.session
        result = session.execute(
            update(ScanFinding)
            .where(col(ScanFinding.id).in_(ids), ScanFinding.alert_claim == claim)
            .values(
                alert_state=AlertState.POSTED.value,
                alert_channel=channel,
                alert_ts=ts,
                alert_claim=None,
                alert_attempt=None,
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def release(db: Database, claim: str) -> int:
    """The post failed: the alerts wait for the next run (or are skipped if the finding closed meanwhile)."""
    with db.write() as unit:
        session = unit.session
        result = session.execute(
            update(ScanFinding)
            .where(ScanFinding.alert_claim == claim)
            .values(
                alert_state=case(
                    (ScanFinding.state == FindingState.OPEN.value, AlertState.PENDING.value),
                    else_=AlertState.SKIPPED.value,
                ),
                alert_claim=None,
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
