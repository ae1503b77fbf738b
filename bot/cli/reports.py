"""`creditbot report KIND [CLIENT] [--from DATE --to DATE] [--by client|project|month] [--csv FILE | --json]` and
`--xlsx FILE` (KIND `all`: one sheet per report, for month-end).

The same report as `/credit report` in Slack (ledger.reports), its rows written as they stream from the ledger:
a CSV or JSON file never holds the report in memory; openpyxl's write-only workbook keeps one row at a time.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import TextIO

import typer

from bot.cli.common import database, err, out, refusals_exit
from bot.handlers.reports import summary_text, write_csv
from ledger import reports
from ledger.reports import Report, ReportRequest


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    kind: str = typer.Argument(..., help=f"One of {', '.join(reports.KINDS)}; `all` with --xlsx."),
    client: str | None = typer.Argument(None, help="Only this client (id, name or part of a name)."),
    start: str | None = typer.Option(None, "--from", help="From this day (YYYY-MM-DD)."),
    end: str | None = typer.Option(None, "--to", help="Up to and including this day (YYYY-MM-DD)."),
    by: str | None = typer.Option(None, "--by", help="Group by client, project or month."),
    csv_file: Path | None = typer.Option(None, "--csv", help="Write the full table to this CSV file ('-': stdout)."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON lines for scripts."),
    xlsx_file: Path | None = typer.Option(None, "--xlsx", help="Write an .xlsx workbook, one sheet per report."),
):
    """A report on client credits: a one-line summary, and the full table as CSV, JSON or .xlsx."""
    kinds = list(reports.KINDS) if kind.lower() == "all" else [kind.lower()]
    if kind.lower() == "all" and xlsx_file is None:
        err.print("[bold red]Refused:[/] `all` reports go to a workbook: add --xlsx FILE.")
        raise typer.Exit(2)
    first, last, grouping = _day(start, "--from"), _day(end, "--to"), by.lower() if by else None
    requests = [ReportRequest(k, client, first, last, grouping) for k in kinds]
    db = database()
    with refusals_exit(as_json):
        if xlsx_file is not None:
            _xlsx(db, requests, xlsx_file)
            return
        with db.read() as unit:
            counted, summary = reports.summarize(reports.report(unit, requests[0]))
            if as_json:
                _json_lines(counted, sys.stdout)
            elif csv_file is not None:
                if str(csv_file) == "-":
                    write_csv(counted, sys.stdout)
                else:
                    with csv_file.open("w", newline="", encoding="utf-8") as handle:
                        write_csv(counted, handle)
            else:
                for _ in counted.rows:
                    pass
    line = summary_text(counted, summary)
    (err if as_json or str(csv_file) == "-" else out).print(line + (f" → {csv_file}" if csv_file else ""))


def _json_lines(report: Report, stream: TextIO) -> None:
    for row in report.rows:
        stream.write(json.dumps(dict(zip(report.columns, row, strict=True)), default=str, ensure_ascii=False) + "\n")


def _xlsx(db, requests: list[ReportRequest], path: Path) -> None:  # type: ignore[no-untyped-def]
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    lines = []
    with db.read() as unit:
        for request in requests:
            counted, summary = reports.summarize(reports.report(unit, request))
            sheet = book.create_sheet(title=request.kind[:31])
            sheet.append(list(counted.columns))
            for row in counted.rows:
                sheet.append(["" if value is None else value for value in row])
            lines.append(summary_text(counted, summary))
    book.save(path)
    for line in lines:
        out.print(line)
    out.print(f"→ {path} ({len(requests)} sheet{'s' if len(requests) != 1 else ''})")


def _day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        err.print(f"[bold red]Refused:[/] {flag} takes a date such as 2026-11-30, not “{text}”.")
        raise typer.Exit(2) from None
