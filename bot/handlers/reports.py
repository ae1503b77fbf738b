"""`/credit report unapplied|applied|findings|activity [CLIENT] [--from DATE --to DATE] [--by client|project|month]`.

The same grammar for Slack, the console and the command line. The answer is a short summary (rows, totals per
currency); the full table goes to a file written while the rows stream from the ledger (CSV here; the command line
also writes JSON and .xlsx), so a report over a million payments never sits in memory. Reports are reads: anyone
may ask for one.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import ClassVar, TextIO

from bot.handlers import grammar
from bot.handlers.context import Context
from bot.handlers.grammar import Command, Syntax
from bot.handlers.reply import Reply
from bot.render import blocks
from ledger import reports
from ledger.reports import Report, ReportRequest, Summary

USAGE = "report unapplied|applied|findings|activity [CLIENT] [--from DATE --to DATE] [--by client|project|month]"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ReportCommand(Command):
    name: ClassVar[str] = "report"
    request: ReportRequest


def _parse(words: list[str], rest: str) -> Command:
    syntax = grammar.SUBCOMMANDS["report"]
    if not words:
        raise syntax.refuse(f"Which report? One of {', '.join(reports.KINDS)}.")
    kind, words = words[0].lower(), words[1:]
    if kind not in reports.KINDS:
        raise syntax.refuse(f"There is no “{kind}” report: choose one of {', '.join(reports.KINDS)}.")
    options: dict[str, str] = {}
    client: list[str] = []
    at = 0
    while at < len(words):
        word = words[at]
        flag = word.lower()
        if flag in ("--from", "--to", "--by"):
            if at + 1 >= len(words):
                raise syntax.refuse(f"`{flag}` needs a value after it.")
            if flag in options:
                raise syntax.refuse(f"Give `{flag}` once.")
            options[flag] = words[at + 1]
            at += 2
            continue
        if flag.startswith("--"):
            raise syntax.refuse(f"I don't know the option “{word}”: reports take --from, --to and --by.")
        client.append(word)
        at += 1
    by = options.get("--by")
    if by is not None and by.lower() not in reports.GROUPINGS:
        raise syntax.refuse(f"`--by` is one of {', '.join(reports.GROUPINGS)}, not “{by}”.")
    request = ReportRequest(
        kind=kind,
        client=" ".join(client) or None,
        start=_day(options.get("--from"), "--from", syntax),
        end=_day(options.get("--to"), "--to", syntax),
        by=by.lower() if by else None,
    )
    return ReportCommand(request=request)


def _day(text: str | None, flag: str, syntax: Syntax) -> date | None:
    if text is None:
        return None
    try:
        if not _DAY.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise syntax.refuse(f"`{flag}` takes a date such as 2026-11-30, not “{text}”.") from None


grammar.add_subcommand(
    Syntax(
        "report", USAGE, "report applied --by client --from 2026-11-01", "A report, with the full table as CSV.", _parse
    )
)


# --- answering -----------------------------------------------------------------------------------------------


def report(ctx: Context, command: ReportCommand) -> Reply:
    """The report's summary (the console and anything without a file to attach)."""
    with ctx.db.read() as unit:
        counted, summary = reports.summarize(reports.report(unit, command.request))
        for _ in counted.rows:
            pass
    return summary_reply(counted, summary, None)


def report_to_csv(ctx: Context, command: ReportCommand, directory: Path) -> tuple[Reply, Path]:
    """The report's summary, and its full table written to a CSV file in `directory` as the rows stream."""
    path = directory / file_name(command.request, "csv")
    with ctx.db.read() as unit, path.open("w", newline="", encoding="utf-8") as handle:
        counted, summary = reports.summarize(reports.report(unit, command.request))
        write_csv(counted, handle)
    return summary_reply(counted, summary, path.name), path


def write_csv(report: Report, handle: TextIO) -> None:
    writer = csv.writer(handle)
    writer.writerow(report.columns)
    writer.writerows(_cells(report.rows))


def _cells(rows: Iterator[tuple]) -> Iterator[tuple]:
    for row in rows:
        yield tuple("" if value is None else value for value in row)


def file_name(request: ReportRequest, extension: str) -> str:
    parts = [request.kind, f"by-{request.by}" if request.by else ""]
    if request.client:
        parts.append(re.sub(r"[^A-Za-z0-9]+", "-", request.client).strip("-")[:40])
    if request.start or request.end:
        parts.append(f"{request.start or 'start'}-to-{request.end or 'now'}")
    return "-".join(part for part in parts if part) + f".{extension}"


def summary_text(report: Report, summary: Summary) -> str:
    rows = f"{summary.rows} row{'s' if summary.rows != 1 else ''}"
    totals = []
    for column, by_currency in summary.totals.items():
        amounts = ", ".join(f"{currency} {amount:,}" for currency, amount in sorted(by_currency.items()))
        totals.append(f"{column} {amounts}")
    return f"{report.request.title}: {rows}" + (f" · {' · '.join(totals)}" if totals else "")


def summary_reply(report: Report, summary: Summary, attached: str | None) -> Reply:
    text = summary_text(report, summary)
    note = (
        f"The full table is attached as {attached}."
        if attached
        else "`creditbot report ... --csv FILE` writes the full table."
    )
    return Reply(text=text, blocks=blocks.message(f":bar_chart: *{blocks.esc(text)}*", blocks.esc(note)))
