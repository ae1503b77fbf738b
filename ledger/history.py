"""The history: one append-only line per change and per refused write (who, when, what, before, after, why).

Every write records here, in its own unit of work, so a change and its line commit together or not at all. Amounts
in `before`/`after` are decimal strings in the client's currency, readable as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.unit import Unit, statement

DONE, REFUSED = "done", "refused"


@dataclass(frozen=True)
class Line:
    """One history line to record; `at` defaults to the unit's time."""

    actor: str
    action: str
    client_id: str | None = None
    invoice_id: int | None = None
    subject: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    detail: str = ""
    outcome: str = DONE
    at: datetime | None = None


_INSERT = statement(
    "INSERT INTO history (at, actor, action, outcome, client_id, invoice_id, subject, before, after, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def record(unit: Unit, line: Line) -> None:
    """Append one line to the history, in the unit's transaction."""
    unit.execute(_INSERT, _values(unit, line))


def record_all(unit: Unit, lines: Iterable[Line]) -> None:
    """Append many lines at once (an import's edits, a sync's changes)."""
    unit.executemany(_INSERT, [_values(unit, line) for line in lines])


def _values(unit: Unit, line: Line) -> tuple[Any, ...]:
    return (
        unit.time(line.at or unit.now), line.actor, line.action, line.outcome, line.client_id, line.invoice_id,
        line.subject, unit.json(line.before), unit.json(line.after), line.detail,
    )  # fmt: skip
