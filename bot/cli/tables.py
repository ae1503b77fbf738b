"""Rich tables for the command line: the same read models as Slack, shown for a terminal."""

from __future__ import annotations

from rich.table import Table

from ledger.money import format_money
from ledger.reads import ClientBalance, HistoryLine, InvoiceDetail, PaymentLine


def balance_table(balance: ClientBalance) -> Table:
    currency = balance.client.currency
    table = Table(
        title=f"{balance.client.name} ({balance.client.id}) · available credit "
        f"{format_money(balance.available_credit_minor, currency)}",
        title_justify="left",
    )
    for column in ("Invoice", "Total", "Cash paid", "Credits applied", "QB credit memos", "Balance due", "QuickBooks"):
        table.add_column(column, justify="left" if column in ("Invoice", "QuickBooks") else "right")
    for invoice in balance.invoices:
        table.add_row(
            invoice.number,
            format_money(invoice.total_minor, currency),
            format_money(invoice.cash_paid_minor, currency),
            format_money(invoice.credits_applied_minor, currency),
            format_money(invoice.qb_credit_memos_minor, currency),
            format_money(invoice.balance_due_minor, currency),
            "posted" if invoice.posted_to_qb else "",
        )
    if not balance.invoices:
        table.caption = "No open invoices."
    return table


def invoice_table(detail: InvoiceDetail) -> Table:
    currency = detail.client.currency
    summary = detail.summary
    posted = f"posted to QuickBooks {summary.posted_to_qb_at:%Y-%m-%d}" if summary.posted_to_qb_at else "not posted"
    table = Table(
        title=f"Invoice {summary.number} · {detail.client.name} · total {format_money(summary.total_minor, currency)}"
        f" · balance due {format_money(summary.balance_due_minor, currency)} · {posted}",
        title_justify="left",
    )
    rows = [_payment_row(payment, currency) for payment in detail.payments]
    # Columns only where some payment fills them: the export's payment id, and notes (reversed, project).
    shown = [index for index in range(6) if index not in (1, 5) or any(row[index] for row in rows)]
    for index in shown:
        column = ("#", "Payment id", "Date", "Kind", "Amount", "Note")[index]
        table.add_column(column, justify="right" if column in ("#", "Amount") else "left")
    for row in rows:
        table.add_row(*(row[index] for index in shown))
    table.caption = (
        f"Cash paid {format_money(summary.cash_paid_minor, currency)} · credits applied "
        f"{format_money(summary.credits_applied_minor, currency)} · QuickBooks credit memos "
        f"{format_money(summary.qb_credit_memos_minor, currency)}"
    )
    return table


def _payment_row(payment: PaymentLine, currency: str) -> tuple[str, ...]:
    notes = []
    if payment.reversed_at:
        notes.append(f"reversed {payment.reversed_at:%Y-%m-%d}")
    if payment.project_id:
        notes.append(f"project {payment.project_id}")
    return (
        str(payment.id),
        payment.external_id or "",
        payment.received_on.isoformat(),
        payment.kind.label,
        format_money(payment.amount_minor, currency),
        ", ".join(notes),
    )


def history_table(title: str, lines: list[HistoryLine]) -> Table:
    table = Table(title=f"History of {title}", title_justify="left")
    for column in ("When (UTC)", "Who", "What", "Outcome", "Subject", "Change"):
        table.add_column(column)
    for line in lines:
        table.add_row(
            f"{line.at:%Y-%m-%d %H:%M}", line.actor, line.action, line.outcome, line.subject, describe_change(line)
        )
    if not lines:
        table.caption = "Nothing recorded yet."
    return table


def describe_change(line: HistoryLine) -> str:
    if line.before and line.after:
        changed = [f"{name}: {line.before.get(name)} → {line.after.get(name)}" for name in line.before]
        return "; ".join(changed) + (f" ({line.detail})" if line.detail else "")
    return line.detail
