"""The import's fast paths (ordinary payments and invoices) and its general path build the same ledger.

Ordinary rows skip the general path's row objects (ledger/csv_import/batches.py); a field with spaces around it is
just as valid but always takes the general path. So importing the same ledger once as written and once with some
rows padded must give the same rows, totals, history and counts, on each database.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import SQLModel

from ledger.db import Database
from ledger.tables import Client, HistoryEntry, Invoice, Payment
from ledger.totals import stored_totals, totals_from_entries
from tests.builders import client, credit, import_rows, invoice, payment
from tests.conftest import _truncate_all

CLIENTS = (("C1", "USD"), ("C2", "JPY"), ("C3", "EUR"))
KINDS = ("cash", "Check", "ACH", "card", "wire", "AccountCredit", "accountcredit", "QBCreditMemo")

_invoice = st.fixed_dictionaries(
    {
        "client": st.sampled_from(CLIENTS),
        "cents": st.integers(min_value=1, max_value=10**7),
        "day": st.integers(min_value=1, max_value=28),
        "posted": st.booleans(),
    }
)
_payment = st.fixed_dictionaries(
    {
        "invoice": st.integers(min_value=0, max_value=30),
        "kind": st.sampled_from(KINDS),
        "cents": st.integers(min_value=1, max_value=10**6),
        "day": st.integers(min_value=1, max_value=28),
        "created": st.booleans(),
        "tagged": st.booleans(),
    }
)


def _amount(cents: int, currency: str) -> str:
    return str(cents) if currency == "JPY" else f"{cents // 100}.{cents % 100:02d}"


def _export(invoices: list[dict[str, Any]], payments: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    """A ledger in the import's CSV form; a few rows carry optional fields (which always take the general path)."""
    invoice_rows = [
        invoice(f"INV-{n}", spec["client"][0], _amount(spec["cents"], spec["client"][1]),
                issued_on=f"2026-03-{spec['day']:02d}",
                posted_to_qb_at="2026-04-01T10:00:00Z" if spec["posted"] else "")
        for n, spec in enumerate(invoices)
    ]  # fmt: skip
    payment_rows = []
    for n, spec in enumerate(payments):
        number = spec["invoice"] % len(invoices)
        client_id, currency = invoices[number]["client"]
        tag = f"P-{client_id}" if spec["tagged"] and spec["kind"].lower() == "accountcredit" else ""
        created = f"2026-05-{spec['day']:02d}T08:30:00+02:00" if spec["created"] else ""
        payment_rows.append(
            payment(f"PAY-{n}", f"INV-{number}", spec["kind"], _amount(spec["cents"], currency),
                    received_on=f"2026-05-{spec['day']:02d}", created_at=created, project_id=tag)
        )  # fmt: skip
    return {
        "clients": [client(client_id, currency=currency) for client_id, currency in CLIENTS],
        "projects": [{"project_id": f"P-{c}", "client_id": c, "name": f"Project {c}"} for c, _ in CLIENTS],
        "invoices": invoice_rows,
        "credits": [credit("CR-1", "C1", "50.00")],
        "payments": payment_rows,
    }


def _padded(export: dict[str, list[dict[str, str]]], rows: set[int]) -> dict[str, list[dict[str, str]]]:
    """The same export with spaces around a reference on the chosen rows, which sends them the general way."""
    copy = {name: [dict(row) for row in table] for name, table in export.items()}
    for n, row in enumerate(copy["invoices"]):
        if n in rows:
            row["client_id"] = f" {row['client_id']} "
    for n, row in enumerate(copy["payments"]):
        if n in rows:
            row["invoice_number"] = f"  {row['invoice_number']}"
    return copy


def _edited(export: dict[str, list[dict[str, str]]], rows: set[int]) -> dict[str, list[dict[str, str]]]:
    """A re-export in which the chosen payments and invoices changed their date."""
    copy = {name: [dict(row) for row in table] for name, table in export.items()}
    for n, row in enumerate(copy["payments"]):
        if n in rows:
            row["received_on"] = "2026-06-30"
    for n, row in enumerate(copy["invoices"]):
        if n in rows:
            row["issued_on"] = "2026-02-27"
    return copy


def _ledger(db: Database) -> dict[str, Any]:
    """Everything an import writes, in id order; times the import itself chooses (its own clock) left out."""
    invoice_columns = [column for column in Invoice.__table__.columns if column.name != "created_at"]
    client_columns = [column for column in Client.__table__.columns if column.name != "created_at"]
    history_columns = [column for column in HistoryEntry.__table__.columns if column.name not in ("id", "at")]
    with db.read() as unit:
        session = unit.session
        edits = session.execute(
            select(*history_columns).where(HistoryEntry.action == "import_edit").order_by(HistoryEntry.id)
        )
        return {
            "payments": session.execute(select(Payment.__table__).order_by(Payment.id)).all(),
            "invoices": session.execute(select(*invoice_columns).order_by(Invoice.id)).all(),
            "clients": session.execute(select(*client_columns).order_by(Client.id)).all(),
            "edits": edits.all(),
            "totals_match": stored_totals(session) == totals_from_entries(session),
        }


def _emptied(db: Database) -> None:
    if not db.is_sqlite:
        _truncate_all(db)
        return
    with db.write() as unit:
        session = unit.session
        for table in reversed(SQLModel.metadata.sorted_tables):
            session.execute(table.delete())


def _imported_twice(db: Database, first: dict, second: dict) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    _emptied(db)
    summaries = [import_rows(db, **first).as_json(), import_rows(db, **second).as_json()]
    return _ledger(db), summaries


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    invoices=st.lists(_invoice, min_size=1, max_size=8),
    payments=st.lists(_payment, min_size=1, max_size=30),
    padded=st.sets(st.integers(min_value=0, max_value=30)),
    edited=st.sets(st.integers(min_value=0, max_value=30), max_size=5),
)
def test_ordinary_and_general_paths_build_the_same_ledger(db, invoices, payments, padded, edited):
    export = _export(invoices, payments)
    everything = set(range(len(payments)))
    as_written = _imported_twice(db, export, _edited(export, edited))
    some_padded = _imported_twice(db, _padded(export, padded), _edited(_padded(export, padded), edited))
    all_padded = _imported_twice(db, _padded(export, everything), _edited(_padded(export, everything), edited))
    assert as_written == some_padded == all_padded
    ledger, _summaries = as_written
    assert ledger["totals_match"]
    assert len(ledger["payments"]) == len(payments)


def test_a_reimport_of_the_same_rows_in_either_form_changes_nothing(db):
    export = _export(
        [{"client": ("C1", "USD"), "cents": 100_000, "day": 3, "posted": False}],
        [{"invoice": 0, "kind": "cash", "cents": 250, "day": 4, "created": False, "tagged": False},
         {"invoice": 0, "kind": "AccountCredit", "cents": 500, "day": 5, "created": True, "tagged": True}],
    )  # fmt: skip
    import_rows(db, **export)
    before = _ledger(db)
    for again in (export, _padded(export, {0, 1})):
        summary = import_rows(db, **again)
        assert not summary.changed
        assert summary.files["payments.csv"].unchanged == 2 and summary.files["invoices.csv"].unchanged == 1
    assert _ledger(db) == before
