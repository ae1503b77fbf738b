"""Idempotent writes: a key names one request; its first result is kept in the same transaction.

Same key and same parameters: the stored result comes back and nothing is written. Same key with other
parameters: IdempotencyConflict (as Stripe does), because silently answering with another request's result
would hide a mistake. Callers check the key only after taking their row locks, so two concurrent requests
with one key are serialized and the second sees the first's row.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlmodel import Session

from ledger.driver import DriverWrite, statement
from ledger.errors import IdempotencyConflict
from ledger.models import IdempotencyKey, utcnow


def request_hash(operation: str, params: dict[str, Any]) -> str:
    canonical = json.dumps({"operation": operation, **params}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


_KEYS = IdempotencyKey.__table__  # type: ignore[attr-defined]
_FIND = select(_KEYS.c.operation, _KEYS.c.request_hash, _KEYS.c.result).where(_KEYS.c.key == bindparam("key"))
_REMEMBER = insert(_KEYS)


def stored_result(session: Session, key: str, operation: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The first result for `key`, or None when the key is new."""
    row = session.execute(_FIND, {"key": key}).first()
    return None if row is None else _first_result(key, operation, params, *row)


def remember(session: Session, key: str, operation: str, params: dict[str, Any], result: dict[str, Any]) -> None:
    values = {"key": key, "operation": operation, "request_hash": request_hash(operation, params), "result": result}
    session.execute(_REMEMBER, {**values, "created_at": utcnow()})


def _first_result(key: str, operation: str, params: dict[str, Any], stored_operation: str, stored_hash: str,
                  result: Any) -> Any:  # fmt: skip
    if stored_operation != operation or stored_hash != request_hash(operation, params):
        raise IdempotencyConflict(key)
    return result


# The same two steps for a write on the driver connection (ledger/driver.py).
_FIND_SQL = statement("SELECT operation, request_hash, result FROM idempotency_key WHERE key = ?")
_REMEMBER_SQL = statement(
    "INSERT INTO idempotency_key (key, operation, request_hash, result, created_at) VALUES (?, ?, ?, ?, ?)"
)


def stored_result_on_driver(write: DriverWrite, key: str, operation: str, params: dict[str, Any]) -> Any:
    """`stored_result` inside a driver write."""
    row = write.row(_FIND_SQL, (key,))
    if row is None:
        return None
    stored_operation, stored_hash, result = row
    return _first_result(key, operation, params, stored_operation, stored_hash, write.read_json(result))


def remember_on_driver(
    write: DriverWrite, key: str, operation: str, params: dict[str, Any], result: dict[str, Any], at: datetime
) -> None:
    """`remember` inside a driver write; `at` is the write's time."""
    values = (key, operation, request_hash(operation, params), write.json(result), write.time(at))
    write.execute(_REMEMBER_SQL, values)
