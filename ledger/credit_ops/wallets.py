"""Credit that leaves a wallet without paying an invoice: transfers to another client, refunds, write-offs.

Invariants:
- A wallet never goes below what is applied: each takes at most the available credit (issued - applied), read
  with the wallet locked, so two concurrent refunds cannot both spend the same credit.
- Each is a negative credit entry of its kind (append-only), so the running total `credits_issued_minor` and the
  entries agree without a special case; what they take is drawn first from the credit that expires first (lots.py).
- A transfer locks both wallets in client-id order, whichever direction it goes, so two opposite transfers cannot
  deadlock; both entries commit together or not at all. Transferred credit keeps the expiry dates it had.
- A refund carries a receipt reference (unique) and a `credit_refund` row the billing system and QuickBooks follow.
- A write-off's undo (`reinstate_write_off`) adds the amount back once ("reinstates:<id>" is unique).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ledger import approvals, history, idempotency
from ledger.approvals import WriteRequest
from ledger.credit_ops import lots
from ledger.errors import (
    ExceedsAvailableCredit,
    ReasonRequired,
    RefundReferenceTaken,
    TransferCurrencyMismatch,
    TransferToSameClient,
    UnknownTransfer,
    UnknownWriteOff,
    WriteOffAlreadyReinstated,
)
from ledger.idempotency import result_to_store
from ledger.kinds import CreditKind
from ledger.lookup import find_client
from ledger.money import decimal_str, format_money, parse_amount
from ledger.operations import Wallet, _with, lock_wallet
from ledger.unit import Unit, statement

REINSTATEMENT_PREFIX = "reinstates:"


@dataclass(frozen=True)
class TransferResult:
    transfer_id: int
    from_client_id: str
    from_client_name: str
    to_client_id: str
    to_client_name: str
    currency: str
    amount_minor: int
    from_available_before_minor: int
    from_available_after_minor: int
    to_available_before_minor: int
    to_available_after_minor: int
    replayed: bool = False


@dataclass(frozen=True)
class OutflowResult:
    """A refund or a write-off: the entry's id (`credit_id`), and for a refund its receipt reference."""

    kind: str
    credit_id: int
    client_id: str
    client_name: str
    currency: str
    amount_minor: int
    available_before_minor: int
    available_after_minor: int
    reference: str | None = None
    refund_id: int | None = None
    replayed: bool = False


@dataclass(frozen=True)
class ReinstateResult:
    write_off_id: int
    credit_id: int
    client_id: str
    client_name: str
    currency: str
    amount_minor: int
    available_before_minor: int
    available_after_minor: int
    replayed: bool = False


_INSERT_TRANSFER = statement(
    "INSERT INTO credit_transfer (from_client_id, to_client_id, amount_minor, reason, created_by, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id"
)
_TRANSFER = statement("SELECT from_client_id, to_client_id, amount_minor FROM credit_transfer WHERE id = ?")
_REFERENCE_TAKEN = statement("SELECT 1 FROM credit_refund WHERE reference = ?")
_INSERT_REFUND = statement(
    "INSERT INTO credit_refund (credit_id, client_id, amount_minor, currency, reference, reason, follow_status, "
    "created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?) RETURNING id"
)
_ENTRY = statement("SELECT client_id, amount_minor, kind FROM credit WHERE id = ?")
_BY_EXTERNAL_ID = statement("SELECT created_at FROM credit WHERE external_id = ?")
_CURRENCY = statement("SELECT currency FROM client WHERE id = ?")


def transfer_credit(
    unit: Unit, from_client: str, to_client: str, amount: str | Decimal, reason: str, by: WriteRequest
) -> TransferResult:
    """Move available credit from one client's wallet to another's (same currency), both in this unit."""
    params = {"from_client": from_client, "to_client": to_client, "amount": str(amount), "reason": reason}
    if not reason.strip():
        raise ReasonRequired("a transfer between clients")
    source_ref, target_ref = find_client(unit, from_client), find_client(unit, to_client)
    if source_ref.id == target_ref.id:
        raise TransferToSameClient(source_ref.name)
    locked = {client_id: lock_wallet(unit, client_id) for client_id in sorted((source_ref.id, target_ref.id))}
    source, target = locked[source_ref.id], locked[target_ref.id]
    if (replay := idempotency.stored_result(unit, by.key, "transfer_credit", params)) is not None:
        return TransferResult(**replay, replayed=True)
    if source.currency != target.currency:
        raise TransferCurrencyMismatch(source.name, source.currency, target.name, target.currency)
    money = source.currency
    amount_minor = _within_available(source, amount, "transfer")
    again = {"from_client": source.id, "to_client": target.id, "amount": decimal_str(amount_minor, money),
             "reason": reason}  # fmt: skip
    what = f"transfer {format_money(amount_minor, money)} of credit from {source.name} to {target.name}"
    approved = approvals.check(unit, by, approvals.TRANSFER, source.id, money, amount_minor, again, what)
    source_before, target_before = source.available_credit_minor, target.available_credit_minor
    parts = lots.draws(lots.open_lots(unit, source.id), source_before, amount_minor)
    transfer_id = unit.one(
        _INSERT_TRANSFER, (source.id, target.id, amount_minor, reason, by.actor, unit.time(unit.now))
    )[0]
    detail = _with(reason, approved)
    lots.insert_entry(unit, source.id, -amount_minor, CreditKind.TRANSFER_OUT, detail, by.actor,
                      transfer_id=transfer_id)  # fmt: skip
    for expires_on, part in parts:
        lots.insert_entry(unit, target.id, part, CreditKind.TRANSFER_IN, detail, by.actor, expires_on=expires_on,
                          transfer_id=transfer_id)  # fmt: skip
    source.credits_issued_minor -= amount_minor
    target.credits_issued_minor += amount_minor
    for wallet, before, key, other in (
        (source, source_before, "credit_transferred_out", target),
        (target, target_before, "credit_transferred_in", source),
    ):
        history.record(unit, history.Line(
            by.actor, "transfer_credit", client_id=wallet.id, subject=f"transfer:{transfer_id}",
            before={"available_credit": decimal_str(before, money)},
            after={"available_credit": decimal_str(wallet.available_credit_minor, money),
                   key: decimal_str(amount_minor, money), "other_client": other.id},
            detail=detail))  # fmt: skip
    result = TransferResult(
        transfer_id=transfer_id,
        from_client_id=source.id,
        from_client_name=source.name,
        to_client_id=target.id,
        to_client_name=target.name,
        currency=money,
        amount_minor=amount_minor,
        from_available_before_minor=source_before,
        from_available_after_minor=source.available_credit_minor,
        to_available_before_minor=target_before,
        to_available_after_minor=target.available_credit_minor,
    )
    idempotency.remember(unit, by.key, "transfer_credit", params, result_to_store(result))
    return result


def undo_transfer(unit: Unit, transfer_id: int, actor: str) -> TransferResult:
    """Transfer the same amount back (the Undo of a transfer), once per transfer: its key names the transfer."""
    row = unit.row(_TRANSFER, (int(transfer_id),))
    if row is None:
        raise UnknownTransfer(transfer_id)
    from_id, to_id, amount_minor = row
    currency = unit.one(_CURRENCY, (from_id,))[0]
    by = WriteRequest(actor, f"undo-transfer:{transfer_id}")
    return transfer_credit(unit, to_id, from_id, decimal_str(amount_minor, currency),
                           f"Undo of transfer #{transfer_id}", by)  # fmt: skip


def refund_credit(
    unit: Unit, client: str, amount: str | Decimal, reason: str, by: WriteRequest, reference: str | None = None
) -> OutflowResult:
    """Pay credit out to the client as money: a refund entry and its receipt (`reference`, else numbered here)."""
    reference = (reference or "").strip() or None
    params = {"client": client, "amount": str(amount), "reason": reason, "reference": reference}
    if not reason.strip():
        raise ReasonRequired("a refund")
    wallet = lock_wallet(unit, find_client(unit, client).id)
    if (replay := idempotency.stored_result(unit, by.key, "refund_credit", params)) is not None:
        return OutflowResult(**replay, replayed=True)
    money = wallet.currency
    amount_minor = _within_available(wallet, amount, "refund")
    if reference is not None and unit.row(_REFERENCE_TAKEN, (reference,)) is not None:
        raise RefundReferenceTaken(reference)
    again = {"client": wallet.id, "amount": decimal_str(amount_minor, money), "reason": reason, "reference": reference}
    what = f"refund {format_money(amount_minor, money)} of {wallet.name}'s credit as money"
    approved = approvals.check(unit, by, approvals.REFUND, wallet.id, money, amount_minor, again, what)
    before = wallet.available_credit_minor
    detail = _with(reason, approved)
    entry_id = lots.insert_entry(unit, wallet.id, -amount_minor, CreditKind.REFUND, detail, by.actor)
    wallet.credits_issued_minor -= amount_minor
    receipt = reference or _receipt_number(unit, entry_id)
    refund_id = unit.one(
        _INSERT_REFUND, (entry_id, wallet.id, amount_minor, money, receipt, reason, by.actor, unit.time(unit.now))
    )[0]
    history.record(unit, history.Line(
        by.actor, "refund_credit", client_id=wallet.id, subject=f"credit:{entry_id}",
        before={"available_credit": decimal_str(before, money)},
        after={"available_credit": decimal_str(wallet.available_credit_minor, money),
               "credit_refunded": decimal_str(amount_minor, money), "refund_reference": receipt},
        detail=detail))  # fmt: skip
    result = OutflowResult(CreditKind.REFUND.value, entry_id, wallet.id, wallet.name, money, amount_minor, before,
                           wallet.available_credit_minor, reference=receipt, refund_id=refund_id)  # fmt: skip
    idempotency.remember(unit, by.key, "refund_credit", params, result_to_store(result))
    return result


def write_off_credit(unit: Unit, client: str, amount: str | Decimal, reason: str, by: WriteRequest) -> OutflowResult:
    """Remove credit the client will never use (no money moves): a write-off entry."""
    params = {"client": client, "amount": str(amount), "reason": reason}
    if not reason.strip():
        raise ReasonRequired("a write-off")
    wallet = lock_wallet(unit, find_client(unit, client).id)
    if (replay := idempotency.stored_result(unit, by.key, "write_off_credit", params)) is not None:
        return OutflowResult(**replay, replayed=True)
    money = wallet.currency
    amount_minor = _within_available(wallet, amount, "write off")
    again = {"client": wallet.id, "amount": decimal_str(amount_minor, money), "reason": reason}
    what = f"write off {format_money(amount_minor, money)} of {wallet.name}'s credit"
    approved = approvals.check(unit, by, approvals.WRITE_OFF, wallet.id, money, amount_minor, again, what)
    before = wallet.available_credit_minor
    detail = _with(reason, approved)
    entry_id = lots.insert_entry(unit, wallet.id, -amount_minor, CreditKind.WRITE_OFF, detail, by.actor)
    wallet.credits_issued_minor -= amount_minor
    history.record(unit, history.Line(
        by.actor, "write_off_credit", client_id=wallet.id, subject=f"credit:{entry_id}",
        before={"available_credit": decimal_str(before, money)},
        after={"available_credit": decimal_str(wallet.available_credit_minor, money),
               "credit_written_off": decimal_str(amount_minor, money)},
        detail=detail))  # fmt: skip
    result = OutflowResult(CreditKind.WRITE_OFF.value, entry_id, wallet.id, wallet.name, money, amount_minor, before,
                           wallet.available_credit_minor)  # fmt: skip
    idempotency.remember(unit, by.key, "write_off_credit", params, result_to_store(result))
    return result


def reinstate_write_off(unit: Unit, write_off_id: int, by: WriteRequest, reason: str = "") -> ReinstateResult:
    """The Undo of a write-off: the amount comes back to the wallet (without an expiry), once."""
    params = {"write_off_id": int(write_off_id)}
    entry = unit.row(_ENTRY, (int(write_off_id),))
    if entry is None or entry[2] != CreditKind.WRITE_OFF.value:
        raise UnknownWriteOff(write_off_id)
    client_id, entry_minor, _ = entry
    wallet = lock_wallet(unit, client_id)
    if (replay := idempotency.stored_result(unit, by.key, "reinstate_write_off", params)) is not None:
        return ReinstateResult(**replay, replayed=True)
    marker = f"{REINSTATEMENT_PREFIX}{int(write_off_id)}"
    if (previous := unit.row(_BY_EXTERNAL_ID, (marker,))) is not None:
        raise WriteOffAlreadyReinstated(int(write_off_id), unit.read_time(previous[0]))  # type: ignore[arg-type]
    money, amount_minor = wallet.currency, -entry_minor
    again = {"write_off_id": int(write_off_id), "reason": reason}
    what = f"undo write-off #{write_off_id} ({format_money(amount_minor, money)} back to {wallet.name})"
    approved = approvals.check(unit, by, approvals.REINSTATE, wallet.id, money, amount_minor, again, what)
    before = wallet.available_credit_minor
    detail = _with(reason or f"Undo of write-off #{write_off_id}", approved)
    credit_id = lots.insert_entry(unit, wallet.id, amount_minor, CreditKind.REINSTATED, detail, by.actor,
                                  external_id=marker)  # fmt: skip
    wallet.credits_issued_minor += amount_minor
    history.record(unit, history.Line(
        by.actor, "reinstate_write_off", client_id=wallet.id, subject=f"credit:{write_off_id}",
        before={"available_credit": decimal_str(before, money)},
        after={"available_credit": decimal_str(wallet.available_credit_minor, money),
               "credit_reinstated": decimal_str(amount_minor, money)},
        detail=detail))  # fmt: skip
    result = ReinstateResult(int(write_off_id), credit_id, wallet.id, wallet.name, money, amount_minor, before,
                             wallet.available_credit_minor)  # fmt: skip
    idempotency.remember(unit, by.key, "reinstate_write_off", params, result_to_store(result))
    return result


def _within_available(wallet: Wallet, amount: str | Decimal, verb: str) -> int:
    """The amount in minor units, refused when it is more than the wallet holds beyond what is applied."""
    money = wallet.currency
    amount_minor = parse_amount(amount, money)
    available = wallet.available_credit_minor
    if amount_minor > available:
        raise ExceedsAvailableCredit(verb, format_money(amount_minor, money), format_money(max(available, 0), money),
                                     wallet.name)  # fmt: skip
    return amount_minor


def _receipt_number(unit: Unit, entry_id: int) -> str:
    """RF-<entry id>, or with a suffix if someone typed that reference for an earlier refund."""
    receipt, n = f"RF-{entry_id}", 1
    while unit.row(_REFERENCE_TAKEN, (receipt,)) is not None:
        n += 1
        receipt = f"RF-{entry_id}-{n}"
    return receipt
