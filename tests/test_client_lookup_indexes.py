"""Finding a client by name reads indexes, never every client (issue 14): the query plans say so on SQLite and
PostgreSQL, and the answers are the same as reading every name would give."""

from __future__ import annotations

import pytest

from bench.synthetic import add_named_clients, named_client
from ledger import lookup, reads
from ledger.errors import AmbiguousClient, UnknownClient
from ledger.lookup import find_client, find_client_by_name, matching_clients
from tests.builders import client, import_rows

CLIENTS = 3000


@pytest.fixture
def crowded(db):
    """Named clients enough for a planner to prefer an index whenever one serves."""
    import_rows(db, clients=[client("C-Acme", "Acme Legal LLP"), client("C2", "Fifty % Off_Studio")])
    add_named_clients(db, 0, CLIENTS)
    if db.is_sqlite:
        with db.write() as unit:
            unit.connection.exec_driver_sql("ANALYZE")
    return db


def _explain(unit, sql: lookup.Statement, params: tuple) -> str:
    """The statement's query plan, one line per step."""
    if unit.is_sqlite:
        rows = unit.rows(lookup.Statement("EXPLAIN QUERY PLAN " + sql.sqlite, ""), params)
        return "\n".join(str(row[-1]) for row in rows)
    # A few thousand rows fit in a few pages, where a sequential scan can cost less: ask whether an index serves
    # the statement (at 100k clients the planner takes it unasked; bench/bot_latency.py --lookup measures that).
    unit.execute(lookup.Statement("", "SET LOCAL enable_seqscan = off"))
    return "\n".join(row[0] for row in unit.rows(lookup.Statement("", "EXPLAIN " + sql.postgresql), params))


def _reads_every_client(plan: str) -> bool:
    # SQLite: "SCAN client" (a table scan; "SCAN t VIRTUAL TABLE INDEX 0:M" is the FTS5 index answering a MATCH).
    # PostgreSQL: a sequential scan.
    steps = [line.strip() for line in plan.splitlines()]
    return any(step in ("SCAN client", "SCAN c") or step.startswith(("SCAN client ", "SCAN c ")) for step in steps) or (
        "Seq Scan" in plan
    )


def test_exact_name_and_any_case_id_are_index_lookups(crowded):
    with crowded.read() as unit:
        plan = _explain(unit, lookup._CLIENT_EXACT, ("acme legal llp", "acme legal llp"))
    assert not _reads_every_client(plan), plan
    assert ("name_key=?" in plan and "ix_client_id_lower" in plan) or "BitmapOr" in plan, plan


def test_a_part_of_a_name_is_read_from_the_trigram_index(crowded):
    with crowded.read() as unit:
        plan = _explain(unit, lookup._CLIENTS_WITH_PART, lookup._part_params(unit, "001234 leg", 6))
    assert not _reads_every_client(plan), plan
    assert ("VIRTUAL TABLE INDEX 0:M" in plan) if crowded.is_sqlite else ("ix_client_name_trgm" in plan), plan
    if not crowded.is_sqlite:  # the whole lookup in one statement there: id, exact name and part
        with crowded.read() as unit:
            params = lookup._lookup_pg_params(unit, "001234 leg", 6)
            plan = _explain(unit, lookup._lookup_pg("", part=True), params)
        assert not _reads_every_client(plan) and "ix_client_name_trgm" in plan, plan


def test_the_nearest_clients_to_a_miss_come_from_an_index(crowded):
    with crowded.read() as unit:
        if crowded.is_sqlite:
            plans = [_explain(unit, lookup._ROWS_WITH_TRIGRAM_SQLITE, ('"acm"', 1000)),
                     _explain(unit, lookup._CLIENT_NAMES_BY_ROWID, ("[1, 2]",))]  # fmt: skip
        else:
            plans = [_explain(unit, lookup._CLIENTS_NEAREST_PG, ("acme legl", 50))]
        plans.append(_explain(unit, lookup._CLIENTS_AFTER, ("acme legl", 3)))
    for plan in plans:
        assert not _reads_every_client(plan), plan
    if not crowded.is_sqlite:
        assert "ix_client_name_trgm_gist" in plans[0], plans[0]


def test_find_client_by_exact_name_any_case_id_and_part(crowded):
    number = 1234
    client_id, name = named_client(number)
    with crowded.read() as unit:
        assert find_client(unit, name.upper()).id == client_id
        assert find_client(unit, "c-acme").id == "C-Acme"
        assert find_client(unit, " ".join(name.split()[2:]).lower()).id == client_id  # "001234 audit"
        assert find_client(unit, "me legal l").id == "C-Acme"  # inside a word
        assert find_client(unit, "% off_").id == "C2"  # % and _ are letters here, not patterns
        with pytest.raises(AmbiguousClient) as several:
            find_client(unit, f"{number:06d}"[:5])  # 00123: in ten names
        assert len(several.value.suggestions) == 5


def test_a_part_finds_every_name_holding_it_as_reading_all_names_would(crowded):
    with crowded.read() as unit:
        names = {
            client_id: name.lower() for client_id, name in unit.rows(lookup.statement("SELECT id, name FROM client"))
        }
        for part in ("legal 0012", "tax 00", "udit", "ers 002", "acme", "zzz"):
            holding = sorted(client_id for client_id, name in names.items() if part in name)
            found = matching_clients(unit, part, limit=len(names))
            assert sorted(c.id for c in found if part in c.name.lower()) == holding, part
            assert all(part in c.name.lower() or c.id.lower() == part for c in found), part


def test_a_miss_suggests_the_closest_names(crowded):
    with crowded.read() as unit, pytest.raises(UnknownClient) as missed:
        find_client(unit, "Acme Legl LLP")
    assert missed.value.suggestions[0] == "Acme Legal LLP (C-Acme)"


def _found_in_steps(unit, text: str):
    """The client as found one step at a time (the exact id, then the name or a part): the id, or the error."""
    try:
        found = unit.row(lookup.client_by_id(), (text.strip(),)) if text.strip() else None
        return found[0] if found else find_client_by_name(unit, text).id
    except (AmbiguousClient, UnknownClient) as refused:
        return type(refused), refused.suggestions


def _found_at_once(unit, text: str):
    try:
        return find_client(unit, text).id
    except (AmbiguousClient, UnknownClient) as refused:
        return type(refused), refused.suggestions


def test_the_lookup_in_one_statement_finds_what_the_steps_find(crowded):
    """PostgreSQL's one round trip (id, exact name, part) picks as the lookup step by step does, refusals included."""
    client_id, name = named_client(1234)
    import_rows(crowded, clients=[client("Acme Legal LLP", "Named Like An Id"), client("ab", "Short Id")])
    queries = [client_id, client_id.lower(), name, name.upper(), f"  {name.lower()} ", "001234 audit", "me legal l",
               "% off_", "00123", "Acme Legal LLP", "acme legal llp", "ab", "AB", "a", "zq", "acme legl"]  # fmt: skip
    with crowded.read() as unit:
        for query in queries:
            assert _found_at_once(unit, query) == _found_in_steps(unit, query), query
        by_name = reads.client_balance(unit, name.upper())
        assert by_name == reads.balance_by_id(unit, client_id)
