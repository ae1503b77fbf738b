"""The App Home tab: what needs a billing admin's attention and what happened to credits lately.

Billing admins see requests waiting for approval (Review / Approve / Reject), live findings with their buttons,
and buttons that open the credit forms; everyone sees the largest credit holders, the last credit actions and the
QuickBooks sync's state. Drawn with slack_sdk's models: `View.to_dict()` checks the home tab's 100 blocks and every
text's length.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.handlers.approvals import describe
from bot.render.blocks import SECTION_LIMIT, cut, esc, mention
from bot.render.findings import finding_blocks
from bot.render.forms import REVIEW_REQUEST
from ledger.money import format_money
from ledger.reports import HomeSummary
from ledger.scans import FindingKind, StoredFinding

OPEN_APPLY_FORM = "home_open_apply_form"
OPEN_ISSUE_FORM = "home_open_issue_form"
MAX_HOME_BLOCKS = 100


def home_view(summary: HomeSummary, findings: Sequence[StoredFinding], admin: bool, notice: str | None) -> dict:
    blocks: list[Block] = [HeaderBlock(text="creditbot · client credits")]
    if notice:
        blocks.append(_context(notice))
    if admin:
        blocks.append(
            ActionsBlock(
                block_id="forms",
                elements=[
                    ButtonElement(text="Apply a credit", action_id=OPEN_APPLY_FORM, value="apply", style="primary"),
                    ButtonElement(text="Issue a credit", action_id=OPEN_ISSUE_FORM, value="issue"),
                ],
            )
        )
        blocks.extend(_pending(summary))
    blocks.extend(_findings(summary, findings, admin))
    blocks.extend(_holders(summary))
    blocks.extend(_expiring(summary))
    blocks.extend(_recent(summary))
    blocks.extend(_quickbooks(summary))
    if not admin:
        blocks.append(_context("Only billing admins can move credit; this tab shows you what is going on."))
    return View(type="home", callback_id="creditbot_home", blocks=blocks[:MAX_HOME_BLOCKS]).to_dict()


def _pending(summary: HomeSummary) -> list[Block]:
    blocks: list[Block] = [DividerBlock(), _section(f"*Waiting for approval* ({len(summary.pending)})")]
    if not summary.pending:
        blocks.append(_context("No request is waiting for a second billing admin."))
    for request in summary.pending:
        what = describe(request.action, request.params)
        blocks.append(_section(f"#{request.id} · {mention(request.requester)} asks to {esc(what)}"))
        blocks.append(
            ActionsBlock(
                block_id=f"request-{request.id}",
                elements=[
                    ButtonElement(text="Review", action_id=REVIEW_REQUEST, value=str(request.id)),
                    ButtonElement(text="Approve", action_id="approve_request", value=str(request.id), style="primary"),
                    ButtonElement(text="Reject", action_id="reject_request", value=str(request.id), style="danger"),
                ],
            )
        )
    return blocks


def _findings(summary: HomeSummary, findings: Sequence[StoredFinding], admin: bool) -> list[Block]:
    blocks: list[Block] = [DividerBlock(), _section(f"*Live findings* ({summary.open_findings})")]
    if not findings:
        blocks.append(_context("The last scan found nothing wrong."))
    for finding in findings:
        if admin:
            blocks.extend(finding_blocks(finding))
        else:
            where = f" on {esc(finding.invoice_number)}" if finding.invoice_number else ""
            blocks.append(_section(f":warning: *{FindingKind(finding.kind).title}*{where}: {esc(finding.detail)}"))
    if summary.open_findings > len(findings):
        blocks.append(_context(f"…and {summary.open_findings - len(findings)} more: `/credit scan` lists them all."))
    return blocks


def _holders(summary: HomeSummary) -> list[Block]:
    lines = [
        f"{esc(h.client.name)} (`{esc(h.client.id)}`) · {format_money(h.unapplied_minor, h.client.currency)}"
        for h in summary.top_holders
    ]
    return [DividerBlock(), _section("*Most unapplied credit*\n" + ("\n".join(lines) or "No client holds credit."))]


def _expiring(summary: HomeSummary) -> list[Block]:
    if not summary.expiring:
        return []
    lines = [
        f"{esc(c.client.name)} (`{esc(c.client.id)}`) · {format_money(c.amount_minor, c.client.currency)}"
        f" on {c.expires_on.isoformat()}"
        for c in summary.expiring
    ]
    return [DividerBlock(), _section("*Credit expiring soon*\n" + "\n".join(lines))]


def _recent(summary: HomeSummary) -> list[Block]:
    lines = [
        f"`{_when(action.at)}` {mention(action.actor)} · {esc(action.action.replace('_', ' '))}"
        + (f" · {esc(action.subject)}" if action.subject else "")
        + (f" · {esc(action.client_id)}" if action.client_id else "")
        for action in summary.recent
    ]
    text = f"*Last {len(lines)} credit actions*\n" + "\n".join(lines) if lines else "*Credit actions*\nNone yet."
    return [DividerBlock(), _section(text)]


def _quickbooks(summary: HomeSummary) -> list[Block]:
    state = summary.quickbooks
    if state.entities == 0:
        text = "*QuickBooks*\nNot synced yet: `creditbot qb connect` links QuickBooks (or `creditbot sync-qb FILE`)."
    else:
        last = _when(state.last_synced_at) if state.last_synced_at else "never"
        problems = f" · {state.unresolved} waiting to be matched" if state.unresolved else ""
        overpaid = f" · {state.overpayments} overpayments seen" if state.overpayments else ""
        text = f"*QuickBooks*\nLast sync {last} · {state.entities} entities{problems}{overpaid}"
    return [DividerBlock(), _section(text)]


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=cut(text, SECTION_LIMIT)))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=cut(text, SECTION_LIMIT))])


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def blocks_of(view: dict[str, Any]) -> list[dict[str, Any]]:
    return list(view.get("blocks") or [])
