"""The ledger's commands for operators and scripts: balance, invoice, issue, apply, reverse, history, import, db."""

from __future__ import annotations

import sqlite3
import sys
import uuid
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bot.cli.common import JSON_OPTION, database, default_actor, out, print_json, refusals_exit
from bot.cli.tables import balance_table, history_table, invoice_table
from bot.render import sentences
from bot.settings import get_settings, open_database, scan_options
from ledger import operations, reads
from ledger.approvals import WriteRequest
from ledger.consistency import check_totals
from ledger.csv_import.loader import ImportSummary, import_directory
from ledger.db import Database
from ledger.demo import CLIENTS as DEMO_CLIENTS
from ledger.demo import load_demo
from ledger.errors import ImportRowError, LedgerError
from ledger.money import decimal_str
from ledger.scans import open_findings, run_scan
from ledger.text import ACTOR_CHARS, KEY_CHARS, REASON_CHARS, checked_text

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
    with refusals_exit(as_json), database().read() as unit:
        result = reads.client_balance(unit, client)
    if as_json:
        print_json(result.as_json())
    else:
        out.print(balance_table(result))


def invoice(number: str = typer.Argument(..., help="Invoice number."), as_json: bool = JSON_OPTION):
    """An invoice's payment history (each kind spelled out), balance due, posting state and changes."""
    with refusals_exit(as_json), database().read() as unit:
        detail = reads.invoice_detail(unit, number)
    if as_json:
        print_json(detail.as_json())
        return
    out.print(invoice_table(detail))
    if detail.history:
        out.print(history_table(f"invoice {detail.summary.number}", detail.history))


def issue(
    client: str = typer.Argument(..., help="Client id, name, or part of a name."),
    amount: str = typer.Argument(..., help="Amount in the client's currency, e.g. 250.00"),
    reason: str = typer.Option(..., "--reason", help="Why the client gets this credit."),
    actor: str | None = ACTOR_OPTION,
    key: str | None = KEY_OPTION,
    approved_by: str | None = APPROVED_BY_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Issue a credit to a client's wallet."""
    with refusals_exit(as_json):
        by = _request(actor, key, approved_by)
        reason = checked_text(reason, "reason", REASON_CHARS, free_text=True)
        result = database().transact(operations.issue_credit, client, amount, reason, by)
    money = result.currency
    if as_json:
        print_json(
            {
                "credit_id": result.credit_id,
                "amount": decimal_str(result.amount_minor, money),
                "client": {"id": result.client_id, "name": result.client_name, "currency": money},
                "available_credit": decimal_str(result.available_after_minor, money),
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
    reason: str = typer.Option("", "--reason", help="Why it is reversed."),
    actor: str | None = ACTOR_OPTION,
    key: str | None = KEY_OPTION,
    approved_by: str | None = APPROVED_BY_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Reverse a credit application: the credit returns to the wallet and the invoice owes it again."""
    with refusals_exit(as_json):
        by = _request(actor, key, approved_by)
        reason = checked_text(reason, "reason", REASON_CHARS, free_text=True)
        result = database().transact(operations.reverse_application, application_id, by, reason=reason)
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
                "replayed": result.replayed,
            }
        )
        return
    out.print(sentences.reversed_(result))


def history(
    client_or_invoice: str = typer.Argument(..., metavar="CLIENT|INVOICE", help="An invoice number or a client."),
    as_json: bool = JSON_OPTION,
):
    """Every recorded change (and refused write) of an invoice or a client: who, when, before and after."""
    with refusals_exit(as_json), database().read() as unit:
        title, lines = reads.history(unit, client_or_invoice)
    if as_json:
        print_json({"of": title, "history": [line.as_json() for line in lines]})
    else:
        out.print(history_table(title, lines))


def import_command(
    directory: Path = typer.Argument(..., help="Folder with clients.csv and optionally projects, invoices, ..."),
    as_json: bool = JSON_OPTION,
):
    """Import the billing system's CSV export (one transaction; re-importing changes nothing)."""
    db = database()
    with refusals_exit(as_json):
        if not directory.is_dir():
            raise ImportRowError(str(directory), None, None, "this is not a folder")
        summary = _import_with_progress(db, directory, show=sys.stderr.isatty() and not as_json)
    if as_json:
        print_json({"imported": summary.as_json()})
        return
    for name, counts in summary.files.items():
        out.print(f"{name}: {counts.created} new, {counts.edited} edited, {counts.unchanged} unchanged")


def _import_with_progress(db: Database, directory: Path, show: bool) -> ImportSummary:
    if not show:
        return import_directory(db, directory)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        tasks: dict[str, int] = {}

        def advance(file: str, done: int, total: int) -> None:
            if file not in tasks:
                tasks[file] = bar.add_task(file, total=total)
            bar.update(tasks[file], completed=done, total=max(total, done))

        return import_directory(db, directory, progress=advance)


def demo(as_json: bool = JSON_OPTION):
    """Load a realistic demo ledger (posted and unposted invoices, a duplicated credit, an edit after posting)."""
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
    who = checked_text((approved_by or "").strip(), "--approved-by name", ACTOR_CHARS) or None
    actor = checked_text(actor or default_actor(), "--actor name", ACTOR_CHARS)
    return WriteRequest(actor, checked_text(key, "--key", KEY_CHARS) if key else f"cli:{uuid.uuid4()}", approved_by=who)


def db_backup(
    file: Path = typer.Argument(..., help="Where to write the copy (a new file)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Copy a SQLite ledger while it is in use (SQLite's online backup); for PostgreSQL, says how to use pg_dump."""
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
    db = database()
    with refusals_exit(as_json), db.read() as unit:
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
