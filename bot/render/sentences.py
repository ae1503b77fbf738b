"""One sentence per write, shared by Slack and the command line so both say the same thing."""

from __future__ import annotations

from ledger.money import format_money
from ledger.operations import ApplyResult, IssueResult, ReverseResult, RevokeResult
from ledger.wording import possessive

ALREADY_DONE = " (Already done with this request; nothing changed.)"


def issued(result: IssueResult) -> str:
    money = result.currency
    return (
        f"Issued {format_money(result.amount_minor, money)} of credit to {result.client_name} "
        f"(credit #{result.credit_id}). Available credit: {format_money(result.available_before_minor, money)} → "
        f"{format_money(result.available_after_minor, money)}." + (ALREADY_DONE if result.replayed else "")
    )


def applied(result: ApplyResult) -> str:
    money = result.currency
    due_before = format_money(result.balance_due_before_minor, money)
    due_after = format_money(result.balance_due_after_minor, money)
    return (
        f"Applied {format_money(result.amount_minor, money)} of {possessive(result.client_name)} credit to invoice "
        f"{result.invoice_number} (application #{result.application_id}). Balance due: {due_before} → {due_after}; "
        f"available credit: {format_money(result.available_before_minor, money)} → "
        f"{format_money(result.available_after_minor, money)}." + (ALREADY_DONE if result.replayed else "")
    )


def reversed_(result: ReverseResult) -> str:
    money = result.currency
    return (
        f"Reversed application #{result.application_id}: {format_money(result.amount_minor, money)} is back in "
        f"{possessive(result.client_name)} credit ({format_money(result.available_after_minor, money)} available); "
        f"invoice {result.invoice_number} owes {format_money(result.balance_due_after_minor, money)} again."
        + (ALREADY_DONE if result.replayed else "")
    )


def revoked(result: RevokeResult) -> str:
    money = result.currency
    return (
        f"Took back credit #{result.credit_id} ({format_money(result.amount_minor, money)}) from "
        f"{result.client_name}. Available credit: {format_money(result.available_before_minor, money)} → "
        f"{format_money(result.available_after_minor, money)}." + (ALREADY_DONE if result.replayed else "")
    )
