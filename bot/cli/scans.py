"""`creditbot scan [--full] [--alert] [--json]` and `creditbot scheduler`."""

from __future__ import annotations

import logging

import typer
from rich.table import Table

from bot.cli.common import JSON_OPTION, database, err, out, print_json, refusals_exit
from bot.jobs.alerts import AlertsNotConfigured, missing_alert_settings, post_pending_alerts
from bot.jobs.scheduler import InvalidCron, run_scheduler_forever, scan_trigger
from bot.settings import Settings, get_settings, scan_options
from ledger import scans
from ledger.db import Database
from ledger.money import format_money
from ledger.scans import StoredFinding


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)
    app.command("scheduler")(scheduler)


def scan(
    full: bool = typer.Option(False, "--full", help="Recompute every finding instead of only what changed."),
    alert: bool = typer.Option(False, "--alert", help="Post new findings to CREDITBOT_ALERT_CHANNEL."),
    as_json: bool = JSON_OPTION,
):
    """Scan the ledger for duplicate credits, edits after posting and the other findings; print the open ones."""
    settings = get_settings()
    if alert and (missing := missing_alert_settings(settings)):
        _fail(f"--alert needs {' and '.join(missing)} to be set. Nothing was scanned.", as_json)
    with refusals_exit(as_json):
        db = database()
        report = scans.run_scan(db, scan_options(settings), full=full)
    if alert:
        _post_alerts(db, settings)
    with db.read() as unit:
        findings = scans.open_findings(unit)
    if as_json:
        print_json({"findings": [finding.as_json() for finding in findings]})
        return
    out.print(findings_table(findings, report))


def _post_alerts(db: Database, settings: Settings) -> None:
    try:
        alerts = post_pending_alerts(db, settings)
    except AlertsNotConfigured as missing:
        err.print(f"[bold red]Not alerted:[/] {missing}")
        return
    sent = alerts.posted + alerts.recovered
    if alerts.failed:
        err.print(
            f"[bold yellow]Alerts:[/] {sent} posted; Slack failed ({alerts.failed}), the rest stay pending for the "
            "next run."
        )
    else:
        err.print(f"Alerts: {sent} posted to {settings.alert_channel}.")


def findings_table(findings: list[StoredFinding], report: scans.ScanReport) -> Table:
    title = f"Open findings: {len(findings)} ({len(report.opened)} new, {report.closed} closed by this scan)"
    table = Table(title=title, title_justify="left", show_lines=True)
    for name in ("#", "Kind", "Invoice", "Client", "Amount", "What happened", "First seen", "State"):
        table.add_column(name, justify="right" if name in ("#", "Amount") else "left", overflow="fold")
    for finding in findings:
        amount = ""
        if finding.amount_minor is not None and finding.currency:
            amount = format_money(finding.amount_minor, finding.currency)
        table.add_row(
            str(finding.id),
            finding.kind.value,
            finding.invoice_number or "",
            finding.client_id or "",
            amount,
            finding.detail,
            f"{finding.first_seen:%Y-%m-%d %H:%M}",
            _state(finding),
        )
    return table


def _state(finding: StoredFinding) -> str:
    if finding.acknowledged_by:
        return f"acknowledged by {finding.acknowledged_by}"
    return {"posted": "alerted", "posting": "alerting", "pending": "alert pending"}.get(finding.alert_state, "open")


def scheduler():
    """Run scheduled scans in the foreground (CREDITBOT_SCAN_CRON, UTC) until interrupted."""
    settings = get_settings()
    try:
        scan_trigger(settings)
    except InvalidCron as wrong:
        _fail(str(wrong), False)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with refusals_exit(False):
        db = database()
    out.print(f"Scheduled scans on “{settings.scan_cron}” (UTC); alerts to {settings.alert_channel or '(not set)'}.")
    run_scheduler_forever(settings, db)


def _fail(message: str, as_json: bool) -> None:
    if as_json:
        print_json({"error": {"code": "not_configured", "message": message}})
    err.print(f"[bold red]Refused:[/] {message}", soft_wrap=True)
    raise typer.Exit(1)
