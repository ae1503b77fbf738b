"""Block Kit for the bot's replies, as plain dicts, from the ledger's plain results.

Every function here returns a list of block dicts and decides nothing: handlers decide, this file draws.
Text that came from people (client names, reasons) is escaped for Slack's mrkdwn, and every text is cut to
Slack's limits (3,000 characters a section, 2,000 a field, 150 a header, 75 a button, 50 blocks a message).

Plain dicts, not slack_sdk's block models: a reply is built inside Slack's acknowledgement on every request,
and the models' validation on `to_dict()` cost more than the ledger read itself (about 1.5 ms for a balance).
The tests check every kind of reply against slack_sdk's models instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.money import format_money
from ledger.reads import ClientBalance, HistoryLine, InvoiceDetail, InvoiceSummary, PaymentLine

Block = dict[str, Any]
Blocks = list[Block]

SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
HEADER_LIMIT = 150
BUTTON_LIMIT = 75
MAX_INVOICES = 12
MAX_PAYMENT_LINES = 40
MAX_HISTORY_LINES = 25

# Findings on invoices, by invoice number: one line each ("duplicate credit: PAY-4 and PAY-5, $600.00 each").
Findings = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class Button:
    label: str
    action_id: str
    value: str
    style: str | None = None  # "primary" or "danger"

    def element(self) -> Block:
        element: Block = {
            "type": "button",
            "text": {"type": "plain_text", "text": cut(self.label, BUTTON_LIMIT), "emoji": True},
            "action_id": self.action_id,
            "value": self.value,
        }
        if self.style:
            element["style"] = self.style
        return element


# --- text helpers ---------------------------------------------------------------------------------------


def esc(text: str) -> str:
    """Escape what Slack's mrkdwn treats as markup in text that came from people."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mention(actor: str) -> str:
    """An actor string ("slack:U123", "console:U-CONSOLE", "cli:ann") as people should read it."""
    kind, _, who = actor.partition(":")
    if kind == "slack" and who:
        return f"<@{who}>"
    return esc(who or actor)


def money(minor: int, currency: str) -> str:
    return format_money(minor, currency)


def _mrkdwn(text: str, limit: int) -> Block:
    return {"type": "mrkdwn", "text": cut(text, limit)}


def _section(text: str, fields: Sequence[str] = ()) -> Block:
    section: Block = {"type": "section"}
    if text:
        section["text"] = _mrkdwn(text, SECTION_LIMIT)
    if fields:
        section["fields"] = [_mrkdwn(field, FIELD_LIMIT) for field in fields[:10]]
    return section


def _context(text: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(text, SECTION_LIMIT)]}


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": cut(text, HEADER_LIMIT), "emoji": True}}


def _actions(buttons: Sequence[Button]) -> Block:
    return {"type": "actions", "elements": [button.element() for button in buttons[:25]]}


def _divider() -> Block:
    return {"type": "divider"}


def _line_sections(title: str, lines: Sequence[str]) -> list[Block]:
    """Lines under a bold title, split across sections so none passes Slack's 3,000 characters."""
    sections: list[Block] = []
    chunk = f"*{title}*"
    for line in lines:
        line = cut(line, SECTION_LIMIT - len(title) - 10)
        if len(chunk) + 1 + len(line) > SECTION_LIMIT:
            sections.append(_section(chunk))
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    sections.append(_section(chunk))
    return sections


def _dicts(blocks: Iterable[Block]) -> Blocks:
    """At most the 50 blocks Slack shows in a message."""
    return list(blocks)[:50]


# --- small messages -------------------------------------------------------------------------------------


def message(text: str, note: str | None = None, buttons: Sequence[Button] = ()) -> Blocks:
    blocks: list[Block] = [_section(text)]
    if buttons:
        blocks.append(_actions(buttons))
    if note:
        blocks.append(_context(note))
    return _dicts(blocks)


def usage(problem: str, usage_line: str | None) -> Blocks:
    """Malformed input: what is wrong (it may quote what was typed, so it is escaped) and how to type it."""
    return message(esc(problem), f"Usage: {usage_line}" if usage_line else None)


def refusal(text: str, changed_nothing: bool = True) -> Blocks:
    """A refusal's message (it may quote what was typed, so it is escaped); a write's says nothing changed."""
    return message(f":no_entry: {esc(text)}", "Nothing was changed." if changed_nothing else None)


def help_blocks(entries: Sequence[tuple[str, str]], footer: str) -> Blocks:
    """`entries` are (usage line, summary) pairs."""
    lines = [f"{usage_line}\n      {summary}" for usage_line, summary in entries]
    blocks: list[Block] = [_header("creditbot: the /credit command")]
    blocks.extend(_line_sections("Commands", lines))
    blocks.append(_context(footer))
    return _dicts(blocks)


# --- reads ----------------------------------------------------------------------------------------------


def balance_blocks(balance: ClientBalance, findings: Findings) -> Blocks:
    currency = balance.client.currency
    name = esc(balance.client.name)
    blocks: list[Block] = [
        _header(f"{balance.client.name} · credit and open invoices"),
        _section(
            f"*Available credit: {money(balance.available_credit_minor, currency)}*",
            [
                f"*Credits issued*\n{money(balance.credits_issued_minor, currency)}",
                f"*Credits applied*\n{money(balance.credits_applied_minor, currency)}",
            ],
        ),
        _context(f"{name} · client id `{esc(balance.client.id)}` · billed in {currency}"),
        _divider(),
    ]
    for invoice in balance.invoices[:MAX_INVOICES]:
        blocks.extend(_invoice_summary(invoice, currency, findings.get(invoice.number, ())))
    hidden = balance.open_invoice_count - min(len(balance.invoices), MAX_INVOICES)
    if not balance.invoices:
        blocks.append(_section("No open invoices: nothing is owed."))
    elif hidden > 0:
        blocks.append(
            _context(f"…and {hidden} more open invoices: `creditbot balance {esc(balance.client.id)}` lists them all.")
        )
    if balance.credits_by_project_minor:
        tagged = " · ".join(
            f"{esc(project)} {money(minor, currency)}" for project, minor in balance.credits_by_project_minor.items()
        )
        blocks.append(_context(f"Credits applied by project tag (tracking only): {tagged}"))
    blocks.append(
        _context("Cash payments, credits applied and QuickBooks credit memos are counted apart: a credit is not cash.")
    )
    return _dicts(blocks)


def _invoice_summary(invoice: InvoiceSummary, currency: str, findings: Sequence[str]) -> list[Block]:
    posted = f"posted to QuickBooks {invoice.posted_to_qb_at:%Y-%m-%d}" if invoice.posted_to_qb_at else "not posted"
    blocks: list[Block] = [
        _section(
            f"*{esc(invoice.number)}* · issued {invoice.issued_on.isoformat()} · {posted}",
            _amount_fields(invoice, currency),
        )
    ]
    if findings:
        blocks.append(_context("\n".join(f":warning: {esc(line)}" for line in findings)))
    return blocks


def _amount_fields(invoice: InvoiceSummary, currency: str) -> list[str]:
    return [
        f"*Total*\n{money(invoice.total_minor, currency)}",
        f"*Cash paid*\n{money(invoice.cash_paid_minor, currency)}",
        f"*Credits applied*\n{money(invoice.credits_applied_minor, currency)}",
        f"*QuickBooks credit memos*\n{money(invoice.qb_credit_memos_minor, currency)}",
        f"*Balance due*\n{money(invoice.balance_due_minor, currency)}",
    ]


def invoice_blocks(detail: InvoiceDetail, findings: Sequence[str]) -> Blocks:
    summary, currency = detail.summary, detail.client.currency
    project = f" · project `{esc(detail.project_id)}`" if detail.project_id else ""
    if summary.posted_to_qb_at:
        qb_id = f" as QuickBooks invoice {esc(summary.qb_invoice_id)}" if summary.qb_invoice_id else ""
        posting = (
            f"*QuickBooks*\nPosted {summary.posted_to_qb_at:%Y-%m-%d %H:%M} UTC{qb_id}: "
            "its credits are managed in QuickBooks."
        )
    else:
        posting = "*QuickBooks*\nNot posted: credits can be applied here."
    client = f"*{esc(detail.client.name)}* (`{esc(detail.client.id)}`)"
    blocks: list[Block] = [
        _header(f"Invoice {summary.number}"),
        _section(
            f"{client} · issued {summary.issued_on.isoformat()}{project}",
            [*_amount_fields(summary, currency), posting],
        ),
    ]
    if findings:
        blocks.append(_context("\n".join(f":warning: {esc(line)}" for line in findings)))
    blocks.append(_divider())
    payments = [_payment_line(payment, currency) for payment in detail.payments]
    if len(payments) > MAX_PAYMENT_LINES:
        payments = [f"…{len(payments) - MAX_PAYMENT_LINES} earlier payments not shown", *payments[-MAX_PAYMENT_LINES:]]
    blocks.extend(_line_sections("Payments", payments or ["No payments yet."]))
    if detail.history:
        blocks.append(_divider())
        blocks.extend(_line_sections("Changes", _history_lines(detail.history)))
    return _dicts(blocks)


def _payment_line(payment: PaymentLine, currency: str) -> str:
    parts = [
        f"`#{payment.id}`",
        payment.received_on.isoformat(),
        payment.kind.label,
        money(payment.amount_minor, currency),
    ]
    if payment.external_id:
        parts.append(f"({esc(payment.external_id)})")
    if payment.project_id:
        parts.append(f"project `{esc(payment.project_id)}`")
    if payment.reversed_at:
        parts.append(f"*reversed {payment.reversed_at:%Y-%m-%d}*")
    return " · ".join(parts)


def history_blocks(title: str, lines: Sequence[HistoryLine]) -> Blocks:
    blocks: list[Block] = [_header(f"History of {title}")]
    if not lines:
        blocks.append(_section("Nothing recorded yet."))
    else:
        blocks.extend(_line_sections(f"{len(lines)} recorded", _history_lines(lines)))
    return _dicts(blocks)


def _history_lines(lines: Sequence[HistoryLine]) -> list[str]:
    shown = list(lines[-MAX_HISTORY_LINES:])
    rendered = []
    if len(lines) > len(shown):
        rendered.append(f"…{len(lines) - len(shown)} earlier entries: `creditbot history` shows them all")
    for line in shown:
        outcome = "" if line.outcome == "done" else f" · *{esc(line.outcome.replace('_', ' '))}*"
        change = _change(line)
        rendered.append(
            f"`{line.at:%Y-%m-%d %H:%M}` {esc(line.actor)} · {esc(line.action)}{outcome}"
            + (f" · {esc(line.subject)}" if line.subject else "")
            + (f" · {esc(change)}" if change else "")
        )
    return rendered


def _change(line: HistoryLine) -> str:
    """What changed, as the CLI's history table says it: "field: before → after" (and the detail)."""
    if line.before and line.after:
        changed = [f"{name}: {line.before.get(name)} → {line.after.get(name)}" for name in line.before]
        return "; ".join(changed) + (f" ({line.detail})" if line.detail else "")
    return line.detail


# --- writes ---------------------------------------------------------------------------------------------


def write_done(sentence: str, undo: Button | None) -> Blocks:
    blocks: list[Block] = [_section(f":white_check_mark: {esc(sentence)}")]
    if undo is not None:
        blocks.append(_actions([undo]))
    return _dicts(blocks)


def undone(sentence: str, by_actor: str) -> Blocks:
    return _dicts([_section(f":leftwards_arrow_with_hook: Undone by {mention(by_actor)}: {esc(sentence)}")])


def approval_request(
    request_id: int, requester: str, what: str, reason: str, threshold: str, buttons: Sequence[Button]
) -> Blocks:
    because = f"\n>Reason: {esc(reason)}" if reason else ""
    return _dicts(
        [
            _section(f":lock: *Approval needed:* {mention(requester)} asks to {esc(what)}.{because}"),
            _actions(buttons),
            _context(
                f"Request #{request_id} · above the approval threshold of {esc(threshold)}: a second billing admin "
                "must approve it; the requester cannot. Nothing changes until then."
            ),
        ]
    )


def approval_decided(text: str, undo: Button | None = None) -> Blocks:
    blocks: list[Block] = [_section(text)]
    if undo is not None:
        blocks.append(_actions([undo]))
    return _dicts(blocks)


# --- answers --------------------------------------------------------------------------------------------


def faq_answer(title: str | None, answer: str, facts: Sequence[str], buttons: Sequence[Button], note: str) -> Blocks:
    """An FAQ answer: the FAQ's text is already mrkdwn written by the billing lead, so it is not escaped."""
    text = f"*{title}*\n{answer}" if title else answer
    blocks: list[Block] = []
    chunk = ""
    for paragraph in text.split("\n"):
        if chunk and len(chunk) + 1 + len(paragraph) > SECTION_LIMIT:
            blocks.append(_section(chunk))
            chunk = ""
        chunk = f"{chunk}\n{paragraph}" if chunk else paragraph
    blocks.append(_section(chunk))
    if facts:
        blocks.extend(_line_sections("In your ledger right now", list(facts)))
    if buttons:
        blocks.append(_actions(buttons[:5]))
    if note:
        blocks.append(_context(note))
    return _dicts(blocks[:50])
