"""The ledger's commands for operators and scripts: balance, invoice, issue, apply, reverse, history, import, db;
and issue 17's move, transfer, refund, write-off, apply-all, credits, expire-credits."""

from __future__ import annotations

import sqlite3
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bot.cli.common import JSON_OPTION, database, default_actor, out, print_json, refusals_exit
from bot.settings import get_settings, open_database, scan_options
from ledger import reads
from ledger.errors import ImportRowError, LedgerError
from ledger.money import decimal_str
from ledger.text import ACTOR_CHARS, KEY_CHARS, REASON_CHARS, checked_text

# The reads (balance, invoice, credits, history) run on plain SQL (`read(plain=True)`: on a SQLite file, the stdlib's
# sqlite3 without SQLAlchemy): what only the writes, the import, the demo and the backup use is imported in their
# commands, so a read loads neither SQLAlchemy, SQLModel nor the operations (tests/test_cli_lean.py).
if TYPE_CHECKING:
    from ledger.approvals import WriteRequest
    from ledger.credit_ops.wallets import OutflowResult
    from ledger.csv_import.loader import ImportSummary
    from ledger.db import Database

ACTOR_OPTION = typer.Option(None, "--actor", help="Who is acting, for the history. Default: cli:$USER.")
KEY_OPTION = typer.Option(None, "--key", help="Idempotency key: repeating a request with the same key changes nothing.")
APPROVED_BY_OPTION = typer.Option(
    None,
    "--approved-by",
    help="Who approved this write when it is above CREDITBOT_APPROVAL_THRESHOLD (recorded in the history).",
)


def register(app: typer.Typer) -> None:
    app.command("balance")(balance)
    app.command("invoice")(invoice)
    # A negative amount ("issue acme -5") is an argument to refuse with the amount's message, not an unknown option.
    negative_is_an_argument = {"ignore_unknown_options": True}
    app.command("issue", context_settings=negative_is_an_argument)(issue)
    app.command("apply", context_settings=negative_is_an_argument)(apply)
    app.command("reverse")(reverse)
    app.command("move")(move)
    app.command("transfer")(transfer)
    app.command("refund")(refund)
    app.command("write-off")(write_off)
    app.command("apply-all")(apply_all_command)
    app.command("credits")(credits)
    app.command("expire-credits")(expire_credits)
    app.command("history")(history)
    app.command("import")(import_command)
    app.command("demo")(demo)
    db_app = typer.Typer(help="The database schema (Alembic migrations).", no_args_is_help=True)
    db_app.command("upgrade")(db_upgrade)
    db_app.command("current")(db_current)
    db_app.command("backup")(db_backup)
    db_app.command("check")(db_check)
    app.add_typer(db_app, name="db")


def balance(client: str = typer.Argument(..., help="Client id, name, or part of a name."), as_json: bool = JSON_OPTION):
    """A client's available credit and open invoices, with cash, credits and credit memos apart."""
    with refusals_exit(as_json), database().read(plain=True) as unit:
        result = reads.client_balance(unit, client)
    if as_json:
        print_json(result.as_json())
    else:
        from bot.cli.tables import balance_table  # rich: only for a table

        out.print(balance_table(result))


def invoice(number: str = typer.Argument(..., help="Invoice number."), as_json: bool = JSON_OPTION):
    """An invoice's payment history (each kind spelled out), balance due, posting state and changes."""
    with refusals_exit(as_json), database().read(plain=True) as unit:
        detail = reads.invoice_detail(unit, number)
    if as_json:
        print_json(detail.as_json())
        return
    from bot.cli.tables import history_table, invoice_table

    out.print(invoice_table(detail))
    if detail.history:
        out.print(history_table(f"invoice {detail.summary.number}", detail.history))


def issue(
    client: str = typer.Argument(..., help="Client id, name, or part of a name."),
    amount: str = typer.Argument(..., help="Amount in the client's currency, e.g. 250.00"),
    reason: str = typer.Option(..., "--reason", help="Why the client gets this credit."),
    expires: str | None = typer.Option(None, "--expires", help="Usable through this date (YYYY-MM-DD)."),
    actor: str | None = ACTOR_OPTION,
    key: str | None = KEY_OPTION,
    approved_by: str | None = APPROVED_BY_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Issue a credit to a client's wallet."""
    from bot.render import sentences
    from ledger import operations

    with refusals_exit(as_json):
        by = _request(actor, key, approved_by)
        reason = checked_text(reason, "reason", REASON_CHARS, free_text=True)
        result = database().transact(operations.issue_credit, client, amount, reason, by, expires_on=expires)
    money = result.currency
    if as_json:
        print_json(
            {
                "credit_id": result.credit_id,
                "amount": decimal_str(result.amount_minor, money),
                "client": {"id": result.client_id, "name": result.client_name, "currency": money},
                "available_credit": decimal_str(result.available_after_minor, money),
                "expires_on": expires,
                "replayed": result.replayed,
            }
        )
        return
    out.print(sentences.issued(result))


def apply(
    invoice_number: str = typer.Argument(..., metavar="INVOICE", help="Invoice number."),
    amount: str | None = typer.Argument(None, help="Amount; default: as much as possible."),
    project: str | None = typer.Option(None, "--project", help="Tag the credit with one of the client's projects."),
    actor: str | None = ACTOR_OPTION,
    key: str | None = KEY_OPTION,
    approved_by: str | None = APPROVED_BY_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Apply the client's credit to an invoice (recorded as an AccountCredit payment)."""
    from bot.render import sentences
    from ledger import operations

    db = database()
    with refusals_exit(as_json):
        by = _request(actor, key, approved_by)
        result = db.transact(operations.apply_credit, invoice_number, amount, project, by)
    if as_json:
        with db.read() as unit:
            detail = reads.invoice_detail(unit, result.invoice_number)
        print_json(
            {
                "application_id": result.application_id,
                "amount": decimal_str(result.amount_minor, result.currency),
                "invoice": detail.summary.as_json(result.currency),
                "available_credit": decimal_str(result.available_after_minor, result.currency),
                "replayed": result.replayed,
            }
        )
        return
    out.print(sentences.applied(result))


def reverse(
    application_id: int = typer.Argument(..., help="The credit application's id (#) from apply or the invoice."),
    amount: str | None = typer.Argument(None, help="Reverse only this much; default: all that is still applied."),
    reason: str = typer.Option("", "--reason", help="Why it is reversed."),
    actor: str | None = ACTOR_OPTION,
    key: str | None = KEY_OPTION,
    approved_by: str | None = APPROVED_BY_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Reverse a credit application: the credit returns to the wallet and the invoice owes it again."""
    from bot.render import credit_sentences
    from ledger import operations

    with refusals_exit(as_json):
        by = _request(actor, key, approved_by)
        reason = checked_text(reason, "reason", REASON_CHARS, free_text=True)
        result = database().transact(operations.reverse_application, application_id, by, reason=reason, amount=amount)
    money = result.currency
    if as_json:
        print_json(
            {
                "application_id": result.application_id,
                "reversal_id": result.reversal_id,
                "amount": decimal_str(result.amount_minor, money),
                "invoice_number": result.invoice_number,
                "balance_due": decimal_str(result.balance_due_after_minor, money),
                "available_credit": decimal_str(result.available_after_minor, money),
                "remaining": decimal_str(result.remaining_minor, money),
                "remaining_application_id": result.remaining_application_id,
                "replayed": result.replayed,
            }
        )
        return
    out.print(credit_sentences.reversed_part(result))


def move(
    application_id: int = typer.Argument(..., help="The credit application's id (#)."),
    invoice_number: str = typer.Argument(..., metavar="INVOICE", help="Another invoice of the same client."),
    amount: str | None = typer.Argument(None, help="Move only this much; default: all that is still applied."),
    reason: str = typer.Option("", "--reason", help="Why it is moved."),
    actor: str | None = ACTOR_OPTION,
    key: str | None = KEY_OPTION,
    approved_by: str | None = APPROVED_BY_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Move a credit application (or part of it) to another invoice of the same client, in one transaction."""
    from bot.render import credit_sentences
    from ledger.credit_ops import reversals

    with refusals_exit(as_json):
        by = _request(actor, key, approved_by)
        result = database().transact(
            reversals.move_application, application_id, invoice_number, by, amount=amount, reason=reason
        )
    money = result.currency
    if as_json:
        print_json(
            {
                "application_id": result.application_id,
                "new_application_id": result.new_application_id,
                "remaining_application_id": result.remaining_application_id,
                "amount": decimal_str(result.amount_minor, money),
                "from_invoice": {"number": result.from_invoice,
                                 "balance_due": decimal_str(result.from_balance_due_after_minor, money)},
                "to_invoice": {"number": result.to_invoice,
                               "balance_due": decimal_str(result.to_balance_due_after_minor, money)},
                "available_credit": decimal_str(result.available_minor, money),
                "replayed": result.replayed,
            }
        )  # fmt: skip
        return
    out.print(credit_sentences.moved(result))


def transfer(
    from_client: str = typer.Argument(..., help="The client giving credit (id, name, or part of a name)."),
    to_client: str = typer.Argument(..., help="The client receiving it (same currency)."),
    amount: str = typer.Argument(..., help="Amount, e.g. 500.00"),
    reason: str = typer.Option(..., "--reason", help="Why the credit moves (e.g. it belongs to the subsidiary)."),
    actor: str | None = ACTOR_OPTION,
    key: str | None = KEY_OPTION,
    approved_by: str | None = APPROVED_BY_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Transfer available credit to a related client, both wallets in one transaction."""
    from bot.render import credit_sentences
    from ledger.credit_ops import wallets

    with refusals_exit(as_json):
        by = _request(actor, key, approved_by)
        result = database().transact(wallets.transfer_credit, from_client, to_client, amount, reason, by)
    money = result.currency
    if as_json:
        print_json(
            {
                "transfer_id": result.transfer_id,
                "amount": decimal_str(result.amount_minor, money),
                "from_client": {"id": result.from_client_id, "name": result.from_client_name, "currency": money,
                                "available_credit": decimal_str(result.from_available_after_minor, money)},
                "to_client": {"id": result.to_client_id, "name": result.to_client_name, "currency": money,
                              "available_credit": decimal_str(result.to_available_after_minor, money)},
                "replayed": result.replayed,
            }
        )  # fmt: skip
        return
    out.print(credit_sentences.transferred(result))


def refund(
    client: str = typer.Argument(..., help="Client id, name, or part of a name."),
    amount: str = typer.Argument(..., help="Amount to pay out, e.g. 200.00"),
    reason: str = typer.Option(..., "--reason", help="Why the credit is refunded."),
    reference: str | None = typer.Option(None, "--reference", help="The refund receipt's reference (default: RF-N)."),
    actor: str | None = ACTOR_OPTION,
    key: str | None = KEY_OPTION,
    approved_by: str | None = APPROVED_BY_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Refund available credit as money, with a receipt reference for the billing system and QuickBooks."""
    from bot.render import credit_sentences
    from ledger.credit_ops import wallets

    with refusals_exit(as_json):
        by = _request(actor, key, approved_by)
        result = database().transact(wallets.refund_credit, client, amount, reason, by, reference=reference)
    if as_json:
        print_json({**_outflow_json(result), "refund_id": result.refund_id, "reference": result.reference,
                    "follow_status": "pending"})  # fmt: skip
        return
    out.print(credit_sentences.refunded(result))


def write_off(
    client: str = typer.Argument(..., help="Client id, name, or part of a name."),
    amount: str = typer.Argument(..., help="Amount to write off, e.g. 35.00"),
    reason: str = typer.Option(..., "--reason", help="Why the credit is written off."),
    actor: str | None = ACTOR_OPTION,
    key: str | None = KEY_OPTION,
    approved_by: str | None = APPROVED_BY_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Write off available credit the client will not use."""
    from bot.render import credit_sentences
    from ledger.credit_ops import wallets

    with refusals_exit(as_json):
        by = _request(actor, key, approved_by)
        result = database().transact(wallets.write_off_credit, client, amount, reason, by)
    if as_json:
        print_json({**_outflow_json(result), "write_off_id": result.credit_id})
        return
    out.print(credit_sentences.written_off(result))


def _outflow_json(result: OutflowResult) -> dict[str, object]:
    money = result.currency
    return {
        "credit_id": result.credit_id,
        "amount": decimal_str(result.amount_minor, money),
        "client": {"id": result.client_id, "name": result.client_name, "currency": money},
        "available_credit": decimal_str(result.available_after_minor, money),
        "replayed": result.replayed,
    }


def apply_all_command(
    client: str = typer.Argument(..., help="Client id, name, or part of a name."),
    oldest_first: bool = typer.Option(False, "--oldest-first", help="Oldest invoices first (the default)."),
    largest_first: bool = typer.Option(False, "--largest-first", help="Largest balances due first."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; change nothing."),
    actor: str | None = ACTOR_OPTION,
    key: str | None = KEY_OPTION,
    approved_by: str | None = APPROVED_BY_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Spread the client's available credit over its unposted open invoices, in one transaction."""
    from bot.render import credit_sentences
    from ledger.credit_ops import apply_all

    if oldest_first and largest_first:
        raise typer.BadParameter("choose one order: --oldest-first or --largest-first")
    with refusals_exit(as_json):
        order = apply_all.LARGEST_FIRST if largest_first else apply_all.OLDEST_FIRST
        by = _request(actor, key, approved_by)
        result = database().transact(apply_all.apply_all, client, by, order=order, dry_run=dry_run)
    if as_json:
        print_json(apply_all.as_json(result))
        return
    out.print(credit_sentences.applied_all(result))
    for line in credit_sentences.apply_all_lines(result):
        out.print(f"  • {line}")


def credits(
    client: str | None = typer.Argument(None, help="Client id, name, or part of a name; default: every client."),
    date_from: str | None = typer.Option(None, "--from", help="Entries on or after this date (YYYY-MM-DD)."),
    date_to: str | None = typer.Option(None, "--to", help="Entries on or before this date (YYYY-MM-DD)."),
    min_amount: str | None = typer.Option(None, "--min", help="Entries of at least this amount."),
    max_amount: str | None = typer.Option(None, "--max", help="Entries of at most this amount."),
    kind: str | None = typer.Option(None, "--kind", help=f"One of: {', '.join(reads.ENTRY_KINDS)}."),
    project: str | None = typer.Option(None, "--project", help="Applications tagged with this project."),
    page: int = typer.Option(1, "--page", help="Page number (1, 2, ...)."),
    page_size: int = typer.Option(reads.PAGE_SIZE, "--page-size", help="Entries per page (1-500)."),
    as_json: bool = JSON_OPTION,
):
    """Credit entries (issued, applied, reversed, refunded, written off, expired, transferred), newest first."""
    search = reads.CreditFilter(client, date_from, date_to, min_amount, max_amount, kind, project, page, page_size)
    with refusals_exit(as_json), database().read(plain=True) as unit:
        found = reads.credit_entries(unit, search)
    if as_json:
        print_json(found.as_json())
        return
    from bot.render import credit_sentences  # the sentences' module loads SQLAlchemy: only for text

    for entry in found.entries:
        out.print(credit_sentences.credit_entry_line(entry), markup=False)
    out.print(credit_sentences.credit_search_footer(found).replace("`", ""))


def expire_credits(as_json: bool = JSON_OPTION):
    """Record the credit that expired in every wallet whose credits passed their expiry date."""
    from ledger.credit_ops import expiry

    with refusals_exit(as_json):
        expired = database().transact(expiry.expire_credits)
    if as_json:
        print_json({"expired": [{"client": {"id": e.client_id, "name": e.client_name, "currency": e.currency},
                                 "amount": decimal_str(e.amount_minor, e.currency)} for e in expired]})  # fmt: skip
        return
    for e in expired:
        out.print(f"{e.client_name}: {decimal_str(e.amount_minor, e.currency)} {e.currency} expired.")
    if not expired:
        out.print("No credit has expired since the last sweep.")


def history(
    client_or_invoice: str = typer.Argument(..., metavar="CLIENT|INVOICE", help="An invoice number or a client."),
    as_json: bool = JSON_OPTION,
):
    """Every recorded change (and refused write) of an invoice or a client: who, when, before and after."""
    with refusals_exit(as_json), database().read(plain=True) as unit:
        title, lines = reads.history(unit, client_or_invoice)
    if as_json:
        print_json({"of": title, "history": [line.as_json() for line in lines]})
    else:
        from bot.cli.tables import history_table

        out.print(history_table(title, lines))


def import_command(
    directory: Path = typer.Argument(..., help="Folder with clients.csv and optionally projects, invoices, ..."),
    as_json: bool = JSON_OPTION,
):
    """Import the billing system's CSV export (one transaction; re-importing changes nothing)."""
    from rich.markup import escape

    db = database()
    with refusals_exit(as_json):
        if not directory.is_dir():
            raise ImportRowError(str(directory), None, None, "this is not a folder")
        summary = _import_with_progress(db, directory, show=sys.stderr.isatty() and not as_json)
    if as_json:
        print_json({"imported": summary.as_json()})
        return
    for name, counts in summary.files.items():
        kept_out = f", {counts.conflicts} conflicts kept out" if counts.conflicts else ""
        out.print(f"{name}: {counts.created} new, {counts.edited} edited, {counts.unchanged} unchanged{kept_out}")
    for conflict in summary.conflicts:
        out.print(f"[yellow]Conflict:[/] {escape(conflict.message)}.", soft_wrap=True)
    if summary.quickbooks is not None:
        out.print(f"QuickBooks changes waiting for this import, now applied: {summary.quickbooks.counts()}.")


def _import_with_progress(db: Database, directory: Path, show: bool) -> ImportSummary:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ledger.csv_import.loader import import_directory

    if not show:
        return import_directory(db, directory, by=default_actor())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        tasks: dict[str, int] = {}

        def advance(file: str, done: int, total: int) -> None:
            if file not in tasks:
                tasks[file] = bar.add_task(file, total=total)
            bar.update(tasks[file], completed=done, total=max(total, done))

        return import_directory(db, directory, progress=advance, by=default_actor())


def demo(as_json: bool = JSON_OPTION):
    """Load a realistic demo ledger (posted and unposted invoices, a duplicated credit, an edit after posting)."""
    from bot.cli.tables import balance_table
    from ledger.demo import CLIENTS as DEMO_CLIENTS
    from ledger.demo import load_demo
    from ledger.scans import open_findings, run_scan

    db = database()
    with refusals_exit(as_json):
        load_demo(db)
        # Scan once, so the demo's planted mistakes show as findings in the console's replies right away.
        run_scan(db, scan_options(get_settings()))
        with db.read() as unit:
            findings = open_findings(unit)
            balances = [reads.client_balance(unit, client_id) for client_id, *_ in DEMO_CLIENTS]
    if as_json:
        print_json({"database": get_settings().database_url, "clients": [b.as_json() for b in balances],
                    "findings": len(findings)})  # fmt: skip
        return
    out.print(f"Demo ledger loaded into [bold]{get_settings().database_url}[/].\n")
    for balance_of_client in balances:
        out.print(balance_table(balance_of_client))
    out.print(f"\nThe scan finds {len(findings)} problem(s) to look at:")
    for finding in findings:
        out.print(f"  • {finding.kind.value} on {finding.invoice_number or finding.client_name}: {finding.detail}")
    out.print(
        "\nTry it: [bold]creditbot console[/] (the Slack bot, locally), [bold]creditbot balance acme[/], "
        "[bold]creditbot invoice INV-2001[/], [bold]creditbot apply INV-1002 500[/]."
    )


def db_upgrade() -> None:
    """Bring the database's schema to this version (Alembic)."""
    db = open_database(get_settings())
    db.upgrade()
    out.print(f"Database at revision {', '.join(sorted(db.current_revisions()))}.")


def db_current() -> None:
    """Show the database's schema revision."""
    db = open_database(get_settings())
    current = ", ".join(sorted(db.current_revisions())) or "none"
    out.print(f"Database at revision {current}; this creditbot needs {', '.join(sorted(db.head_revisions))}.")


def _request(actor: str | None, key: str | None, approved_by: str | None) -> WriteRequest:
    """A command line call is one request: without --key, a fresh key (a retry must pass --key to be idempotent).

    `--approved-by` says a second billing admin approved it; the history records who, so it is never silent."""
    from ledger.approvals import WriteRequest

    who = checked_text((approved_by or "").strip(), "--approved-by name", ACTOR_CHARS) or None
    actor = checked_text(actor or default_actor(), "--actor name", ACTOR_CHARS)
    return WriteRequest(actor, checked_text(key, "--key", KEY_CHARS) if key else f"cli:{uuid.uuid4()}", approved_by=who)


def db_backup(
    file: Path = typer.Argument(..., help="Where to write the copy (a new file)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Copy a SQLite ledger while it is in use (SQLite's online backup); for PostgreSQL, says how to use pg_dump."""
    from ledger.consistency import check_totals
    from ledger.db import Database

    db = open_database(get_settings())
    with refusals_exit(as_json):
        if not db.is_sqlite:
            url = db.url.set(drivername="postgresql").render_as_string(hide_password=True)
            raise BackupRefused(f"a PostgreSQL ledger is backed up with pg_dump: pg_dump --format=custom --file {file} "
                                f"'{url}' (restore with pg_restore --clean --dbname ...)")  # fmt: skip
        if file.exists():
            raise BackupRefused(f"{file} already exists; give a new file name")
        if not file.parent.is_dir():
            raise BackupRefused(f"the folder {file.parent} does not exist")
        db.ensure_schema()
        source = db.engine.raw_connection()
        try:
            with sqlite3.connect(file) as target:
                source.driver_connection.backup(target)  # type: ignore[union-attr]
            target.close()
        finally:
            source.close()
        copy = Database(f"sqlite:///{file.resolve()}")
        try:
            with copy.read() as unit:
                report = check_totals(unit)
        finally:
            copy.dispose()
    if as_json:
        print_json({"backup": str(file), "clients": report.clients, "invoices": report.invoices, "ok": report.ok})
        return
    totals = "every total matches its entries" if report.ok else "run `creditbot db check` on the original"
    out.print(f"Backed up to {file}: {report.clients} clients, {report.invoices} invoices; {totals}.")


def db_check(as_json: bool = JSON_OPTION) -> None:
    """Recompute every running total from the entries and list each difference; exit 1 if there is any."""
    from ledger.consistency import check_totals

    db = database()
    with refusals_exit(as_json), db.read(snapshot=True) as unit:  # a live ledger's writers go on meanwhile
        report = check_totals(unit)
    if as_json:
        print_json({"clients": report.clients, "invoices": report.invoices, "ok": report.ok,
                    "differences": [difference.as_json() for difference in report.differences]})  # fmt: skip
    else:
        for difference in report.differences:
            out.print(f"{difference.table} {difference.row}: {difference.column} is {difference.stored}, "
                      f"the entries sum to {difference.from_entries}")  # fmt: skip
        verdict = "every total matches its entries" if report.ok else f"{len(report.differences)} difference(s)"
        out.print(f"Checked {report.clients} clients and {report.invoices} invoices: {verdict}.")
    if not report.ok:
        raise typer.Exit(1)


class BackupRefused(LedgerError):
    code = "backup_refused"

    def __init__(self, why: str) -> None:
        super().__init__(f"No backup made: {why}.")
