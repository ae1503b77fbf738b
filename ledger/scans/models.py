"""Tables of the scans: findings (with their alert state), per-detector watermarks, scheduler slot claims.

Invariants the database keeps:
- At most one live (not closed) finding per fingerprint: a partial unique index. A finding that was fixed is
  closed; if the same problem comes back it is a new row (the next `occurrence`), so it is alerted again.
- A finding is alerted once: its alert moves pending -> posting (claimed by one poster, `alert_claim`) ->
  posted (with the Slack message ts). Claims are taken in short transactions; see `ledger.scans.alerting`.
- Each scheduled slot runs once: (job, slot) is unique in `scan_slot`, and the row is inserted before the run.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from ledger.models import BigId, utcnow


class FindingState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"  # still true in the ledger, but someone has seen it: never (re-)alerted
    CLOSED = "closed"  # no longer found by the scan (fixed)


class AlertState(enum.StrEnum):
    PENDING = "pending"  # stored, not yet in Slack (or the last attempt failed)
    POSTING = "posting"  # claimed by one poster; a claim older than the lease is taken over (crashed poster)
    POSTED = "posted"  # in the channel: alert_channel / alert_ts say where
    SKIPPED = "skipped"  # never posted: acknowledged or closed before it went out


class ScanFinding(SQLModel, table=True):
    __tablename__ = "scan_finding"
    __table_args__ = (
        UniqueConstraint("fingerprint", "occurrence", name="uq_scan_finding_occurrence"),
        Index(
            "ux_scan_finding_live",
            "fingerprint",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        # What an incremental scan re-evaluates: the live findings of one detector in the changed scopes.
        Index(
            "ix_scan_finding_live_scope",
            "kind",
            "scope",
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        # The open findings on given invoices, asked by every balance and invoice reply.
        Index(
            "ix_scan_finding_live_invoice",
            "invoice_number",
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index("ix_scan_finding_alert", "alert_state"),
        Index("ix_scan_finding_alert_ts", "alert_ts"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    # The problem's identity: kind and what it is about, e.g. "duplicate_credit:invoice=12:payments=4,5".
    fingerprint: str = Field(max_length=250)
    occurrence: int = Field(default=1)
    kind: str = Field(max_length=40)
    # The unit a detector evaluates ("invoice:12", "client:C1", "qb_payment:88"); see ledger.scans.detectors.
    scope: str = Field(max_length=120)
    invoice_id: int | None = Field(default=None, sa_column=Column(BigId, nullable=True))
    invoice_number: str | None = Field(default=None, max_length=64)
    client_id: str | None = Field(default=None, max_length=64)
    amount_minor: int | None = Field(default=None, sa_type=BigInteger)
    currency: str | None = Field(default=None, max_length=3)
    detail: str = Field(sa_column=Column(Text, nullable=False))
    payment_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    state: str = Field(default=FindingState.OPEN.value, max_length=16)
    first_seen: datetime = Field(default_factory=utcnow)
    changed_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None
    acknowledged_by: str | None = Field(default=None, max_length=120)
    acknowledged_at: datetime | None = None
    alert_state: str = Field(default=AlertState.PENDING.value, max_length=16)
    alert_claim: str | None = Field(default=None, max_length=64)
    alert_claimed_at: datetime | None = None
    # The claim token of the last post that may have reached Slack (sent as message metadata); the next
    # poster looks for it in the channel before posting again, so a crash after posting does not double-post.
    alert_attempt: str | None = Field(default=None, max_length=64)
    alert_attempted_at: datetime | None = None
    alert_channel: str | None = Field(default=None, max_length=64)
    alert_ts: str | None = Field(default=None, max_length=32)


class ScanWatermark(SQLModel, table=True):
    """How far one detector has read each source table (by id), and the settings its findings depend on."""

    __tablename__ = "scan_watermark"

    detector: str = Field(primary_key=True, max_length=40)
    positions: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # e.g. "v1 window=7": a change forces a full re-evaluation of that detector.
    config: str = Field(default="", max_length=120)
    # Bumped by every scan that stores this detector's findings; a scan whose evaluation started from an
    # older generation lost a race and starts over (optimistic concurrency, no lock held while evaluating).
    generation: int = Field(default=0, sa_type=BigInteger)
    scanned_at: datetime = Field(default_factory=utcnow)


class ScanSlot(SQLModel, table=True):
    """One scheduled run: inserted before the run starts, so a second instance firing the same slot skips it."""

    __tablename__ = "scan_slot"
    __table_args__ = (UniqueConstraint("job", "slot", name="uq_scan_slot_job_slot"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    job: str = Field(max_length=40)
    slot: datetime
    instance: str = Field(max_length=120)
    claimed_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    # running -> done | failed. A crashed run stays "running"; it blocks nothing, each slot is its own row.
    outcome: str = Field(default="running", max_length=16)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
