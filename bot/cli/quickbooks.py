"""`creditbot sync-qb FILE|-`: apply a QuickBooks Online response (change data capture or query) to the ledger."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape

from bot.cli.common import JSON_OPTION, database, out, print_json, refusals_exit
from ledger.money import format_money
from ledger.qbo import SyncSummary, read_feed, sync_feed
from ledger.qbo.errors import QBOFeedError
from ledger.qbo.summary import OverpaymentChange

_KIND_WORDS = {"QBCreditMemo": "credit memo", "QBPayment": "payment received"}


def register(app: typer.Typer) -> None:
    app.command("sync-qb")(sync_qb)


def sync_qb(
    source: str = typer.Argument(
        ..., metavar="FILE|-", help="A QuickBooks Online CDC or query response (JSON); - reads standard input."
    ),
    as_json: bool = JSON_OPTION,
):
    """Follow QuickBooks: invoices posted, credit memos and payments applied there, overpayments (one transaction).

    Re-sending a file, or older versions of its entities, changes nothing. Entities that cannot be matched yet
    (unknown customer or invoice) are listed as problems and tried again by the next sync; the exit code is 0.
    """
    with refusals_exit(as_json):
        name, data = _read(source)
        feed = read_feed(data, name)
        summary = database().transact(sync_feed, feed)
    if as_json:
        print_json(summary.as_json())
        return
    for line in summary_lines(summary):
        out.print(line, soft_wrap=True)


def _read(source: str) -> tuple[str, bytes]:
    if source == "-":
        return "standard input", sys.stdin.buffer.read()
    path = Path(source)
    if path.is_dir():
        raise QBOFeedError(source, "is a folder; give the QuickBooks response file")
    try:
        return path.name, path.read_bytes()
    except FileNotFoundError:
        raise QBOFeedError(source, "no such file") from None
    except OSError as unreadable:
        raise QBOFeedError(source, f"cannot be read ({unreadable.strerror or unreadable})") from None


def summary_lines(summary: SyncSummary) -> list[str]:
    """What changed, then what to look at; rich markup, with text from the feed escaped."""
    lines = [
        f"Synced {summary.entities} QuickBooks entities: {summary.unchanged} already up to date, "
        f"{summary.stale} older versions ignored"
        + (f", {summary.retried} unmatched from earlier syncs tried again." if summary.retried else ".")
    ]
    for posted in summary.invoices_posted:
        lines.append(
            f"Posted: invoice {escape(posted.invoice_number)} (QuickBooks invoice {posted.qb_invoice_id}, "
            f"{posted.posted_at:%Y-%m-%d %H:%M} UTC)"
        )
    for change in summary.payments_recorded:
        lines.append(
            f"Recorded: {format_money(change.amount_minor, change.currency)} "
            f"{_KIND_WORDS.get(change.kind, change.kind)} on invoice {escape(change.invoice_number)} "
            f"(QuickBooks payment {change.qb_payment_id})"
        )
    for change in summary.payments_reversed:
        lines.append(
            f"Reversed: {format_money(change.amount_minor, change.currency)} "
            f"{_KIND_WORDS.get(change.kind, change.kind)} on invoice {escape(change.invoice_number)} "
            f"({escape(change.reason)})"
        )
    for overpayment in summary.overpayments:
        lines.append(_overpayment_line(overpayment))
    for drift in summary.drift:
        lines.append(
            f"[yellow]Drift:[/] invoice {escape(drift.invoice_number)} totals "
            f"{format_money(drift.ledger_total_minor, drift.currency)} here but "
            f"{format_money(drift.qb_total_minor, drift.currency)} in QuickBooks"
            + (" (voided there)" if drift.voided_in_quickbooks else "")
            + "; the ledger's total was kept."
        )
    for problem in summary.problems:
        lines.append(f"[bold yellow]Check:[/] {escape(problem.message)}")
    if summary.other_entities:
        skipped = ", ".join(f"{count} {name}" for name, count in summary.other_entities.items())
        lines.append(f"Skipped entity types the sync does not read: {escape(skipped)}.")
    return lines


def _overpayment_line(overpayment: OverpaymentChange) -> str:
    money = overpayment.currency
    where = f"QuickBooks payment {overpayment.qb_payment_id} (client {escape(overpayment.client_id)})"
    if overpayment.change == "cleared":
        was = format_money(overpayment.previous_minor or 0, money)
        return f"Overpayment cleared: {where} no longer shows unapplied money (it was {was})."
    amount = format_money(overpayment.amount_minor, money)
    return (
        f"Overpayment {overpayment.change}: {amount} unapplied on {where}; it is not in the credit wallet until a "
        "billing admin enters it as client credit."
    )
