"""Idempotent writes: a key names one request; its first result is kept in the same unit of work.

Same key and same parameters: the stored result comes back and nothing is written. Same key with other
parameters: IdempotencyConflict (as Stripe does), because silently answering with another request's result
would hide a mistake. Callers check the key only after taking their row locks, so two concurrent requests
with one key are serialized and the second sees the first's row.

Keys come from the front ends and name one request of one person (a Slack trigger_id, a button on one message
clicked by one user, a console or CLI session's own id), never a position in a session.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ledger.errors import IdempotencyConflict
from ledger.unit import Unit, statement

# What json.dumps(..., sort_keys=True, default=str) makes, byte for byte (stored hashes stay valid), with one
# encoder for every request rather than a new one each time, and no search for circular references (parameters
# are plain values).
_CANONICAL = json.JSONEncoder(sort_keys=True, default=str, check_circular=False)


def request_hash(operation: str, params: dict[str, Any]) -> str:
    canonical = _CANONICAL.encode({"operation": operation, **params})
    return hashlib.sha256(canonical.encode()).hexdigest()


_FIND = statement("SELECT operation, request_hash, result FROM idempotency_key WHERE key = ?")
_REMEMBER = statement(
    "INSERT INTO idempotency_key (key, operation, request_hash, result, created_at) VALUES (?, ?, ?, ?, ?)"
)


def stored_result(unit: Unit, key: str, operation: str, params: dict[str, Any]) -> Any:
    """The first result for `key`, or None when the key is new."""
    row = unit.row(_FIND, (key,))
    if row is None:
        return None
    stored_operation, stored_hash, result = row
    if stored_operation != operation or stored_hash != request_hash(operation, params):
        raise IdempotencyConflict(key)
    return unit.read_json(result)


def remember(unit: Unit, key: str, operation: str, params: dict[str, Any], result: dict[str, Any]) -> None:
    values = (key, operation, request_hash(operation, params), unit.json(result), unit.time(unit.now))
    unit.execute(_REMEMBER, values)


def result_to_store(result: Any) -> dict[str, Any]:
    """A write's result as its idempotency key keeps it: every field but `replayed`.

    The results hold plain values only, so a shallow copy does (asdict's deep copy cost more than the JSON dump)."""
    return {name: value for name, value in vars(result).items() if name != "replayed"}
