"""The CSV import: one transaction, precise errors, idempotent re-imports, edits kept in the history."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from ledger import reads
from ledger.approvals import WriteRequest
from ledger.csv_import.loader import import_directory
from ledger.errors import ImportRowError
from ledger.tables import Client, Credit, HistoryEntry, Invoice, Payment, Project
from ledger.totals import stored_totals, totals_from_entries
from tests.builders import client, credit, import_rows, invoice, payment, write_csv

TABLES = (Client, Project, Invoice, Credit, Payment, HistoryEntry)


def _counts(db) -> tuple[int, ...]:
    with db.read() as unit:
        session = unit.session
        return tuple(session.execute(select(func.count()).select_from(t)).scalar_one() for t in TABLES)


def _full_export() -> dict[str, list[dict[str, str]]]:
    return {
        "clients": [client("C1", "Acme Legal"), client("C2", "Birch Architects", "EUR", qb_customer_id="61")],
        "projects": [{"project_id": "P1", "client_id": "C1", "name": "Litigation"}],
        "invoices": [
            invoice("INV-1", "C1", "1000.00", project_id="P1"),
            invoice("INV-2", "C2", "500.00", posted_to_qb_at="2026-10-05T14:30:00Z", qb_invoice_id="9"),
        ],
        "credits": [credit("CR-1", "C1", "300.00", reason="Discount")],
        "payments": [
            payment("PAY-1", "INV-1", "check", "400.00"),
            payment("PAY-2", "INV-1", "accountcredit", "100.00", project_id="P1"),
            payment("PAY-3", "INV-2", "QBCreditMemo", "50.00"),
        ],
    }


def test_import_builds_balances_that_split_cash_credits_and_memos(db):
    summary = import_rows(db, **_full_export())
    assert {name: s.created for name, s in summary.files.items()} == {
        "clients.csv": 2, "projects.csv": 1, "invoices.csv": 2, "credits.csv": 1, "payments.csv": 3,
    }  # fmt: skip
    with db.read() as unit:
        session = unit.session
        acme = reads.client_balance(unit, "acme")
        birch = reads.client_balance(unit, "C2")
        assert stored_totals(session) == totals_from_entries(session)
    assert acme.available_credit_minor == 20000
    (inv1,) = acme.invoices
    assert (inv1.cash_paid_minor, inv1.credits_applied_minor, inv1.balance_due_minor) == (40000, 10000, 50000)
    assert birch.invoices[0].qb_credit_memos_minor == 5000 and birch.invoices[0].posted_to_qb
    assert birch.client.currency == "EUR"


def test_reimporting_the_same_files_changes_nothing(db):
    import_rows(db, **_full_export())
    before = _counts(db)
    summary = import_rows(db, **_full_export())
    assert not summary.changed
    assert all(s.unchanged > 0 and s.created == 0 and s.edited == 0 for s in summary.files.values())
    assert _counts(db) == before


def test_rows_are_matched_by_id_so_a_reordered_export_is_a_no_op(db):
    export = _full_export()
    import_rows(db, **export)
    before = _counts(db)
    shuffled = {name: random.Random(7).sample(rows, len(rows)) for name, rows in export.items()}
    assert not import_rows(db, **shuffled).changed
    assert _counts(db) == before


def test_an_edited_row_keeps_its_old_values_in_the_history_at_its_edit_time(db):
    import_rows(db, **_full_export())
    export = _full_export()
    export["invoices"][1] = invoice(
        "INV-2", "C2", "650.00", posted_to_qb_at="2026-10-05T14:30:00Z", qb_invoice_id="9",
        updated_at="2026-10-20T09:15:00+02:00",
    )  # fmt: skip
    export["payments"][0] = payment("PAY-1", "INV-1", "check", "450.00")
    summary = import_rows(db, **export)
    assert summary.files["invoices.csv"].edited == 1 and summary.files["payments.csv"].edited == 1
    with db.read() as unit:
        session = unit.session
        _, lines = reads.history(unit, "INV-2")
        balance = reads.client_balance(unit, "C1")
        assert stored_totals(session) == totals_from_entries(session)
    (edit,) = [line for line in lines if line.action == "import_edit"]
    assert edit.before["total"] == "500.00" and edit.after["total"] == "650.00"
    assert edit.at.isoformat() == "2026-10-20T07:15:00+00:00"
    assert balance.invoices[0].cash_paid_minor == 45000


def test_an_edit_that_changes_a_payments_kind_moves_its_amount_between_columns(db):
    import_rows(db, **_full_export())
    export = _full_export()
    export["payments"][0] = payment("PAY-1", "INV-1", "AccountCredit", "400.00")
    import_rows(db, **export)
    with db.read() as unit:
        session = unit.session
        balance = reads.client_balance(unit, "C1")
        assert stored_totals(session) == totals_from_entries(session)
    assert balance.invoices[0].cash_paid_minor == 0 and balance.invoices[0].credits_applied_minor == 50000
    assert balance.available_credit_minor == -20000  # imported data may break the rules; the scans report it


@pytest.mark.parametrize(
    ("table", "rows", "where"),
    [
        (
            "clients",
            [{"client_id": "C9", "name": "X", "colour": "red"}],
            "clients.csv:1, column colour: unknown column",
        ),
        ("clients", [{"client_id": "C9"}], "clients.csv:1: missing required column(s): name"),
        ("clients", [client("C9"), client("C9", "Other")], "clients.csv:3, column client_id: “C9” appears twice"),
        ("clients", [client("C9", "Same"), client("C8", "same")], "clients.csv:3, column name"),
        ("clients", [client("C9", currency="XYZ")], "clients.csv:2, column currency"),
        ("clients", [client("C9", "N" * 201)], "clients.csv:2, column name: name is 201 characters long"),
        ("clients", [client("C" * 65)], "clients.csv:2, column client_id: client_id is 65 characters long"),
        ("invoices", [invoice("INV-9", "C404")], "invoices.csv:2, column client_id: “C404” is not in the ledger"),
        ("invoices", [invoice("INV-9", total="1,000.00")], "invoices.csv:2, column total"),
        ("invoices", [invoice("INV-9", total="0")], "invoices.csv:2, column total"),
        ("invoices", [invoice("INV-9", issued_on="05/10/2026")], "invoices.csv:2, column issued_on"),
        ("invoices", [invoice("INV-9", issued_on="2026-02-30")], "is not a real date"),
        ("invoices", [invoice("INV-9", posted_to_qb_at="yesterday")], "column posted_to_qb_at"),
        ("invoices", [invoice("INV-9", project_id="P-C2")], "belongs to client C2, not C1"),
        ("credits", [credit("CR-9", amount="12.345")], "credits.csv:3, column amount"),
        ("payments", [payment("PAY-9", "INV-1", "bitcoin")], "payments.csv:2, column type"),
        ("payments", [payment("PAY-9", "INV-404")], "payments.csv:2, column invoice_number"),
        ("payments", [payment("PAY-9", "INV-1", "check", project_id="P1")], "only for AccountCredit"),
        ("payments", [payment("PAY-9", "INV-1", amount="-5")], "payments.csv:2, column amount"),
        (
            "payments",
            [payment("PAY-9", "INV-1"), payment("PAY-8", "INV-1"), payment(" PAY-9", "INV-1")],
            "payments.csv:4, column payment_id: “PAY-9” appears twice (also on line 2)",
        ),
        ("payments", [payment("PAY-9", "INV-1", received_on="2026-13-01")], "payments.csv:2, column received_on"),
        (
            "payments",
            [payment("PAY-9", "INV-1"), payment("PAY-9", "INV-1"), payment("PAY-7", "INV-1", amount="x")],
            "payments.csv:3, column payment_id: “PAY-9” appears twice (also on line 2)",
        ),
        (
            "payments",
            [payment("PAY-9", "INV-1"), payment("PAY-8", "INV-1"), payment("PAY-9", "INV-404", amount="1.001")],
            "payments.csv:4, column payment_id: “PAY-9” appears twice (also on line 2)",
        ),
        (
            "invoices",
            [invoice("INV-9"), invoice("INV-9", total="5.001"), invoice("INV-8")],
            "invoices.csv:3, column invoice_number: “INV-9” appears twice (also on line 2)",
        ),
        (
            "invoices",
            [invoice("INV-9"), invoice("INV-9", total="5.00")],
            "invoices.csv:3, column invoice_number: “INV-9” appears twice (also on line 2)",
        ),
        (
            "invoices",
            [invoice("INV-1"), invoice("INV-1")],
            "invoices.csv:3, column invoice_number: “INV-1” appears twice (also on line 2)",
        ),
    ],
)
def test_an_invalid_row_aborts_the_import_naming_file_line_and_column(db, tmp_path: Path, table, rows, where):
    import_rows(
        db,
        clients=[client("C1"), client("C2")],
        projects=[{"project_id": "P1", "client_id": "C1", "name": "P"}, {"project_id": "P-C2", "client_id": "C2",
                                                                          "name": "Q"}],
        invoices=[invoice("INV-1")],
    )  # fmt: skip
    before = _counts(db)
    good = {"clients": [client("C1"), client("C2"), client("C3")], "credits": [credit("CR-OK", "C1")]}
    good[table] = rows if table == "clients" else good.get(table, []) + rows
    with pytest.raises(ImportRowError) as refused:
        import_rows(db, **good)
    assert where in refused.value.message
    assert refused.value.message.endswith("Nothing was imported.")
    assert _counts(db) == before


def test_files_must_be_utf8_and_rows_as_wide_as_the_header(db, tmp_path: Path):
    (tmp_path / "clients.csv").write_bytes(b"client_id,name\nC1,Caf\xe9\n")
    with pytest.raises(ImportRowError, match="not UTF-8"):
        import_directory(db, tmp_path)
    (tmp_path / "clients.csv").write_text("client_id,name\nC1,Acme,extra\n", encoding="utf-8")
    with pytest.raises(ImportRowError, match=r"clients\.csv:2: the row has 3 fields but the header has 2"):
        import_directory(db, tmp_path)
    assert _counts(db) == (0,) * len(TABLES)


def test_payment_rows_may_be_quoted_or_blank_but_not_ragged(db, tmp_path: Path):
    import_rows(db, clients=[client("C1")], invoices=[invoice("INV-1")])
    write_csv(tmp_path, "clients.csv", [client("C1")])
    header = "payment_id,invoice_number,type,amount,received_on\n"
    (tmp_path / "payments.csv").write_text(
        header + 'PAY-1,INV-1,cash,1.00,2026-10-01\n\n"PAY-2","INV-1","ach","2.50","2026-10-02"\n', encoding="utf-8"
    )
    assert import_directory(db, tmp_path).files["payments.csv"].created == 2
    (tmp_path / "payments.csv").write_text(header + "PAY-3,INV-1,cash,1.00,2026-10-01,x\n", encoding="utf-8")
    with pytest.raises(ImportRowError, match=r"payments\.csv:2: the row has 6 fields but the header has 5"):
        import_directory(db, tmp_path)


def test_clients_csv_is_required_and_a_bom_is_accepted(db, tmp_path: Path):
    with pytest.raises(ImportRowError, match=r"clients\.csv is required"):
        import_directory(db, tmp_path)
    (tmp_path / "clients.csv").write_text("\ufeffclient_id,name\nC1,Acme\n", encoding="utf-8")
    assert import_directory(db, tmp_path).files["clients.csv"].created == 1


_cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.fixed_dictionaries({c: _cell for c in ("payment_id", "type", "amount", "received_on")}),
                     min_size=1, max_size=5))  # fmt: skip
def test_random_payment_rows_are_imported_or_refused_cleanly(sqlite_db, tmp_path_factory, rows):
    """Whatever the cells hold, the import either succeeds or raises ImportRowError, and then writes nothing."""
    db = sqlite_db
    folder = tmp_path_factory.mktemp("random")
    import_rows(db, clients=[client("C1")], invoices=[invoice("INV-1")])
    before = _counts(db)
    write_csv(folder, "clients.csv", [client("C1")])
    write_csv(folder, "payments.csv", [{"invoice_number": "INV-1", **row} for row in rows])
    try:
        import_directory(db, folder)
    except ImportRowError as refused:
        assert refused.file == "payments.csv"
        assert _counts(db) == before
    with db.read() as unit:
        session = unit.session
        assert stored_totals(session) == totals_from_entries(session)


def test_a_large_import_adds_to_totals_that_still_equal_the_entries(db, tmp_path: Path):
    """New payments add their sums to the running totals (a reversal in the ledger must not be counted again)."""
    from bench.synthetic import write_ledger
    from ledger import operations

    write_ledger(tmp_path / "small", 200)
    import_directory(db, tmp_path / "small")
    applied = db.transact(operations.apply_credit, "INV-3", "1.00", None, WriteRequest("t", "k1"))
    db.transact(operations.reverse_application, applied.application_id, WriteRequest("t", "k2"))
    write_ledger(tmp_path / "large", 6_000)  # the same ids and 5,800 more payments
    summary = import_directory(db, tmp_path / "large")
    assert summary.files["payments.csv"].created == 5_800
    with db.read() as unit:
        session = unit.session
        assert stored_totals(session) == totals_from_entries(session)
        assert reads.client_balance(unit, "C3").available_credit_minor >= 0


def test_foreign_keys_are_enforced_again_after_an_import(db):
    import sqlalchemy

    import_rows(db, **_full_export())
    with pytest.raises(sqlalchemy.exc.IntegrityError), db.write() as unit:
        unit.session.execute(
            sqlalchemy.text(
                "INSERT INTO payment (invoice_id, client_id, kind, amount_minor, received_on, created_at, created_by) "
                "VALUES (999999, 'C404', 'cash', 1, '2026-10-01', '2026-10-01 00:00:00.000000', 'test')"
            )
        )


def _sqlite_indexes(db) -> set[tuple[str, str]]:
    with db.read() as unit:
        session = unit.session
        rows = session.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
        return {(name, sql) for name, sql in rows}


def test_a_load_larger_than_the_ledger_keeps_every_index_as_the_schema_has_it(sqlite_db, tmp_path: Path):
    """A load at least as large as its table drops the plain indexes and builds them again: the same ones."""
    from bench.synthetic import write_ledger

    before = _sqlite_indexes(sqlite_db)
    write_ledger(tmp_path / "large", 6_000)
    import_directory(sqlite_db, tmp_path / "large")
    assert _sqlite_indexes(sqlite_db) == before


def test_the_import_leaves_the_garbage_collector_as_it_found_it(db, tmp_path: Path):
    """The import pauses Python's cyclic collector while it runs, whether it succeeds or is refused."""
    import gc

    import_rows(db, **_full_export())
    assert gc.isenabled()
    with pytest.raises(ImportRowError):
        import_rows(db, clients=[client("C1", "Acme Legal")], payments=[payment("PAY-9", "INV-404", "check", "1.00")])
    assert gc.isenabled()
    gc.disable()
    try:
        import_rows(db, **_full_export())
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_small_export_into_a_large_ledger_reads_only_its_own_keys_and_means_the_same(db, tmp_path: Path):
    """A month's export (a few rows) into a ledger many times its size: new rows, unchanged rows, an edit and a
    repeated key are found as in a full read of the tables."""
    invoices = [invoice(f"INV-{n}", "C1", "1000.00") for n in range(60)]
    payments = [payment(f"PAY-{n}", f"INV-{n % 60}", "check", "10.00") for n in range(200)]
    import_rows(db, clients=[client("C1")], invoices=invoices, payments=payments)

    month = {
        "clients": [client("C1")],
        "invoices": [invoice("INV-5", "C1", "1000.00"), invoice("INV-7", "C1", "1200.00"), invoice("INV-NEW", "C1")],
        "payments": [
            payment("PAY-3", "INV-3", "check", "10.00"),  # unchanged
            payment("PAY-4", "INV-4", "check", "12.00"),  # edited
            payment("PAY-NEW", "INV-NEW", "check", "99.00"),
            payment("PAY-O'NEIL", "INV-NEW", "check", "1.00"),  # a quote in a key
        ],
    }
    summary = import_rows(db, **month)
    assert vars(summary.files["invoices.csv"]) == {"created": 1, "edited": 1, "unchanged": 1, "conflicts": 0}
    assert vars(summary.files["payments.csv"]) == {"created": 2, "edited": 1, "unchanged": 1, "conflicts": 0}
    with db.read() as unit:
        assert stored_totals(unit.session) == totals_from_entries(unit.session)
        assert reads.invoice_detail(unit, "INV-NEW").summary.cash_paid_minor == 10000

    month["payments"].append(payment("PAY-NEW", "INV-NEW", "check", "5.00"))
    with pytest.raises(ImportRowError, match="“PAY-NEW” appears twice"):
        import_rows(db, **month)


def test_clients_projects_and_credits_exported_again_are_compared_as_the_careful_path_would(db):
    """A whole re-export of the small files: rows exactly as stored, the same values in another text form, an edit
    among unchanged rows, and a repeat or a claimed name after an unchanged row, as a row-by-row read finds them."""
    import_rows(db, **_full_export())
    export = _full_export()
    export["clients"] = [client("C1", "Acme Legal", " usd "), client("C2", "Birch & Co", "EUR", qb_customer_id="61")]
    export["credits"] = [credit("CR-1", "C1", "300", reason="Discount")]
    summary = import_rows(db, **export)
    assert vars(summary.files["clients.csv"]) == {"created": 0, "edited": 1, "unchanged": 1, "conflicts": 0}
    assert vars(summary.files["credits.csv"]) == {"created": 0, "edited": 0, "unchanged": 1, "conflicts": 0}
    assert vars(summary.files["projects.csv"]) == {"created": 0, "edited": 0, "unchanged": 1, "conflicts": 0}
    with db.read() as unit:
        (edit,) = [line for line in reads.history(unit, "C2")[1] if line.action == "import_edit"]
    assert edit.before == {"name": "Birch Architects", "name_key": "birch architects"}

    before = _counts(db)
    for table, rows, refusal in (
        ("clients", [*_full_export()["clients"], client("C1", "Acme Legal")], "“C1” appears twice"),
        ("clients", [*_full_export()["clients"], client("C3", "acme legal")], "already used by client C1"),
        ("projects", [*_full_export()["projects"]] * 2, "“P1” appears twice"),
        ("credits", [credit("CR-1", "C1", "300.00", reason="Discount")] * 2, "“CR-1” appears twice"),
    ):
        with pytest.raises(ImportRowError, match=refusal):
            import_rows(db, **{**_full_export(), table: rows})
    assert _counts(db) == before


def test_a_small_file_byte_for_byte_as_the_last_import_read_counts_unchanged_and_any_other_is_compared(db):
    """The import's history line keeps each small file's digest and rows; the next import counts a file with that
    digest unchanged without reading it, and compares any other row by row (so a rename and its undo both show)."""
    import_rows(db, **_full_export())
    export = _full_export()
    export["payments"].append(payment("PAY-9", "INV-1", "cash", "1.00"))
    summary = import_rows(db, **export)
    assert vars(summary.files["clients.csv"]) == {"created": 0, "edited": 0, "unchanged": 2, "conflicts": 0}
    assert summary.files["credits.csv"].unchanged == summary.files["projects.csv"].unchanged == 1
    with db.read() as unit:
        (after,) = unit.session.execute(
            text("SELECT after FROM history WHERE action = 'import' ORDER BY id DESC LIMIT 1")
        ).one()
    files = unit.read_json(after)["files"]
    assert set(files) == {"clients.csv", "projects.csv", "credits.csv"} and files["clients.csv"]["rows"] == 2

    renamed = _full_export()
    renamed["clients"][0] = client("C1", "Acme Law")
    assert import_rows(db, **renamed).files["clients.csv"].edited == 1
    assert import_rows(db, **_full_export()).files["clients.csv"].edited == 1  # the first file again: compared
    with db.read() as unit:
        assert reads.client_balance(unit, "C1").client.name == "Acme Legal"


def test_client_currencies_read_by_key_then_all_at_once_answer_as_a_full_read(db):
    """Rows naming more clients than are read one by one (1,000): the rest come in one read, an unknown client is
    still refused by name, and every invoice gets its own client's currency."""
    clients = [client(f"C{n}", currency="EUR" if n % 3 else "JPY") for n in range(1_100)]
    invoices = [invoice(f"INV-{n}", f"C{n}", "1000" if n % 3 == 0 else "10.50") for n in range(1_100)]
    import_rows(db, clients=clients, invoices=invoices)
    with db.read() as unit:
        totals = dict(unit.session.execute(text("SELECT number, total_minor FROM invoice")).all())
    assert totals["INV-0"] == 1000 and totals["INV-1"] == 1050 and len(totals) == 1_100
    with pytest.raises(ImportRowError, match="“NOPE” is not in the ledger or in this import"):
        import_rows(db, clients=clients, invoices=[*invoices, invoice("INV-X", "NOPE")])
