"""Expiry: which of a client's credits its available credit is held in, and what expires.

A wallet is one balance, but its grants may carry `expires_on` (usable through that day). Everything that takes
credit out of the wallet (applications, refunds, write-offs, transfers out) draws first on the credit that expires
first, so the available credit is held by the grants that expire *last*: walk the open grants from the latest
expiry (never-expiring ones are the latest) to the earliest, each holding at most its own amount. What a grant
still holds the day after its expiry leaves the wallet as an `expiry` entry ("expires:<grant id>", unique: a grant
expires once). Credit given back after its grant expired (a reversal) is held by the remaining grants, or by none
(then it never expires).

Invariant: an expired remainder is never available. Writes keep it by sweeping when they lock a wallet whose
`next_expiry_on` has passed (one date compared, nothing read otherwise); reads subtract what is due but not yet
recorded (`pending_expiry_minor`), so a balance never shows expired credit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ledger import history
from ledger.kinds import CreditKind
from ledger.money import decimal_str
from ledger.unit import Unit, statement

EXPIRY_PREFIX = "expires:"
REVOCATION_PREFIX = "revokes:"
EXPIRY_ACTOR = "creditbot:expiry"
# Kinds whose positive entries hold credit.
_HOLDING = (CreditKind.GRANT.value, CreditKind.TRANSFER_IN.value, CreditKind.REINSTATED.value)

_ENTRIES = statement("SELECT id, amount_minor, kind, expires_on, external_id FROM credit WHERE client_id = ?")
_INSERT_ENTRY = statement(
    "INSERT INTO credit (external_id, client_id, amount_minor, issued_on, reason, qb_payment_id, created_by, "
    "created_at, kind, expires_on, transfer_id) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?) RETURNING id"
)
_BUMP_ISSUED = statement("UPDATE client SET credits_issued_minor = credits_issued_minor + ? WHERE id = ?")
_SET_NEXT_EXPIRY = statement("UPDATE client SET next_expiry_on = ? WHERE id = ?")
_EARLIER_EXPIRY = statement(
    "UPDATE client SET next_expiry_on = ? WHERE id = ? AND (next_expiry_on IS NULL OR next_expiry_on > ?)"
)
# Every wallet's next expiry from its entries (after an import that brought expiry dates).
REFRESH_NEXT_EXPIRY = (
    "UPDATE client SET next_expiry_on = (SELECT MIN(c.expires_on) FROM credit c WHERE c.client_id = client.id "
    "AND c.amount_minor > 0 AND c.expires_on IS NOT NULL AND NOT EXISTS (SELECT 1 FROM credit x "
    "WHERE x.external_id = 'expires:' || c.id OR x.external_id = 'revokes:' || c.id))"
)
_DUE_CLIENTS = statement("SELECT id FROM client WHERE next_expiry_on < ? ORDER BY id")


@dataclass(frozen=True)
class Lot:
    """A grant still able to hold credit."""

    credit_id: int
    amount_minor: int
    expires_on: date | None

    @property
    def order(self) -> tuple[bool, date, int]:
        return (self.expires_on is None, self.expires_on or date.max, self.credit_id)


@dataclass(frozen=True)
class Holding:
    lot: Lot
    held_minor: int


def open_lots(unit: Unit, client_id: str) -> list[Lot]:
    """The client's grants not taken back and not yet expired, earliest expiry first."""
    return lots_of(unit.rows(_ENTRIES, (client_id,)), unit.read_day)


def lots_of(rows: Iterable[Sequence[Any]], read_day: Callable[[Any], date]) -> list[Lot]:
    """Open lots from a client's credit entries (id, amount, kind, expires_on, external_id)."""
    rows = list(rows)
    closed = set()
    for _, _, _, _, external_id in rows:
        for prefix in (EXPIRY_PREFIX, REVOCATION_PREFIX):
            if external_id and external_id.startswith(prefix) and external_id[len(prefix) :].isdigit():
                closed.add(int(external_id[len(prefix) :]))
    lots = [
        Lot(credit_id, amount, read_day(expires_on) if expires_on is not None else None)
        for credit_id, amount, kind, expires_on, _ in rows
        if amount > 0 and kind in _HOLDING and credit_id not in closed
    ]
    return sorted(lots, key=lambda lot: lot.order)


def holdings(lots: list[Lot], available_minor: int) -> list[Holding]:
    """How much of `available_minor` each lot holds: the latest-expiring lots hold it (earliest first, as given)."""
    left = max(available_minor, 0)
    held: list[Holding] = []
    for lot in reversed(lots):
        part = min(lot.amount_minor, left)
        left -= part
        held.append(Holding(lot, part))
    return held[::-1]


def draws(lots: list[Lot], available_minor: int, amount_minor: int) -> list[tuple[date | None, int]]:
    """Where taking `amount_minor` out draws from, earliest expiry first: (expires_on, amount) parts."""
    parts: list[tuple[date | None, int]] = []
    left = amount_minor
    held = holdings(lots, available_minor)
    for holding in held:
        part = min(holding.held_minor, left)
        if part:
            parts.append((holding.lot.expires_on, part))
            left -= part
    if left > 0:  # credit held by no grant (given back after its grant expired): it never expires
        parts.append((None, left))
    return parts


def due_holdings(unit: Unit, client_id: str, available_minor: int, today: date) -> list[Holding]:
    lots = open_lots(unit, client_id)
    return [h for h in holdings(lots, available_minor) if h.lot.expires_on is not None and h.lot.expires_on < today]


def pending_expiry_minor(unit: Unit, client_id: str, available_minor: int, next_expiry_on: Any, today: date) -> int:
    """What has expired but is not recorded yet (a read between the expiry day and the next write)."""
    if next_expiry_on is None or unit.read_day(next_expiry_on) >= today:
        return 0
    return sum(h.held_minor for h in due_holdings(unit, client_id, available_minor, today))


def is_due(unit: Unit, next_expiry_on: Any) -> bool:
    return next_expiry_on is not None and unit.read_day(next_expiry_on) < unit.now.date()


def insert_entry(
    unit: Unit, client_id: str, amount_minor: int, kind: CreditKind, reason: str, actor: str, *,
    external_id: str | None = None, expires_on: date | None = None, transfer_id: int | None = None,
) -> int:  # fmt: skip
    """One credit entry and the running total it moves (`credits_issued_minor`); its id."""
    values = (external_id, client_id, amount_minor, unit.day(unit.now.date()), reason, actor, unit.time(unit.now),
              kind.value, unit.day(expires_on), transfer_id)  # fmt: skip
    entry_id = unit.one(_INSERT_ENTRY, values)[0]
    unit.execute(_BUMP_ISSUED, (amount_minor, client_id))
    from ledger.scans.settle import settle_later  # ledger.scans imports the operations, which import this

    settle_later(unit, None, client_id)  # the wallet's findings (credit over-applied) may be resolved
    if expires_on is not None and amount_minor > 0:
        day = unit.day(expires_on)
        unit.execute(_EARLIER_EXPIRY, (day, client_id, day))
    return entry_id


def expire_due(unit: Unit, client_id: str, currency: str, available_minor: int) -> int:
    """Record what expired in a wallet locked by the caller; returns the amount that left the wallet."""
    today = unit.now.date()
    lots = open_lots(unit, client_id)
    gone = 0
    for holding in holdings(lots, available_minor):
        lot = holding.lot
        if lot.expires_on is None or lot.expires_on >= today:
            continue
        reason = f"Credit #{lot.credit_id} expired after {lot.expires_on.isoformat()}"
        insert_entry(unit, client_id, -holding.held_minor, CreditKind.EXPIRY, reason, EXPIRY_ACTOR,
                     external_id=f"{EXPIRY_PREFIX}{lot.credit_id}")  # fmt: skip
        before = available_minor - gone
        gone += holding.held_minor
        history.record(unit, history.Line(
            EXPIRY_ACTOR, "expire_credit", client_id=client_id, subject=f"credit:{lot.credit_id}",
            before={"available_credit": decimal_str(before, currency)},
            after={"available_credit": decimal_str(before - holding.held_minor, currency),
                   "credit_expired": decimal_str(holding.held_minor, currency)},
            detail=reason))  # fmt: skip
    later = [lot.expires_on for lot in lots if lot.expires_on is not None and lot.expires_on >= today]
    unit.execute(_SET_NEXT_EXPIRY, (unit.day(min(later)) if later else None, client_id))
    return gone


def clients_with_expiry_due(unit: Unit) -> list[str]:
    return unit.column(_DUE_CLIENTS, (unit.day(unit.now.date()),))
