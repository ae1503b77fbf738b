"""Idempotent writes: a key names one request; its first result is kept in the same transaction.

Same key and same parameters: the stored result comes back and nothing is written. Same key with other
parameters: IdempotencyConflict (as Stripe does), because silently answering with another request's result
would hide a mistake. Callers check the key only after taking their row locks, so two concurrent requests
with one key are serialized and the second sees the first's row.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlmodel import Session

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
    if row is None:
        return None
    if row.operation != operation or row.request_hash != request_hash(operation, params):
        raise IdempotencyConflict(key)
    return row.result


def remember(session: Session, key: str, operation: str, params: dict[str, Any], result: dict[str, Any]) -> None:
    values = {"key": key, "operation": operation, "request_hash": request_hash(operation, params), "result": result}
    session.execute(_REMEMBER, {**values, "created_at": utcnow()})
