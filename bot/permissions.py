"""Who may move money: the Slack user ids in CREDITBOT_BILLING_ADMINS. Everyone else may read.

A refused write is answered politely, kept in the history as refused (with what was asked, and the client or
invoice when what was typed names one), and changes nothing. Buttons check again when clicked: a message can
be seen, and its buttons clicked, by people other than the one it was meant for.
"""

from __future__ import annotations

from contextlib import suppress

from bot.commands.context import Context
from ledger import operations
from ledger.errors import LedgerError, PermissionRefused
from ledger.lookup import find_client, find_invoice
from ledger.models import Credit, Payment


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
    client_id, invoice_id = _where(ctx, client, invoice, application_id, credit_id)
    why = f"{ctx.caller.user_id} is not a billing admin; asked: {asked}"
    operations.record_refusal(ctx.db, ctx.caller.actor, action, why, client_id=client_id, invoice_id=invoice_id)
    raise PermissionRefused(doing)


def _where(
    ctx: Context, client: str | None, invoice: str | None, application_id: int | None, credit_id: int | None
) -> tuple[str | None, int | None]:
    """The client and invoice a refused request named, when they exist, so the refusal shows in their history."""
    client_id: str | None = None
    invoice_id: int | None = None
    with ctx.db.read() as session:
        if application_id is not None:
            payment = session.get(Payment, application_id)
            if payment is not None:
                client_id, invoice_id = payment.client_id, payment.invoice_id
        if credit_id is not None:
            credit = session.get(Credit, credit_id)
            client_id = credit.client_id if credit is not None else None
        if invoice and invoice_id is None:
            with suppress(LedgerError):
                found = find_invoice(session, invoice)
                client_id, invoice_id = found.client_id, found.id
        if client and client_id is None:
            with suppress(LedgerError):
                client_id = find_client(session, client).id
    return client_id, invoice_id
