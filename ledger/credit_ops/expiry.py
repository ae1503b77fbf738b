"""Recording expired credit for every wallet whose next expiry has passed (the scheduled or manual sweep).

Writes sweep the wallet they lock anyway (`operations.lock_wallet`); this records it for wallets nobody writes to,
so the history says when their credit expired. Wallets are locked in client-id order, as transfers lock them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.credit_ops import lots
from ledger.operations import _LOCK_CLIENT, Wallet
from ledger.unit import Unit


@dataclass(frozen=True)
class Expired:
    client_id: str
    client_name: str
    currency: str
    amount_minor: int


def expire_credits(unit: Unit) -> list[Expired]:
    """What expired, per client, since the wallets were last swept."""
    expired = []
    for client_id in lots.clients_with_expiry_due(unit):
        wallet = Wallet(*unit.one(_LOCK_CLIENT, (client_id,)))
        if not lots.is_due(unit, wallet.next_expiry_on):  # swept by a write since the list was read
            continue
        gone = lots.expire_due(unit, wallet.id, wallet.currency, wallet.available_credit_minor)
        if gone:
            expired.append(Expired(wallet.id, wallet.name, wallet.currency, gone))
    return expired
