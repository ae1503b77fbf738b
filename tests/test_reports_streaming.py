"""Reports stream on both backends: a report read part of the way and left (a closed iteration) leaves its unit
usable, and the next report in the same unit reads the same rows as a fresh one. PostgreSQL streams with psycopg's
chunked mode, whose cancel would abort the transaction without the report's savepoint."""

from __future__ import annotations

from decimal import Decimal
from itertools import islice

from ledger import operations, reports
from ledger.approvals import WriteRequest
from ledger.reports import ReportRequest
from ledger.unit import statement
from tests.builders import client, credit, import_rows, invoice


def test_a_report_left_half_read_leaves_the_unit_usable(db, monkeypatch):
    monkeypatch.setattr(reports, "BATCH", 5)  # 40 rows come in 8 batches: the report is left mid-stream
    import_rows(db, clients=[client("C1", "Acme Legal LLP")], credits=[credit("CR-1", amount="900.00")],
                invoices=[invoice(f"INV-{n}", total="10.00") for n in range(40)])  # fmt: skip
    with db.write() as unit:
        for n in range(40):
            operations.apply_credit(unit, f"INV-{n}", "1.00", None, WriteRequest("test", f"a{n}"))
    with db.read() as unit:
        left = reports.report(unit, ReportRequest("applied"))
        assert len(list(islice(left.rows, 3))) == 3
        left.rows.close()  # type: ignore[attr-defined]
        assert unit.one(statement("SELECT count(*) FROM client")) == (1,)
        again = list(reports.report(unit, ReportRequest("applied")).rows)
        by_month = list(reports.report(unit, ReportRequest("applied", by="month")).rows)
    assert len(again) == 40 and [row[-2:] for row in by_month] == [(40, "40.00")]


def test_by_month_is_the_list_grouped_by_month_and_currency(db):
    import_rows(db, clients=[client("C1", "Acme Legal LLP"), client("C2", "Acme Studio", "EUR")],
                credits=[credit("CR-1", amount="900.00"), credit("CR-2", "C2", "90.00")],
                invoices=[invoice("INV-1"), invoice("INV-2"), invoice("INV-3", "C2")])  # fmt: skip
    with db.write() as unit:
        for n, (number, amount) in enumerate([("INV-1", "10.00"), ("INV-2", "2.50"), ("INV-3", "7.25")]):
            operations.apply_credit(unit, number, amount, None, WriteRequest("test", f"a{n}"))
        gone = operations.apply_credit(unit, "INV-3", "1.00", None, WriteRequest("test", "gone"))
        operations.reverse_application(unit, gone.application_id, WriteRequest("test", "r"))
    with db.read() as unit:
        each = list(reports.report(unit, ReportRequest("applied")).rows)
        by_month = list(reports.report(unit, ReportRequest("applied", by="month")).rows)
    expected: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for row in each:
        count, total = expected.get((str(row[1])[:7], row[6]), (0, Decimal(0)))
        expected[(str(row[1])[:7], row[6])] = (count + 1, total + Decimal(row[7]))
    assert [(m, c, n, Decimal(t)) for m, c, n, t in by_month] == [(*k, *v) for k, v in sorted(expected.items())]
    assert [row[1] for row in by_month] == ["EUR", "USD"]
