"""Who may move money: the Slack user ids in CREDITBOT_BILLING_ADMINS. Everyone else may read.

A refused write is answered politely, kept in the history as refused (with what was asked, and the client or
invoice when what was typed names one), and changes nothing. Buttons check again when clicked: a message can
be seen, and its buttons clicked, by people other than the one it was meant for.
"""

from __future__ import annotations

from contextlib import suppress

from bot.handlers.context import Context
from ledger import operations
from ledger.errors import LedgerError, PermissionRefused
from ledger.lookup import find_client, find_invoice
from ledger.unit import Unit, statement


def require_billing_admin(
    ctx: Context,
    doing: str,
    action: str,
    asked: str,
    client: str | None = None,
    invoice: str | None = None,
    application_id: int | None = None,
    credit_id: int | None = None,
) -> None:
    """Refuse (PermissionRefused) unless the caller is a billing admin; a refusal is recorded first.

    `doing` completes "only billing admins can ...", `action` is the history's action name, `asked` what was typed.
    """
    if ctx.is_billing_admin:
        return
    why = f"{ctx.caller.user_id} is not a billing admin; asked: {asked}"
    ctx.db.transact(_record, ctx.caller.actor, action, why, client, invoice, application_id, credit_id)
    raise PermissionRefused(doing)


_PAYMENT = statement("SELECT client_id, invoice_id FROM payment WHERE id = ?")
_CREDIT = statement("SELECT client_id FROM credit WHERE id = ?")


def _record(
    unit: Unit, actor: str, action: str, why: str, client: str | None, invoice: str | None,
    application_id: int | None, credit_id: int | None,
) -> None:  # fmt: skip
    """The refusal, in the history of the client and invoice the request named, when they exist."""
    client_id: str | None = None
    invoice_id: int | None = None
    if application_id is not None and (payment := unit.row(_PAYMENT, (application_id,))) is not None:
        client_id, invoice_id = payment
    if credit_id is not None and (credit := unit.row(_CREDIT, (credit_id,))) is not None:
        client_id = credit[0]
    if invoice and invoice_id is None:
        with suppress(LedgerError):
            found = find_invoice(unit, invoice)
            client_id, invoice_id = found.client_id, found.id
    if client and client_id is None:
        with suppress(LedgerError):
            client_id = find_client(unit, client).id
    operations.record_refusal(unit, actor, action, why, client_id=client_id, invoice_id=invoice_id)
