"""Finding clients and invoices from what a person typed."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from ledger.errors import AmbiguousClient, UnknownClient, UnknownInvoice
from ledger.text import NAME_CHARS, checked_text
from ledger.unit import Statement, Unit, statement

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
# Both sides indexed: name_key by its unique index, lower(id) by ix_client_id_lower (0013_lookup_speed), so the OR
# is two index lookups on SQLite (MULTI-INDEX OR) and PostgreSQL (BitmapOr), never a read of every client.
_CLIENT_BY_NAME = statement("SELECT id, name, currency FROM client WHERE name_key = ? OR lower(id) = ? LIMIT 1")
_INVOICE = statement("SELECT id, number, client_id FROM invoice WHERE number = ?")
_INVOICE_ANY_CASE = statement("SELECT id, number, client_id FROM invoice WHERE upper(number) = ? LIMIT 1")


def find_client(unit: Unit, query: str) -> ClientRef:
    """A client by id, exact name, or an unambiguous part of its name (all case-insensitive).

    A part matches as the typeahead matches (`matching_clients`): names starting with it, and names containing it
    once it has three letters or more. Ambiguous or unknown: an error listing the closest clients, so the person
    can pick one.
    """
    text = checked_text(query.strip(), "client name", NAME_CHARS)
    if not text:
        raise UnknownClient(query)
    key = text.lower()
    found = unit.row(_CLIENT_BY_ID, (text,)) or unit.row(_CLIENT_BY_NAME, (key, key))
    if found is not None:
        return ClientRef(*found)
    partial = matching_clients(unit, text, _MAX_CANDIDATES + 1)
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise AmbiguousClient(text, [client.label for client in partial[:_MAX_CANDIDATES]])
    raise UnknownClient(text, closest_clients(unit, text))


# --- the nearest clients to a name that matched none, from the trigram index ----------------------------------
# Candidates are the names sharing trigrams with the text (PostgreSQL: pg_trgm's `%` through its GIN index; SQLite:
# each trigram's first rows in the FTS5 table, the names sharing most of them first), and the names right after it
# in order; rapidfuzz then ranks those few. No statement reads every client.
_NEAREST_CANDIDATES = 50
_PER_TRIGRAM = 1000
_CLIENTS_SIMILAR_PG = Statement(
    "",
    "SELECT id, name FROM client WHERE name_key %% %s ORDER BY similarity(name_key, %s) DESC, id LIMIT %s",
)
_ROWS_WITH_TRIGRAM_SQLITE = statement("SELECT rowid FROM client_name_trigram WHERE client_name_trigram MATCH ? LIMIT ?")
_CLIENT_NAMES_BY_ROWID = statement("SELECT id, name FROM client WHERE rowid IN (SELECT value FROM json_each(?))")
_CLIENTS_AFTER = statement("SELECT id, name FROM client WHERE name_key >= ? ORDER BY name_key LIMIT ?")


def closest_clients(unit: Unit, text: str, limit: int = 3) -> list[str]:
    """The clients whose names are closest to `text`, best first: good matches if any, else the nearest few."""
    key = " ".join(text.split()).lower()
    rows = _similar_names(unit, key) + unit.rows(_CLIENTS_AFTER, (key, limit))
    names = {f"{name} ({client_id})": name.lower() for client_id, name in rows}
    matches = process.extract(key, names, scorer=fuzz.WRatio, limit=limit, score_cutoff=50) or (
        process.extract(key, names, scorer=fuzz.WRatio, limit=limit)
    )
    return [label for _, _, label in matches]


def _similar_names(unit: Unit, key: str) -> list[tuple[str, str]]:
    if not unit.is_sqlite:
        return unit.rows(_CLIENTS_SIMILAR_PG, (key, key, _NEAREST_CANDIDATES))
    shared: Counter[int] = Counter()
    for trigram in {key[n : n + TRIGRAM] for n in range(len(key) - TRIGRAM + 1)}:
        rows = unit.rows(_ROWS_WITH_TRIGRAM_SQLITE, (_fts_phrase(trigram), _PER_TRIGRAM))
        shared.update(rowid for (rowid,) in rows)
    nearest = [rowid for rowid, _ in shared.most_common(_NEAREST_CANDIDATES)]
    return unit.rows(_CLIENT_NAMES_BY_ROWID, (json.dumps(nearest),)) if nearest else []


def find_invoice(unit: Unit, number: str) -> InvoiceRef:
    # Up to a name's length, so `history NAME` can still try a client when no invoice has that number.
    text = checked_text(number.strip(), "invoice number", NAME_CHARS)
    found = unit.row(_INVOICE, (text,)) or unit.row(_INVOICE_ANY_CASE, (text.upper(),))
    if found is None:
        raise UnknownInvoice(text)
    return InvoiceRef(*found)


# --- the typeahead: clients whose id or name contains what was typed, without reading every client --------
# Matched as `find_client` matches (id, name, or part of a name, case-insensitively). Names starting with the text
# come first, in order, from the unique index on name_key; then names containing it, from the trigram index
# (PostgreSQL: pg_trgm's GIN index on name_key; SQLite: the FTS5 trigram table client_name_trigram), which serves a
# part of three letters or more. A shorter part matches by prefix only: every name contains "a".
TRIGRAM = 3
_LAST = "\U0010ffff"  # after every character: key + _LAST bounds the names starting with key
# A prefix is a range of names compared bytewise: SQLite's unique index on name_key already compares so; PostgreSQL
# has ix_client_name_prefix on name_key COLLATE "C" (its default collation may order otherwise). As a range, not a
# LIKE, it uses the index whatever plan the statement is given.
_CLIENTS_BY_PREFIX = Statement(
    "SELECT id, name, currency FROM client WHERE name_key >= ? AND name_key < ? ORDER BY name_key LIMIT ?",
    'SELECT id, name, currency FROM client WHERE name_key COLLATE "C" >= %s AND name_key COLLATE "C" < %s'
    ' ORDER BY name_key COLLATE "C" LIMIT %s',
)
_CLIENTS_BY_ID = statement("SELECT id, name, currency FROM client WHERE id IN (?, ?, ?) ORDER BY id")
_CLIENTS_CONTAINING_PG = statement(
    "SELECT id, name, currency FROM client WHERE name_key LIKE ? ESCAPE '\\' AND name_key NOT LIKE ? ESCAPE '\\' "
    "LIMIT ?"
)
# FTS5 answers a quoted phrase of three letters or more as "contains" from its index; it is never offered a LIKE
# with an ESCAPE clause, so `name_key LIKE ? ESCAPE` there reads the whole table.
_CLIENTS_CONTAINING_SQLITE = statement(
    "SELECT c.id, c.name, c.currency FROM client_name_trigram t JOIN client c ON c.rowid = t.rowid "
    "WHERE client_name_trigram MATCH ? AND t.name_key NOT LIKE ? ESCAPE '\\' LIMIT ?"
)


def matching_clients(unit: Unit, text: str, limit: int = 100) -> list[ClientRef]:
    """Up to `limit` clients for a typeahead: the exact id first, then names starting with `text`, then names
    containing it (three letters or more)."""
    key = " ".join(text.split()).lower()
    found: dict[str, ClientRef] = {}
    typed = text.strip()
    if typed:  # an id as typed, or in the case ids usually have (find_client compares ids case-insensitively)
        found.update((row[0], ClientRef(*row)) for row in unit.rows(_CLIENTS_BY_ID, (typed, typed.upper(), key)))
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    found.update((row[0], ClientRef(*row)) for row in unit.rows(_CLIENTS_BY_PREFIX, (key, key + _LAST, limit)))
    if len(key) >= TRIGRAM and len(found) < limit:
        containing = _CLIENTS_CONTAINING_SQLITE if unit.is_sqlite else _CLIENTS_CONTAINING_PG
        contains = _fts_phrase(key) if unit.is_sqlite else f"%{escaped}%"
        more = unit.rows(containing, (contains, f"{escaped}%", limit - len(found)))
        found.update((row[0], ClientRef(*row)) for row in sorted(more, key=lambda row: row[1].lower()))
    return list(found.values())[:limit]


def _fts_phrase(text: str) -> str:
    """`text` as one FTS5 phrase: matched literally, as a part of the name (% and _ are plain characters there)."""
    return '"' + text.replace('"', '""') + '"'
