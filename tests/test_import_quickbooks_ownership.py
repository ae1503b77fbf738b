"""Who owns which field when the billing system's export and QuickBooks both describe an invoice (rule R4).

The export owns an invoice's client, date and total and its own payments; the posting state (`posted_to_qb_at`,
`qb_invoice_id`) is QuickBooks' once set. A re-import never un-posts; a contradiction is a reported conflict, kept
in the history, never applied; and the order of imports and syncs of the same data does not change the ledger.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import common
from bot.cli import ledger as ledger_cli
from bot.cli import quickbooks as quickbooks_cli
from bot.settings import get_settings
from ledger import reads
from ledger.csv_import.loader import import_directory
from ledger.tables import HistoryEntry, Invoice
from tests.builders import client, empty, import_rows, invoice, payment, write_csv
from tests.qbo_payloads import cdc, ledger_state, link, qbo_invoice, qbo_payment, sync

runner = CliRunner()

# QuickBooks posts INV-1001 as its invoice 130 and records a $200 payment on it.
FEED = cdc(
    Invoice=[qbo_invoice("130", "INV-1001", total=1000.00)],
    Payment=[qbo_payment("170", [link("Invoice", "130", 200.00)])],
)


def export(folder: Path, total: str = "1000.00", **invoice_cells: str) -> Path:
    """The billing system's export: Acme with two invoices and a check; INV-1001's posting cells as given."""
    folder.mkdir(exist_ok=True)
    write_csv(folder, "clients.csv", [client("C1", "Acme Legal", qb_customer_id="58")])
    write_csv(
        folder,
        "invoices.csv",
        [invoice("INV-1001", "C1", total, **invoice_cells), invoice("INV-1002", "C1", "500.00")],
        fieldnames=["invoice_number", "client_id", "issued_on", "total", "posted_to_qb_at", "qb_invoice_id"],
    )
    write_csv(folder, "credits.csv", [{"credit_id": "CR-1", "client_id": "C1", "amount": "300.00",
                                        "issued_on": "2026-10-02"}])  # fmt: skip
    write_csv(folder, "payments.csv", [payment("P-1", "INV-1002", "check", "100.00")])
    return folder


@pytest.fixture
def creditbot(db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`creditbot ...` on the test's database (SQLite or PostgreSQL), as a user types it."""
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    common.database.cache_clear()
    app = typer.Typer(pretty_exceptions_enable=False)
    ledger_cli.register(app)
    quickbooks_cli.register(app)

    def run(*args: str):
        return runner.invoke(app, list(args))

    yield run
    common.database().dispose()
    get_settings.cache_clear()
    common.database.cache_clear()


def posting(db, number: str = "INV-1001") -> tuple[bool, str | None]:
    with db.read() as unit:
        row = unit.session.exec(select(Invoice).where(Invoice.number == number)).one()
        return row.posted_to_qb_at is not None, row.qb_invoice_id


def test_a_re_import_never_un_posts_an_invoice_quickbooks_posted(db, creditbot, tmp_path):
    folder = export(tmp_path / "export")
    feed = tmp_path / "cdc.json"
    feed.write_text(json.dumps(FEED), encoding="utf-8")
    assert creditbot("import", str(folder)).exit_code == 0
    assert creditbot("sync-qb", str(feed)).exit_code == 0
    assert posting(db) == (True, "130")

    again = creditbot("import", str(folder))
    assert again.exit_code == 0, again.output
    assert "invoices.csv: 0 new, 0 edited, 2 unchanged" in again.output
    assert posting(db) == (True, "130")
    refused = creditbot("apply", "INV-1001", "50")
    assert refused.exit_code == 1 and "was posted to QuickBooks" in refused.output
    assert "already up to date" in creditbot("sync-qb", str(feed)).output


def test_an_export_that_contradicts_quickbooks_is_a_conflict_kept_out_and_in_the_history(db, creditbot, tmp_path):
    feed = tmp_path / "cdc.json"
    feed.write_text(json.dumps(FEED), encoding="utf-8")
    creditbot("import", str(export(tmp_path / "first")))
    creditbot("sync-qb", str(feed))

    contradicting = export(tmp_path / "second", qb_invoice_id="999", total="1100.00")
    result = creditbot("import", str(contradicting))
    assert result.exit_code == 0, result.output
    assert "invoices.csv: 0 new, 1 edited, 1 unchanged, 1 conflicts kept out" in result.output
    assert "Conflict: invoices.csv line 2: invoice INV-1001 qb_invoice_id is '130' in the ledger" in result.output
    assert posting(db) == (True, "130")  # QuickBooks' value stays; the total, the billing system's, changed
    with db.read() as unit:
        assert reads.invoice_detail(unit, "INV-1001").summary.total_minor == 110000
        [line] = unit.session.exec(select(HistoryEntry).where(HistoryEntry.action == "import_conflict")).all()
    assert (line.outcome, line.before, line.after) == ("refused", {"qb_invoice_id": "130"}, {"qb_invoice_id": "999"})

    as_json = json.loads(creditbot("import", str(contradicting), "--json").output)
    assert as_json["imported"]["invoices.csv"]["conflicts"] == 1
    assert len(as_json["imported"]["conflicts"]) == 1


def test_an_export_may_post_an_invoice_not_posted_yet(db):
    import_rows(db, clients=[client("C1", qb_customer_id="58")], invoices=[invoice("INV-1")])
    summary = import_rows(
        db,
        clients=[client("C1", qb_customer_id="58")],
        invoices=[invoice("INV-1", posted_to_qb_at="2026-10-05T16:30:00Z", qb_invoice_id="130")],
    )
    assert summary.files["invoices.csv"].edited == 1 and summary.conflicts == []
    assert posting(db, "INV-1") == (True, "130")


def test_an_empty_posting_cell_is_no_news(db):
    import_rows(db, clients=[client("C1", qb_customer_id="58")], invoices=[invoice("INV-1001")])
    sync(db, FEED)
    summary = import_rows(db, clients=[client("C1", qb_customer_id="58")], invoices=[invoice("INV-1001")])
    assert (summary.files["invoices.csv"].unchanged, summary.conflicts) == (1, [])
    assert posting(db) == (True, "130")


def test_quickbooks_changes_synced_before_the_import_are_applied_by_the_import(db):
    import_rows(db, clients=[client("C1", qb_customer_id="58")])
    early = sync(db, FEED)  # INV-1001 is not in the ledger yet: kept unresolved
    assert {problem.code for problem in early.problems} >= {"unknown_invoice"}
    summary = import_rows(db, clients=[client("C1", qb_customer_id="58")], invoices=[invoice("INV-1001")])
    assert summary.quickbooks is not None and [p.invoice_number for p in summary.quickbooks.invoices_posted] == [
        "INV-1001"
    ]
    assert posting(db) == (True, "130")
    with db.read() as unit:
        assert reads.invoice_detail(unit, "INV-1001").summary.cash_paid_minor == 20000


def test_an_import_is_an_event_of_the_history_naming_who_and_which_folder(db, creditbot, tmp_path):
    folder = export(tmp_path / "export")
    creditbot("import", str(folder))
    with db.read() as unit:
        lines = reads.invoice_history(unit, reads.find_invoice(unit, "INV-1001"))
    [line] = [line for line in lines if line.action == "import"]
    assert line.actor.startswith("cli:") and line.subject == str(folder)
    assert "invoices.csv: 2 new" in line.detail
    assert "Nothing recorded yet" not in creditbot("history", "INV-1001").output


# --- any interleaving of imports and syncs of the same data ends in the same ledger ---------------------------

BOTH = {"import", "sync"}
STEPS = st.lists(st.sampled_from(sorted(BOTH)), min_size=2, max_size=6).filter(lambda steps: set(steps) == BOTH)
CELLS = st.sampled_from([{}, {"qb_invoice_id": "130"}])


def run_steps(db, tmp_path: Path, steps: list[str], cells: dict[str, str]) -> dict:
    empty(db)
    folder = export(tmp_path / "interleaved", **cells)
    for step in steps:
        if step == "import":
            import_directory(db, folder)
        else:
            sync(db, FEED)
    state = ledger_state(db)
    with db.read() as unit:
        numbers = {row.id: row.number for row in unit.session.exec(select(Invoice))}  # ids differ between runs
        state["live_payments"] = [(numbers[invoice_id], *rest) for invoice_id, *rest in state["live_payments"]]
        balance = reads.client_balance(unit, "C1")
        state["balance"] = balance.as_json()
        state["history_conflicts"] = len(
            unit.session.exec(select(HistoryEntry).where(HistoryEntry.action == "import_conflict")).all()
        )
    return state


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS, cells=CELLS)
def test_any_interleaving_of_imports_and_syncs_ends_in_the_same_ledger(db, tmp_path, steps, cells):
    expected = run_steps(db, tmp_path, ["import", "sync"], cells)
    assert run_steps(db, tmp_path, steps, cells) == expected
