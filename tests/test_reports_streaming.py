"""Reports stream on both backends: a report read part of the way and left (a closed iteration) leaves its unit
usable, and the next report in the same unit reads the same rows as a fresh one. PostgreSQL streams with psycopg's
chunked mode, whose cancel would abort the transaction without the report's savepoint."""

from __future__ import annotations

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
