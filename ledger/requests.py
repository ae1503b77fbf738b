"""Writes that wait for a second person: a pending request, then one decision, then the write, exactly once.

A request above the approval threshold is stored here instead of being carried out. Invariants, kept by the
database and by a row lock on the request:
- A request is opened once per request key (unique `request_key`): a retried request returns the same request.
- It is decided once: pending -> approved | rejected | cancelled, under a row lock, so two people clicking at the
  same moment get one decision and one "already decided".
- The requester cannot approve their own request (they may reject it, which withdraws it).
- Carrying out an approved request uses the idempotency key `approval:<id>`, so however often the approval is
  replayed (a double click, a crash between the decision and the write) the write happens exactly once.
Each step leaves a line in the history. Nothing here knows about Slack: requester and decider are actor strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, select

from ledger.db import Database
from ledger.errors import ApprovalAlreadyDecided, IdempotencyConflict, SelfApproval, UnknownApprovalRequest
from ledger.models import BigId, HistoryEntry, utcnow

PENDING, APPROVED, REJECTED, CANCELLED, FAILED = "pending", "approved", "rejected", "cancelled", "failed"


class PendingApproval(SQLModel, table=True):
    """A write asked for by one person that needs a second one's approval (e.g. a large credit)."""

    __tablename__ = "pending_approval"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    request_key: str = Field(max_length=200, unique=True)
    action: str = Field(max_length=40)
    params: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    client_id: str | None = Field(default=None, max_length=64, index=True)
    requester: str = Field(max_length=120)
    status: str = Field(default=PENDING, max_length=16)
    decided_by: str | None = Field(default=None, max_length=120)
    decided_at: datetime | None = None
    # What carrying it out gave: e.g. {"credit_id": 12}, or {"error": {"code", "message"}} when the ledger refused.
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


@dataclass(frozen=True)
class ApprovalRequest:
    id: int
    action: str
    params: dict[str, Any]
    client_id: str | None
    requester: str
    status: str
    decided_by: str | None
    decided_at: datetime | None
    result: dict[str, Any] | None

    @property
    def execution_key(self) -> str:
        """The idempotency key of the write this request stands for: one write per request, ever."""
        return f"approval:{self.id}"


@dataclass(frozen=True)
class Opened:
    request: ApprovalRequest
    replayed: bool


@dataclass(frozen=True)
class Decided:
    request: ApprovalRequest
    # False when the request was already approved (a replay): carry it out again, idempotently, to be sure.
    newly_decided: bool


def open_request(
    db: Database, action: str, params: dict[str, Any], requester: str, key: str, client_id: str | None = None
) -> Opened:
    """Store a request for approval; the same key returns the first request (other parameters: a conflict)."""
    with db.write() as session:
        existing = session.exec(select(PendingApproval).where(PendingApproval.request_key == key)).first()
        if existing is not None:
            if existing.action != action or existing.params != params:
                raise IdempotencyConflict(key)
            return Opened(_snapshot(existing), replayed=True)
        row = PendingApproval(request_key=key, action=action, params=params, client_id=client_id, requester=requester)
        session.add(row)
        session.flush()
        _record(session, requester, action, "pending_approval", row, f"waiting for approval: {_describe(params)}")
        return Opened(_snapshot(row), replayed=False)


def decide(db: Database, request_id: int, decider: str, approve: bool) -> Decided:
    """Approve or reject a pending request. Approving an approved request again is a replay, not an error."""
    with db.write() as session:
        row = _lock(session, request_id)
        if approve and decider == row.requester:
            raise SelfApproval(_id(row))
        if approve and row.status == APPROVED:
            return Decided(_snapshot(row), newly_decided=False)
        if row.status != PENDING:
            raise ApprovalAlreadyDecided(_id(row), row.status, row.decided_by, row.decided_at)
        row.status = APPROVED if approve else REJECTED
        row.decided_by, row.decided_at = decider, utcnow()
        session.add(row)
        verb = "approve" if approve else "reject"
        _record(session, decider, f"{verb}_request", "done", row, f"{verb}d request #{row.id} by {row.requester}")
        return Decided(_snapshot(row), newly_decided=True)


def record_result(db: Database, request_id: int, result: dict[str, Any]) -> ApprovalRequest:
    """Keep what carrying out an approved request gave; a ledger refusal marks the request failed."""
    with db.write() as session:
        row = _lock(session, request_id)
        row.result = result
        if "error" in result and row.status == APPROVED:
            row.status = FAILED
        session.add(row)
        return _snapshot(row)


def cancel(db: Database, request_id: int, actor: str, why: str) -> ApprovalRequest:
    """Withdraw a pending request that could not be put in front of an approver; a decided one stays as it is."""
    with db.write() as session:
        row = _lock(session, request_id)
        if row.status == PENDING:
            row.status, row.decided_by, row.decided_at = CANCELLED, actor, utcnow()
            session.add(row)
            _record(session, actor, "cancel_request", "done", row, why)
        return _snapshot(row)


def get_request(db: Database, request_id: int) -> ApprovalRequest:
    with db.read() as session:
        row = session.get(PendingApproval, int(request_id))
        if row is None:
            raise UnknownApprovalRequest(request_id)
        return _snapshot(row)


def _lock(session: Session, request_id: int) -> PendingApproval:
    statement = select(PendingApproval).where(PendingApproval.id == int(request_id)).with_for_update()
    row = session.exec(statement.execution_options(populate_existing=True)).first()
    if row is None:
        raise UnknownApprovalRequest(request_id)
    return row


def _record(session: Session, actor: str, action: str, outcome: str, row: PendingApproval, detail: str) -> None:
    session.add(
        HistoryEntry(
            actor=actor,
            action=action,
            outcome=outcome,
            client_id=row.client_id,
            subject=f"approval:{row.id}",
            detail=detail,
        )
    )


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in params.items())


def _snapshot(row: PendingApproval) -> ApprovalRequest:
    return ApprovalRequest(
        id=_id(row),
        action=row.action,
        params=dict(row.params),
        client_id=row.client_id,
        requester=row.requester,
        status=row.status,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        result=row.result,
    )


def _id(row: PendingApproval) -> int:
    assert row.id is not None, "the row was flushed, so it has an id"
    return row.id
