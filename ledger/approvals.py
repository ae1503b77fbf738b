"""Writes that need a second billing admin, and the requests that wait for one.

The rule lives here, in the ledger, and every write that moves money checks it inside its own unit of work, so no
front end (Slack, the console, the command line, buttons, approvals) can go around it:
- Gated writes: issuing credit, applying it, and their undo (taking an issued credit back, reversing an application),
  and moving an application, transferring credit between clients, refunding it, writing it off, undoing a
  write-off and applying credit over all open invoices (`GATED`).
- A write needs approval when the client's writes of that kind in the last 24 hours that nobody approved, plus this
  one, come to more than the threshold for the client's currency (`CREDITBOT_APPROVAL_THRESHOLD`, e.g.
  `USD:1000,EUR:900,JPY:150000`; a bare number applies to every currency, in the client's own). The sum is what
  stops five credits just under the threshold from passing where one would not; it is read after the client's
  wallet is locked, so two concurrent writes cannot both count on the same room.
- A write that names who approved it (`approved_by`: an approval request carried out, or the command line's
  `--approved-by`) passes, and the history says who approved it. Nothing is bypassed silently.
A write that needs approval raises `ApprovalRequired` before it writes anything; the front end then opens a request.

Requests (`pending_approval`), kept by the database and by a row lock on the request:
- A request is opened once per request key (unique `request_key`): a retried request returns the same request.
- It is decided once: pending -> approved | rejected | cancelled, under a row lock, so two people clicking at the
  same moment get one decision and one "already decided".
- The requester cannot approve their own request (they may reject it, which withdraws it).
- Carrying out an approved request uses the idempotency key `approval:<id>`, so however often the approval is
  replayed (a double click, a crash between the decision and the write) the write happens exactly once.
Each step leaves a line in the history. Nothing here knows about Slack: requester and decider are actor strings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ledger import history
from ledger.errors import (
    ApprovalAlreadyDecided,
    ApprovalRequired,
    IdempotencyConflict,
    SelfApproval,
    UnknownApprovalRequest,
)
from ledger.money import format_money
from ledger.tables import APPROVED, CANCELLED, FAILED, PENDING, REJECTED
from ledger.unit import Unit, statement

__all__ = ["APPROVED", "CANCELLED", "FAILED", "PENDING", "REJECTED"]

ISSUE, APPLY, REVOKE, REVERSE = "issue_credit", "apply_credit", "revoke_credit", "reverse_application"
# Issue 17's operations (ledger/credit_ops): the undo of a move is a move, of a transfer a transfer, of a
# write-off a reinstatement; a refund has no undo (the money has left).
MOVE, TRANSFER, REFUND, WRITE_OFF = "move_application", "transfer_credit", "refund_credit", "write_off_credit"
REINSTATE, APPLY_ALL = "reinstate_write_off", "apply_all"
GATED = frozenset({ISSUE, APPLY, REVOKE, REVERSE, MOVE, TRANSFER, REFUND, WRITE_OFF, REINSTATE, APPLY_ALL})
WINDOW = timedelta(hours=24)
APPROVAL_KEY_PREFIX = "approval:"


@dataclass(frozen=True)
class WriteRequest:
    """Who asks for a write, the request's idempotency key, and who approved it (None: nobody yet)."""

    actor: str
    key: str
    approved_by: str | None = None


_USED = statement(
    "SELECT COALESCE(SUM(amount_minor), 0) FROM approval_usage WHERE client_id = ? AND action = ? AND at > ?"
)
_USE = statement("INSERT INTO approval_usage (client_id, action, amount_minor, at, actor) VALUES (?, ?, ?, ?, ?)")


def check(
    unit: Unit, by: WriteRequest, action: str, client_id: str, currency: str, amount_minor: int,
    params: dict[str, Any], what: str,
) -> str:  # fmt: skip
    """Refuse (ApprovalRequired) a gated write that needs a second admin; else count it. Call with the wallet locked.

    `params` carry the write out again once approved; `what` says it in words. Returns the words the write's
    history line adds ("request #3, approved by ...", or nothing)."""
    return check_described(unit, by, action, client_id, currency, amount_minor, lambda: (params, what))


def check_described(
    unit: Unit, by: WriteRequest, action: str, client_id: str, currency: str, amount_minor: int,
    describe: Callable[[], tuple[dict[str, Any], str]],
) -> str:  # fmt: skip
    """`check`, with the parameters and the words made by `describe` only for a write that needs approval: most do
    not, and an apply's words (its amount as money, the client's name) cost as much as the rest of its rule."""
    if by.approved_by is not None:
        request = by.key.removeprefix(APPROVAL_KEY_PREFIX)
        on = f"request #{request}, " if by.key.startswith(APPROVAL_KEY_PREFIX) else ""
        return f"{on}approved by {by.approved_by}"
    threshold = unit.rules.approval.threshold_minor(currency)
    if threshold is None:
        return ""
    used = int(unit.one(_USED, (client_id, action, unit.time(unit.now - WINDOW)))[0])
    if used + amount_minor > threshold:
        params, what = describe()
        raise ApprovalRequired(
            action, params, client_id, what, format_money(amount_minor, currency), format_money(threshold, currency),
            format_money(used, currency) if used else None,
        )  # fmt: skip
    unit.execute(_USE, (client_id, action, amount_minor, unit.time(unit.now), by.actor))
    return ""


# --- requests waiting for approval --------------------------------------------------------------------


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
        return f"{APPROVAL_KEY_PREFIX}{self.id}"


@dataclass(frozen=True)
class Opened:
    request: ApprovalRequest
    replayed: bool


@dataclass(frozen=True)
class Decided:
    request: ApprovalRequest
    # False when the request was already approved (a replay): carry it out again, idempotently, to be sure.
    newly_decided: bool


_COLUMNS = "id, action, params, client_id, requester, status, decided_by, decided_at, result"
_BY_KEY = statement(f"SELECT {_COLUMNS}, request_key FROM pending_approval WHERE request_key = ?")
_BY_ID = statement(f"SELECT {_COLUMNS} FROM pending_approval WHERE id = ?")
_LOCK = statement(f"SELECT {_COLUMNS} FROM pending_approval WHERE id = ?", "FOR UPDATE")
_INSERT = statement(
    "INSERT INTO pending_approval (request_key, action, params, client_id, requester, status, created_at) "
    f"VALUES (?, ?, ?, ?, ?, '{PENDING}', ?) RETURNING id"
)
_DECIDE = statement("UPDATE pending_approval SET status = ?, decided_by = ?, decided_at = ? WHERE id = ?")
_RESULT = statement("UPDATE pending_approval SET result = ?, status = ? WHERE id = ?")
_PENDING = statement(f"SELECT {_COLUMNS} FROM pending_approval WHERE status = '{PENDING}' ORDER BY id LIMIT ?")


def open_request(
    unit: Unit, action: str, params: dict[str, Any], requester: str, key: str, client_id: str | None = None
) -> Opened:
    """Store a request for approval; the same key returns the first request (other parameters: a conflict)."""
    existing = unit.row(_BY_KEY, (key,))
    if existing is not None:
        request = _request(unit, existing[:-1])
        if request.action != action or request.params != params:
            raise IdempotencyConflict(key)
        return Opened(request, replayed=True)
    request_id = unit.one(_INSERT, (key, action, unit.json(params), client_id, requester, unit.time(unit.now)))[0]
    request = _request(unit, unit.one(_BY_ID, (request_id,)))
    _record(unit, requester, action, "pending_approval", request, f"waiting for approval: {_describe(params)}")
    return Opened(request, replayed=False)


def decide(unit: Unit, request_id: int, decider: str, approve: bool) -> Decided:
    """Approve or reject a pending request. Approving an approved request again is a replay, not an error."""
    request = _lock(unit, request_id)
    if approve and decider == request.requester:
        raise SelfApproval(request.id)
    if approve and request.status == APPROVED:
        return Decided(request, newly_decided=False)
    if request.status != PENDING:
        raise ApprovalAlreadyDecided(request.id, request.status, request.decided_by, request.decided_at)
    status = APPROVED if approve else REJECTED
    unit.execute(_DECIDE, (status, decider, unit.time(unit.now), request.id))
    verb = "approve" if approve else "reject"
    decided = _lock(unit, request.id)
    _record(unit, decider, f"{verb}_request", "done", decided, f"{verb}d request #{request.id} by {request.requester}")
    return Decided(decided, newly_decided=True)


def record_result(unit: Unit, request_id: int, result: dict[str, Any]) -> ApprovalRequest:
    """Keep what carrying out an approved request gave; a ledger refusal marks the request failed."""
    request = _lock(unit, request_id)
    status = FAILED if "error" in result and request.status == APPROVED else request.status
    unit.execute(_RESULT, (unit.json(result), status, request.id))
    return _lock(unit, request.id)


def cancel(unit: Unit, request_id: int, actor: str, why: str) -> ApprovalRequest:
    """Withdraw a pending request that could not be put in front of an approver; a decided one stays as it is."""
    request = _lock(unit, request_id)
    if request.status != PENDING:
        return request
    unit.execute(_DECIDE, (CANCELLED, actor, unit.time(unit.now), request.id))
    cancelled = _lock(unit, request.id)
    _record(unit, actor, "cancel_request", "done", cancelled, why)
    return cancelled


def get_request(unit: Unit, request_id: int) -> ApprovalRequest:
    row = unit.row(_BY_ID, (int(request_id),))
    if row is None:
        raise UnknownApprovalRequest(request_id)
    return _request(unit, row)


def pending_requests(unit: Unit, limit: int = 20) -> list[ApprovalRequest]:
    """The oldest requests still waiting for a decision."""
    return [_request(unit, row) for row in unit.rows(_PENDING, (limit,))]


def _lock(unit: Unit, request_id: int) -> ApprovalRequest:
    row = unit.row(_LOCK, (int(request_id),))
    if row is None:
        raise UnknownApprovalRequest(request_id)
    return _request(unit, row)


def _request(unit: Unit, row: tuple[Any, ...]) -> ApprovalRequest:
    request_id, action, params, client_id, requester, status, decided_by, decided_at, result = row
    return ApprovalRequest(
        id=request_id,
        action=action,
        params=dict(unit.read_json(params)),
        client_id=client_id,
        requester=requester,
        status=status,
        decided_by=decided_by,
        decided_at=unit.read_time(decided_at),
        result=unit.read_json(result),
    )


def _record(unit: Unit, actor: str, action: str, outcome: str, request: ApprovalRequest, detail: str) -> None:
    line = history.Line(actor, action, client_id=request.client_id, subject=f"approval:{request.id}", detail=detail)
    history.record(unit, replace(line, outcome=outcome))


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in params.items() if value is not None)
