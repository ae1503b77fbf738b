"""`creditbot sync-qb FILE|-`: apply a QuickBooks Online response (change data capture or query) to the ledger."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import typer
from rich.markup import escape

from bot.cli.common import JSON_OPTION, database, default_actor, out, print_json, refusals_exit
from bot.handlers.quickbooks import status_sentence
from bot.settings import get_settings, qbo_config
from ledger.approvals import WriteRequest
from ledger.money import decimal_str, format_money
from ledger.qbo import SyncSummary, memos, read_feed, sync_feed
from ledger.qbo.errors import QBOFeedError
from ledger.qbo.live import LiveQuickBooks
from ledger.qbo.poll import poll
from ledger.qbo.summary import OverpaymentChange

_KIND_WORDS = {"QBCreditMemo": "credit memo", "QBPayment": "payment received"}


def register(app: typer.Typer) -> None:
    app.command("sync-qb")(sync_qb)
    qb = typer.Typer(help="The live QuickBooks Online connection: connect, status, poll, apply credit memos.",
                     no_args_is_help=True)  # fmt: skip
    qb.command("connect")(qb_connect)
    qb.command("status")(qb_status)
    qb.command("disconnect")(qb_disconnect)
    qb.command("poll")(qb_poll)
    qb.command("apply-memo")(qb_apply_memo)
    app.add_typer(qb, name="qb")


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


# --- creditbot qb ... (the live connection) -------------------------------------------------------------------


def _live() -> LiveQuickBooks:
    return LiveQuickBooks.open(qbo_config(get_settings()), database())


def qb_connect(
    redirect_url: str | None = typer.Option(
        None, "--redirect-url", help="Finish connecting: the whole address the browser landed on after Connect."
    ),
):
    """Connect creditbot to a QuickBooks company (OAuth 2.0): print the link, then finish with --redirect-url.

    A QuickBooks admin opens the link and clicks Connect. With `creditbot serve` running at QBO_REDIRECT_URI that
    is all; otherwise copy the address the browser lands on and run `creditbot qb connect --redirect-url 'URL'`.
    """
    with refusals_exit(False):
        live = _live()
        if redirect_url is None:
            url = live.connection.authorization_url(default_actor())
            out.print("Open this link as a QuickBooks admin (it works once, for 15 minutes):", soft_wrap=True)
            out.print(escape(url), soft_wrap=True, markup=False)
            return
        status = live.connection.complete(redirect_url, default_actor())
    out.print(f"Connected to QuickBooks company {escape(status.realm_id or '')}.", soft_wrap=True)


def qb_status(as_json: bool = JSON_OPTION):
    """Whether creditbot is connected to QuickBooks, until when its sign-in lasts, and how far it has read."""
    with refusals_exit(as_json):
        status = _live().connection.status()
    if as_json:
        print_json(status.as_json())
        return
    out.print(escape(status_sentence(status)), soft_wrap=True)
    if status.connected:
        for name, moment in (
            ("Access token expires", status.access_expires_at),
            ("Refresh token expires", status.refresh_expires_at),
        ):
            if moment:
                out.print(f"{name}: {moment:%Y-%m-%d %H:%M} UTC")


def qb_disconnect():
    """Revoke creditbot's QuickBooks tokens at Intuit and forget them (polling stops until you connect again)."""
    with refusals_exit(False):
        _live().connection.disconnect(default_actor())
    out.print("Disconnected from QuickBooks: the tokens were revoked and forgotten.")


def qb_poll(as_json: bool = JSON_OPTION):
    """Read what changed in QuickBooks since the last poll and apply it now (change data capture)."""
    with refusals_exit(as_json):
        live = _live()
        memos.send_pending(live.db, live.api)
        result = poll(live.db, live.api)
    if as_json:
        print_json(result.as_json())
        return
    for line in summary_lines(result.summary):
        out.print(line, soft_wrap=True)
    out.print(
        f"Changes read from {result.changed_since:%Y-%m-%d %H:%M:%S} to {result.next_changed_since:%Y-%m-%d %H:%M:%S}"
        f" UTC ({'change data capture' if result.mode == 'cdc' else 'queries'}, {result.pages} pages).",
        soft_wrap=True,
    )
    for note in result.notes:
        out.print(f"Note: {escape(note)}.", soft_wrap=True)


def qb_apply_memo(
    invoice: str = typer.Argument(..., help="The posted invoice's number."),
    amount: str | None = typer.Argument(None, help="How much; default: as much as the memo and the invoice allow."),
    memo: str | None = typer.Option(None, "--memo", help="The QuickBooks credit memo (Id or number)."),
    actor: str | None = typer.Option(None, "--actor", help="Who asks, for the history (default: cli:$USER)."),
    key: str | None = typer.Option(None, "--key", help="Idempotency key: the same key applies the memo once."),
    approved_by: str | None = typer.Option(None, "--approved-by", help="The second billing admin who approved it."),
    as_json: bool = JSON_OPTION,
):
    """Apply a client's QuickBooks credit memo to a posted invoice, in QuickBooks (a $0 payment linking both)."""
    with refusals_exit(as_json):
        live = _live()
        by = WriteRequest(actor or default_actor(), key or f"cli:{uuid.uuid4()}", approved_by=approved_by or None)
        applied = memos.recorded(live.db, by.key)
        if applied is None:
            target = memos.memo_target(live.db, live.api, invoice)
            chosen, amount_minor = memos.choose(target, memo, amount)
            shown = decimal_str(amount_minor, target.currency)
            applied = live.db.transact(memos.record_memo_application, target.invoice_number, chosen.qb_id, shown, by)
        if applied.status == memos.PENDING:
            applied = memos.send(live.db, live.api, applied.action_id)
    if as_json:
        print_json(applied.as_json())
        return
    out.print(escape(memos.sentence(applied)), soft_wrap=True)
