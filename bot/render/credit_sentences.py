"""One sentence per credit operation of issue 17, shared by Slack, the console and the command line."""

from __future__ import annotations

from ledger.credit_ops.apply_all import ApplyAllResult, plan_text
from ledger.credit_ops.reversals import MoveResult
from ledger.credit_ops.wallets import OutflowResult, ReinstateResult, TransferResult
from ledger.money import format_money
from ledger.operations import ReverseResult
from ledger.reads import CreditEntry, CreditSearch

ALREADY_DONE = " (Already done with this request; nothing changed.)"


def _again(replayed: bool) -> str:
    return ALREADY_DONE if replayed else ""


def reversed_part(result: ReverseResult) -> str:
    """A reversal, saying what is still applied when it was partial."""
    money = result.currency
    left = (
        f" {format_money(result.remaining_minor, money)} of it stays applied (application "
        f"#{result.remaining_application_id})."
        if result.remaining_application_id is not None
        else ""
    )
    return (
        f"Reversed {format_money(result.amount_minor, money)} of application #{result.application_id}: it is back in "
        f"{result.client_name}'s credit ({format_money(result.available_after_minor, money)} available); invoice "
        f"{result.invoice_number} owes {format_money(result.balance_due_after_minor, money)}.{left}"
        + _again(result.replayed)
    )


def moved(result: MoveResult) -> str:
    money = result.currency
    return (
        f"Moved {format_money(result.amount_minor, money)} of {result.client_name}'s credit from invoice "
        f"{result.from_invoice} to {result.to_invoice} (application #{result.new_application_id}). Balance due: "
        f"{result.from_invoice} {format_money(result.from_balance_due_after_minor, money)}, {result.to_invoice} "
        f"{format_money(result.to_balance_due_after_minor, money)}; available credit unchanged "
        f"({format_money(result.available_minor, money)})." + _again(result.replayed)
    )


def transferred(result: TransferResult) -> str:
    money = result.currency
    return (
        f"Transferred {format_money(result.amount_minor, money)} of credit from {result.from_client_name} to "
        f"{result.to_client_name} (transfer #{result.transfer_id}). Available credit: {result.from_client_name} "
        f"{format_money(result.from_available_after_minor, money)}, {result.to_client_name} "
        f"{format_money(result.to_available_after_minor, money)}." + _again(result.replayed)
    )


def refunded(result: OutflowResult) -> str:
    money = result.currency
    return (
        f"Refunded {format_money(result.amount_minor, money)} of {result.client_name}'s credit as money (receipt "
        f"{result.reference}). Available credit: {format_money(result.available_before_minor, money)} → "
        f"{format_money(result.available_after_minor, money)}. Pay it out in the billing system and record it in "
        "QuickBooks with that receipt reference." + _again(result.replayed)
    )


def written_off(result: OutflowResult) -> str:
    money = result.currency
    return (
        f"Wrote off {format_money(result.amount_minor, money)} of {result.client_name}'s credit (write-off "
        f"#{result.credit_id}). Available credit: {format_money(result.available_before_minor, money)} → "
        f"{format_money(result.available_after_minor, money)}." + _again(result.replayed)
    )


def reinstated(result: ReinstateResult) -> str:
    money = result.currency
    return (
        f"Undid write-off #{result.write_off_id}: {format_money(result.amount_minor, money)} is back in "
        f"{result.client_name}'s credit ({format_money(result.available_after_minor, money)} available)."
        + _again(result.replayed)
    )


def applied_all(result: ApplyAllResult) -> str:
    money = result.currency
    verb = "Would apply" if result.dry_run else "Applied"
    skipped = f" {result.posted_skipped} posted invoice(s) left to QuickBooks." if result.posted_skipped else ""
    return (
        f"{verb} {format_money(result.total_minor, money)} of {result.client_name}'s credit over "
        f"{len(result.lines)} open invoice(s), {result.order}; available credit "
        f"{format_money(result.available_before_minor, money)} → {format_money(result.available_after_minor, money)}."
        + skipped
        + _again(result.replayed)
    )


def apply_all_lines(result: ApplyAllResult) -> list[str]:
    ids = [line["application_id"] for line in result.lines]
    return [text + (f" (application #{ids[n]})" if ids[n] else "") for n, text in enumerate(plan_text(result))]


def credit_entry_line(entry: CreditEntry) -> str:
    where = f" on {entry.invoice_number}" if entry.invoice_number else ""
    project = f" [{entry.project_id}]" if entry.project_id else ""
    expires = f", expires after {entry.expires_on.isoformat()}" if entry.expires_on else ""
    detail = f" — {entry.detail}" if entry.detail and entry.source != "application" else ""
    return (
        f"{entry.on.isoformat()}  {entry.client_name}  {entry.kind} #{entry.id}{where}{project}  "
        f"{format_money(entry.amount_minor, entry.currency)}{expires}{detail}"
    )


def credit_search_footer(search: CreditSearch) -> str:
    more = f" More: add `--page {search.page + 1}`." if search.has_more else ""
    return f"Page {search.page}, {len(search.entries)} entr{'y' if len(search.entries) == 1 else 'ies'}.{more}"
