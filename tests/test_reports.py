"""Reports and the reads behind Slack's forms and home tab, on real SQLite and PostgreSQL ledgers.

A report streams its rows (one SQL statement, a batch at a time), so its totals are the database's own; a grouped
report sums to the same as the list it groups. The typeahead matches clients as `find_client` does, from an index.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger import operations, reports
from ledger.approvals import WriteRequest
from ledger.lookup import find_client, matching_clients
from ledger.reports import ReportNotAvailable, ReportRequest
from tests.builders import client, credit, import_rows, invoice, payment


@pytest.fixture
def ledger_with_applications(db):
    import_rows(
        db,
        clients=[client("C1", "Acme Legal LLP"), client("C2", "Northwind Tax"), client("C3", "Acme Studio", "EUR")],
        projects=[{"project_id": "P1", "client_id": "C1", "name": "Patents"}],
        invoices=[invoice("INV-1"), invoice("INV-2"), invoice("INV-3", "C2"), invoice("INV-4", "C3")],
        credits=[credit("CR-1", amount="900.00"), credit("CR-2", "C2", "50.00"), credit("CR-3", "C3", "80.00")],
        payments=[payment("PAY-1", "INV-1", "check", "100.00")],
    )
    by = WriteRequest("test", "k")
    with db.write() as unit:
        operations.apply_credit(unit, "INV-1", "200.00", "P1", WriteRequest("test", "a1"))
        operations.apply_credit(unit, "INV-2", "300.00", None, WriteRequest("test", "a2"))
        operations.apply_credit(unit, "INV-4", "20.00", None, WriteRequest("test", "a3"))
        undone = operations.apply_credit(unit, "INV-2", "10.00", None, WriteRequest("test", "a4"))
        operations.reverse_application(unit, undone.application_id, by)
    return db


def rows_of(db, request: ReportRequest) -> tuple[tuple[str, ...], list[tuple]]:
    with db.read() as unit:
        report = reports.report(unit, request)
        return report.columns, list(report.rows)


def test_unapplied_lists_what_each_client_holds_now(ledger_with_applications):
    columns, rows = rows_of(ledger_with_applications, ReportRequest("unapplied"))
    assert columns == ("client_id", "client", "currency", "issued", "applied", "unapplied")
    assert rows == [
        ("C1", "Acme Legal LLP", "USD", "900.00", "500.00", "400.00"),
        ("C2", "Northwind Tax", "USD", "50.00", "0.00", "50.00"),
        ("C3", "Acme Studio", "EUR", "80.00", "20.00", "60.00"),
    ]


def test_applied_leaves_reversed_applications_out_and_groups_by_project(ledger_with_applications):
    _, each = rows_of(ledger_with_applications, ReportRequest("applied"))
    assert [(row[4], row[7]) for row in each] == [("INV-1", "200.00"), ("INV-2", "300.00"), ("INV-4", "20.00")]
    _, by_project = rows_of(ledger_with_applications, ReportRequest("applied", by="project"))
    assert by_project == [
        ("C1", "Acme Legal LLP", None, "USD", 1, "300.00"),
        ("C1", "Acme Legal LLP", "P1", "USD", 1, "200.00"),
        ("C3", "Acme Studio", None, "EUR", 1, "20.00"),
    ]


def test_grouped_report_sums_to_its_list_per_currency(ledger_with_applications):
    totals = {}
    for by in (None, "client", "project", "month"):
        with ledger_with_applications.read() as unit:
            report, summary = reports.summarize(reports.report(unit, ReportRequest("applied", by=by)))
            list(report.rows)
        totals[by] = summary.totals["applied"]
    assert totals[None] == {"USD": Decimal("500.00"), "EUR": Decimal("20.00")}
    assert totals["client"] == totals["project"] == totals["month"] == totals[None]


def test_a_report_for_one_client_and_dates(ledger_with_applications):
    today = date.today()
    _, rows = rows_of(ledger_with_applications, ReportRequest("activity", client="acme legal", start=today, end=today))
    assert rows and {row[5] for row in rows} == {"C1"}
    _, before = rows_of(
        ledger_with_applications, ReportRequest("applied", start=date(2000, 1, 1), end=date(2000, 2, 1))
    )
    assert before == []


@pytest.mark.parametrize(
    "request_, words",
    [
        (ReportRequest("owed"), "no “owed” report"),
        (ReportRequest("unapplied", by="project"), "never to a project"),
        (ReportRequest("unapplied", start=date(2026, 1, 1)), "what clients hold now"),
        (ReportRequest("applied", start=date(2026, 2, 1), end=date(2026, 1, 1)), "after --to"),
        (ReportRequest("findings", by="project"), "not project tags"),
    ],
)
def test_a_report_that_cannot_be_made_says_why(ledger_with_applications, request_, words):
    with pytest.raises(ReportNotAvailable, match=words), ledger_with_applications.read() as unit:
        reports.report(unit, request_)


def test_home_summary_shows_holders_in_order_and_the_latest_credit_actions(ledger_with_applications):
    with ledger_with_applications.read() as unit:
        home = reports.home_summary(unit)
    assert [(h.client.id, h.unapplied_minor) for h in home.top_holders] == [("C1", 40000), ("C3", 6000), ("C2", 5000)]
    assert [action.action for action in home.recent][:2] == ["reverse_application", "apply_credit"]
    assert home.quickbooks.entities == 0 and home.quickbooks.last_synced_at is None


def test_apply_choices_offer_only_invoices_with_a_balance_due(ledger_with_applications):
    overpaid = {"invoices": [invoice("INV-5", total="100.00")], "payments": [payment("P5", "INV-5", "check", "150.00")]}
    import_rows(ledger_with_applications, clients=[client("C1", "Acme Legal LLP")], **overpaid)
    with ledger_with_applications.read() as unit:
        choices = reports.apply_choices(unit, "C1")
    assert choices is not None
    assert [i.number for i in choices.balance.invoices] == ["INV-1", "INV-2"]  # INV-5 is overpaid
    assert choices.projects == [("P1", "Patents")]


def test_typeahead_matches_id_prefix_and_any_part_of_the_name(ledger_with_applications):
    with ledger_with_applications.read() as unit:
        assert [c.id for c in matching_clients(unit, "acme")] == ["C1", "C3"]
        assert [c.id for c in matching_clients(unit, "legal")] == ["C1"]
        assert [c.id for c in matching_clients(unit, "C2")] == ["C2"]
        assert [c.id for c in matching_clients(unit, "no")] == ["C2"]
        assert [c.id for c in matching_clients(unit, "50%_")] == []
        assert len(matching_clients(unit, "")) == 3


def test_typeahead_sees_clients_imported_and_renamed_after_the_index_was_made(db):
    import_rows(db, clients=[client("C9", "Zephyr Partners")])
    import_rows(db, clients=[client("C9", "Zephyr Partners Renamed")])
    with db.read() as unit:
        assert [c.id for c in matching_clients(unit, "partners")] == ["C9"]
        assert [c.id for c in matching_clients(unit, "renamed")] == ["C9"]


def test_typeahead_finds_every_client_find_client_would_pick(ledger_with_applications):
    parts = ["acme legal", "ACME STUDIO", "legal l", "northwind", "c3", "wind t", "studio", "me le"]
    with ledger_with_applications.read() as unit:
        for part in parts:
            assert find_client(unit, part).id in [c.id for c in matching_clients(unit, part)], part


@pytest.mark.parametrize("kind", reports.KINDS)
@pytest.mark.parametrize("by", [None, "client", "project", "month"])
def test_every_report_and_grouping_is_made_or_refused_clearly(ledger_with_applications, tmp_path, kind, by):
    from bot.handlers.context import Caller, Context, Services
    from bot.handlers.reports import ReportCommand, report_to_csv
    from bot.settings import Settings

    db = ledger_with_applications
    settings = Settings(_env_file=None, DATABASE_URL=db.url.render_as_string(hide_password=False))
    ctx = Context(Services(settings, db), Caller("U", "T", None, "slack:U", "k"))
    request = ReportRequest(kind, client="acme legal", by=by, start=date(2020, 1, 1), end=date.today())
    if kind == "unapplied":
        request = ReportRequest(kind, client="acme legal", by=by)
    try:
        reply, path = report_to_csv(ctx, ReportCommand(request=request), tmp_path)
    except ReportNotAvailable as refused:
        assert by == "project" or kind == "unapplied", refused.message
        return
    header = path.read_text().splitlines()[0]
    assert reply.text.startswith(request.title) and "row" in reply.text and header
