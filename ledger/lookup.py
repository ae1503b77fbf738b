"""Finding clients and invoices from what a person typed."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, process

from ledger.errors import AmbiguousClient, UnknownClient, UnknownInvoice
from ledger.text import NAME_CHARS, checked_text
from ledger.unit import Unit, statement

_MAX_CANDIDATES = 5


@dataclass(frozen=True)
class ClientRef:
    id: str
    name: str
    currency: str

    @property
    def label(self) -> str:
        """How a client is named in a list to pick from: "Acme Legal LLP (C-ACME)"."""
        return f"{self.name} ({self.id})"

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "currency": self.currency}


@dataclass(frozen=True)
class InvoiceRef:
    id: int
    number: str
    client_id: str


_CLIENT_BY_ID = statement("SELECT id, name, currency FROM client WHERE id = ?")
_CLIENT_BY_NAME = statement("SELECT id, name, currency FROM client WHERE name_key = ? OR lower(id) = ? LIMIT 1")
_CLIENTS_LIKE = statement("SELECT id, name, currency FROM client WHERE name_key LIKE ? ESCAPE '\\' ORDER BY id LIMIT ?")
_ALL_NAMES = statement("SELECT id, name FROM client")
_INVOICE = statement("SELECT id, number, client_id FROM invoice WHERE number = ?")
_INVOICE_ANY_CASE = statement("SELECT id, number, client_id FROM invoice WHERE upper(number) = ? LIMIT 1")


def find_client(unit: Unit, query: str) -> ClientRef:
    """A client by id, exact name, or an unambiguous part of its name (all case-insensitive).

    Ambiguous or unknown: an error listing the closest clients, so the person can pick one.
    """
    text = checked_text(query.strip(), "client name", NAME_CHARS)
    if not text:
        raise UnknownClient(query)
    key = text.lower()
    found = unit.row(_CLIENT_BY_ID, (text,)) or unit.row(_CLIENT_BY_NAME, (key, key))
    if found is not None:
        return ClientRef(*found)
    pattern = "%" + key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    partial = [ClientRef(*row) for row in unit.rows(_CLIENTS_LIKE, (pattern, _MAX_CANDIDATES + 1))]
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise AmbiguousClient(text, [client.label for client in partial[:_MAX_CANDIDATES]])
    raise UnknownClient(text, closest_clients(unit, text))


def closest_clients(unit: Unit, text: str, limit: int = 3) -> list[str]:
    names = {f"{name} ({client_id})": name.lower() for client_id, name in unit.rows(_ALL_NAMES)}
    matches = process.extract(text.lower(), names, scorer=fuzz.WRatio, limit=limit, score_cutoff=50)
    return [label for _, _, label in matches]


def find_invoice(unit: Unit, number: str) -> InvoiceRef:
    # Up to a name's length, so `history NAME` can still try a client when no invoice has that number.
    text = checked_text(number.strip(), "invoice number", NAME_CHARS)
    found = unit.row(_INVOICE, (text,)) or unit.row(_INVOICE_ANY_CASE, (text.upper(),))
    if found is None:
        raise UnknownInvoice(text)
    return InvoiceRef(*found)
