"""Finding clients and invoices from what a person typed."""

from __future__ import annotations

from rapidfuzz import fuzz, process
from sqlalchemy import func
from sqlmodel import Session, select

from ledger.errors import AmbiguousClient, UnknownClient, UnknownInvoice
from ledger.models import Client, Invoice

_MAX_CANDIDATES = 5


def find_client(session: Session, query: str) -> Client:
    """A client by id, exact name, or an unambiguous part of its name (all case-insensitive).

    Ambiguous or unknown: an error listing the closest clients, so the person can pick one.
    """
    text = query.strip()
    if not text:
        raise UnknownClient(query)
    by_id = session.get(Client, text)
    if by_id is not None:
        return by_id
    key = text.lower()
    by_name = session.exec(select(Client).where((Client.name_key == key) | (func.lower(Client.id) == key))).first()
    if by_name is not None:
        return by_name
    pattern = "%" + key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    partial = session.exec(
        select(Client).where(Client.name_key.like(pattern, escape="\\")).limit(_MAX_CANDIDATES + 1)
    ).all()
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise AmbiguousClient(text, [_label(client) for client in partial[:_MAX_CANDIDATES]])
    raise UnknownClient(text, closest_clients(session, text))


def closest_clients(session: Session, text: str, limit: int = 3) -> list[str]:
    clients = session.exec(select(Client.id, Client.name)).all()
    names = {f"{name} ({client_id})": name.lower() for client_id, name in clients}
    matches = process.extract(text.lower(), names, scorer=fuzz.WRatio, limit=limit, score_cutoff=50)
    return [label for _, _, label in matches]


def find_invoice(session: Session, number: str) -> Invoice:
    text = number.strip()
    invoice = session.exec(select(Invoice).where(Invoice.number == text)).first()
    if invoice is None:
        invoice = session.exec(select(Invoice).where(func.upper(Invoice.number) == text.upper())).first()
    if invoice is None:
        raise UnknownInvoice(text)
    return invoice


def _label(client: Client) -> str:
    return f"{client.name} ({client.id})"
