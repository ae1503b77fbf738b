"""Finding clients and invoices from what a person typed."""

from __future__ import annotations

import functools
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from ledger.errors import AmbiguousClient, UnknownClient, UnknownInvoice
from ledger.text import NAME_CHARS, checked_text
from ledger.unit import Statement, Unit, list_parameter, statement

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


_INVOICE = statement("SELECT id, number, client_id FROM invoice WHERE number = ?")
_INVOICE_ANY_CASE = statement("SELECT id, number, client_id FROM invoice WHERE upper(number) = ? LIMIT 1")


def find_client(unit: Unit, query: str) -> ClientRef:
    """A client by id, exact name, or an unambiguous part of its name (all case-insensitive).

    A part matches as the typeahead matches (`matching_clients`): names starting with it, and names containing it
    once it has three letters or more. Ambiguous or unknown: an error listing the closest clients, so the person
    can pick one.
    """
    return ClientRef(*find_client_row(unit, query))


def find_client_row(unit: Unit, query: str, columns: str = "") -> tuple[Any, ...]:
    """`find_client`'s client as a row: id, name, currency, then `columns` (", col, ..."), for a caller that reads
    more of the client: PostgreSQL finds it in one round trip (`_lookup_pg`), whether by id, name or part."""
    text = checked_text(query.strip(), "client name", NAME_CHARS)
    if unit.is_sqlite:  # a statement costs more than a round trip there: the id first, the client found read again
        found = unit.row(client_by_id(columns), (text,)) if text else None
        return found if found is not None else unit.one(client_by_id(columns), (find_client_by_name(unit, query).id,))
    if not text:
        raise UnknownClient(query)
    rows = unit.rows(_lookup_pg(columns, _is_part(text)), _lookup_pg_params(unit, text, _MAX_CANDIDATES + 1))
    exact = min((row for row in rows if row[0] <= 0), key=lambda row: row[0], default=None)  # the id before a name
    if exact is not None:
        return exact[1:]
    partial = [row for row in rows if row[0] > 0]
    # A part: those starting with it first, each group by name; a shorter one: in the order read
    return _chosen(
        unit, text, _rows_in_order(partial, _MAX_CANDIDATES + 1) if _is_part(text) else [r[1:] for r in partial]
    )


def find_client_by_name(unit: Unit, query: str) -> ClientRef:
    """`find_client` for a caller that has already looked the text up as an exact id."""
    text = checked_text(query.strip(), "client name", NAME_CHARS)
    if not text:
        raise UnknownClient(query)
    exact, partial = _clients_named(unit, text, _MAX_CANDIDATES + 1)
    if exact is not None:
        return exact
    return ClientRef(*_chosen(unit, text, [(client.id, client.name, client.currency) for client in partial]))


def _chosen(unit: Unit, text: str, partial: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """The one client `text` is a part of (rows: id, name, ...); none or several: the error listing them."""
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise AmbiguousClient(text, [f"{client[1]} ({client[0]})" for client in partial[:_MAX_CANDIDATES]])
    raise UnknownClient(text, closest_clients(unit, text))


@functools.cache
def client_by_id(columns: str = "") -> Statement:
    """The client with an exact id: id, name, currency, then `columns` (", col, ...")."""
    return statement(f"SELECT id, name, currency{columns} FROM client WHERE id = ?")


# --- the nearest clients to a name that matched none, from the trigram index ----------------------------------
# Candidates are the names nearest by trigrams (PostgreSQL: pg_trgm's distance through its GiST index; SQLite: each
# trigram's first rows in the FTS5 table, the names sharing most of them first), and the names right after the
# text in order; rapidfuzz then ranks those few. No statement reads every client.
_NEAREST_CANDIDATES = 50
_PER_TRIGRAM = 1000
# PostgreSQL: the nearest names by trigram distance, read in that order from the GiST index on lower(name)
# (0013_lookup_speed); `%` through the GIN index had to recheck every name sharing a common trigram (a third of
# them, at 100k). The index is on lower(name), the same text as name_key, so that the planner never takes it for
# name_key's equality or LIKE, which the unique and GIN indexes answer faster.
_CLIENTS_NEAREST_PG = Statement("", "SELECT id, name FROM client ORDER BY lower(name) <-> %s LIMIT %s")
_ROWS_WITH_TRIGRAM_SQLITE = statement("SELECT rowid FROM client_name_trigram WHERE client_name_trigram MATCH ? LIMIT ?")
_CLIENT_NAMES_BY_ROWID = statement("SELECT id, name FROM client WHERE rowid IN (SELECT value FROM json_each(?))")
_CLIENTS_AFTER = statement("SELECT id, name FROM client WHERE name_key >= ? ORDER BY name_key LIMIT ?")


def closest_clients(unit: Unit, text: str, limit: int = 3) -> list[str]:
    """The clients whose names are closest to `text`, best first: good matches if any, else the nearest few."""
    from rapidfuzz import fuzz, process  # only when a name matched none: a read that finds its client never loads it

    key = " ".join(text.split()).lower()
    rows = _similar_names(unit, key) + unit.rows(_CLIENTS_AFTER, (key, limit))
    names = {f"{name} ({client_id})": name.lower() for client_id, name in rows}
    matches = process.extract(key, names, scorer=fuzz.WRatio, limit=limit, score_cutoff=50) or (
        process.extract(key, names, scorer=fuzz.WRatio, limit=limit)
    )
    return [label for _, _, label in matches]


def _similar_names(unit: Unit, key: str) -> list[tuple[str, str]]:
    if not unit.is_sqlite:
        return unit.rows(_CLIENTS_NEAREST_PG, (key, _NEAREST_CANDIDATES))
    shared: Counter[int] = Counter()
    for trigram in _trigrams(key):
        rows = unit.rows(_ROWS_WITH_TRIGRAM_SQLITE, (_fts_phrase(trigram), _PER_TRIGRAM))
        shared.update(rowid for (rowid,) in rows)
    nearest = [rowid for rowid, _ in shared.most_common(_NEAREST_CANDIDATES)]
    return unit.rows(_CLIENT_NAMES_BY_ROWID, (list_parameter(nearest, True),)) if nearest else []


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
# Names starting with the part (tagged 1), and names containing it further on (2), in one round trip. Those are
# found by two of the part's trigrams (the index) and kept when they hold the whole part: instr/strpos on the row,
# literal, and never taken for an index condition; `> 1` leaves out the names the prefix range gives.
_CLIENTS_WITH_PART = Statement(
    "SELECT * FROM (SELECT 1, id, name, currency FROM client WHERE name_key >= ? AND name_key < ? LIMIT ?) "
    "UNION ALL SELECT * FROM (SELECT 2, c.id, c.name, c.currency FROM client_name_trigram t "
    "JOIN client c ON c.rowid = t.rowid WHERE client_name_trigram MATCH ? AND instr(t.name_key, ?) > 1 LIMIT ?)",
    '(SELECT 1, id, name, currency FROM client WHERE name_key COLLATE "C" >= %s AND name_key COLLATE "C" < %s '
    "LIMIT %s) UNION ALL (SELECT 2, id, name, currency FROM client "
    "WHERE name_key LIKE %s AND name_key LIKE %s AND strpos(name_key, %s) > 1 LIMIT %s)",
)
# `find_client`'s exact name or an id in any case: both indexed, name_key by its unique index and lower(id) by
# ix_client_id_lower (0013_lookup_speed). A statement of its own: as an arm of the part's statement, SQLite would
# read the trigram index for an exact name too.
_CLIENT_EXACT = statement("SELECT id, name, currency FROM client WHERE name_key = ? OR lower(id) = ? LIMIT 1")
# `find_client_row` on PostgreSQL: the whole lookup in one round trip, with the columns the caller reads next (the
# balance read: the wallet's totals), so that a client found by name is not read again. Tagged -1: the exact id;
# 0: the exact name or an id in any case; 1: names starting with the part; 2: names containing it further on (a
# part of three letters or more; a shorter one: names starting with it, in order, as `_CLIENTS_BY_PREFIX`). The
# part's arms run only when nothing is exact: their condition is a constant subquery, a one-time filter evaluated
# before their index is read.
_NOTHING_EXACT = "NOT EXISTS (SELECT 1 FROM client WHERE name_key = %s OR lower(id) = %s)"


@functools.cache
def _lookup_pg(columns: str, part: bool) -> Statement:
    def arm(tag: int, where: str) -> str:
        return f"(SELECT {tag}, id, name, currency{columns} FROM client WHERE {where})"

    prefix = f'name_key COLLATE "C" >= %s AND name_key COLLATE "C" < %s AND {_NOTHING_EXACT}'
    arms = [arm(-1, "id = %s"), arm(0, "name_key = %s OR lower(id) = %s LIMIT 1")]
    if part:
        arms.append(arm(1, f"{prefix} LIMIT %s"))
        arms.append(
            arm(2, f"name_key LIKE %s AND name_key LIKE %s AND strpos(name_key, %s) > 1 AND {_NOTHING_EXACT} LIMIT %s")
        )
    else:
        arms.append(arm(1, f'{prefix} ORDER BY name_key COLLATE "C" LIMIT %s'))
    return Statement("", " UNION ALL ".join(arms))


def _is_part(text: str) -> bool:
    """Whether `text` is matched inside names too, not only at their start (three letters or more)."""
    return len(" ".join(text.lower().split())) >= TRIGRAM


def _lookup_pg_params(unit: Unit, text: str, limit: int) -> tuple[Any, ...]:
    exact, key = text.lower(), " ".join(text.lower().split())
    start = (text, exact, exact, key, key + _LAST, exact, exact, limit)
    if not _is_part(text):
        return start
    _, _, _, rare, rarer, _, _ = _part_params(unit, key, limit)  # PostgreSQL's: the two LIKEs, then key and limit
    return (*start, rare, rarer, key, exact, exact, limit)


def matching_clients(unit: Unit, text: str, limit: int = 100) -> list[ClientRef]:
    """Up to `limit` clients for a typeahead: the exact id first, then names starting with `text`, then names
    containing it (three letters or more)."""
    key = " ".join(text.split()).lower()
    found: dict[str, ClientRef] = {}
    typed = text.strip()
    if typed:  # an id as typed, or in the case ids usually have (find_client compares ids case-insensitively)
        found.update((row[0], ClientRef(*row)) for row in unit.rows(_CLIENTS_BY_ID, (typed, typed.upper(), key)))
    found.update((client.id, client) for client in _clients_with_part(unit, key, limit))
    return list(found.values())[:limit]


def _clients_with_part(unit: Unit, key: str, limit: int) -> list[ClientRef]:
    """Up to `limit` clients whose name starts with `key`, in order, then those containing it further on, by name."""
    if len(key) < TRIGRAM:
        return [ClientRef(*row) for row in unit.rows(_CLIENTS_BY_PREFIX, (key, key + _LAST, limit))]
    return _in_order(unit.rows(_CLIENTS_WITH_PART, _part_params(unit, key, limit)), limit)


def _clients_named(unit: Unit, text: str, limit: int) -> tuple[ClientRef | None, list[ClientRef]]:
    """The client named `text` exactly (or with that id in any case), else those it is a part of (`limit`)."""
    exact, key = text.lower(), " ".join(text.lower().split())
    if (row := unit.row(_CLIENT_EXACT, (exact, exact))) is not None:
        return ClientRef(*row), []
    return None, _clients_with_part(unit, key, limit)


def _part_params(unit: Unit, key: str, limit: int) -> tuple[Any, ...]:
    """The parameters of _CLIENTS_WITH_PART for the part `key` (three letters or more)."""
    rare, rarer = _rarest_trigrams(unit, key)
    if unit.is_sqlite:  # FTS5: names holding both phrases
        return (key, key + _LAST, limit, f"{_fts_phrase(rare)} {_fts_phrase(rarer)}", key, limit)
    # pg_trgm's GIN index: names LIKE both
    return (key, key + _LAST, limit, f"%{_like_literal(rare)}%", f"%{_like_literal(rarer)}%", key, limit)


def _in_order(rows: list[tuple[Any, ...]], limit: int) -> list[ClientRef]:
    """Those starting with the part first; each group by name (code point order is name_key's bytewise order)."""
    return [ClientRef(*row) for row in _rows_in_order(rows, limit)]


def _rows_in_order(rows: list[tuple[Any, ...]], limit: int) -> list[tuple[Any, ...]]:
    """`_in_order` for rows of any width, without their tag."""
    rows.sort(key=lambda row: (row[0], row[2].lower()))
    return [row[1:] for row in rows][:limit]


# --- which trigrams of a part to look up ----------------------------------------------------------------------
# Every name containing a part holds each of its trigrams, so any few of them find those names. Common trigrams
# ("leg", "ing", "ers") are in a fifth of the names or more, and reading all of a part's lists cost more than the
# rest of the request (2-10 ms at 100k clients on either database); the rarest two cost a fraction of a
# millisecond. Rarity is estimated from a sample of names, taken once per database and process and renewed now
# and then: a stale sample only costs time, never a match, as the row check above decides.
_SAMPLE_NAMES = 2000
_SAMPLE_SECONDS = 600.0
# Names spread over the whole table (the first rows would be the oldest clients, alike in ways the rest are not):
# SQLite picks evenly spaced rowids; PostgreSQL samples pages, as many as hold about the names wanted.
_NAME_SAMPLE = Statement(
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1) SELECT name FROM client "
    "WHERE rowid IN (SELECT 1 + i * (SELECT max(rowid) FROM client) / ? FROM n)",
    "SELECT name FROM client TABLESAMPLE SYSTEM (least(100, 100.0 * %s / greatest(1, (SELECT reltuples FROM pg_class "
    "WHERE oid = 'client'::regclass))))",
)
# Keyed by the database (`Unit.cache_key`).
_samples: WeakKeyDictionary[object, tuple[float, Counter[str]]] = WeakKeyDictionary()


def _trigrams(text: str) -> set[str]:
    return {text[n : n + TRIGRAM] for n in range(len(text) - TRIGRAM + 1)}


def _rarest_trigrams(unit: Unit, key: str) -> tuple[str, str]:
    """The two rarest trigrams of `key` (the same one twice when it has only one)."""
    database = unit.cache_key
    taken = _samples.get(database)
    if taken is None or time.monotonic() - taken[0] > _SAMPLE_SECONDS:
        names = unit.rows(_NAME_SAMPLE, (_SAMPLE_NAMES, _SAMPLE_NAMES) if unit.is_sqlite else (_SAMPLE_NAMES,))
        seen = Counter(trigram for (name,) in names for trigram in _trigrams(name.lower()))
        taken = _samples[database] = (time.monotonic(), seen)
    counts = taken[1]
    rare, *rarer = sorted(_trigrams(key), key=lambda trigram: (counts[trigram], trigram))
    return rare, rarer[0] if rarer else rare


# A big batch of new clients leaves SQLite's FTS5 trigram index in many small segments (each insert through the
# trigger adds one; automerge only bounds them), and every part looked up then reads each segment: at 100k new
# clients, 0.6-1.2 ms a part instead of 0.05-0.2 ms. Merging them once after the batch costs about 0.5 s per 100k.
# (PostgreSQL's GIN index keeps no pending list, 0013_lookup_speed: it needs nothing after a batch.)
MERGE_AFTER_NEW_CLIENTS = 1000
_MERGE_NAME_INDEX = statement("INSERT INTO client_name_trigram (client_name_trigram) VALUES ('optimize')")


def merge_name_index(unit: Unit) -> None:
    """Merge the SQLite trigram index of client names into one segment (after a batch of new clients)."""
    if unit.is_sqlite:
        unit.execute(_MERGE_NAME_INDEX)


def _like_literal(text: str) -> str:
    """`text` matched literally by LIKE (PostgreSQL's escape character is the backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _fts_phrase(text: str) -> str:
    """`text` as one FTS5 phrase: matched literally, as a part of the name (% and _ are plain characters there)."""
    return '"' + text.replace('"', '""') + '"'
