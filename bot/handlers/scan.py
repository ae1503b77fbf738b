"""Scans from Slack and the console: `/credit scan`, the open findings beside invoices, and the findings' buttons.

- `scan`: run a scan now and answer with the open findings (alerting stays with scheduled runs). A scan can take
  seconds on a large ledger, so it is answered later (Slack gets its acknowledgement at once, the findings come
  through `respond()`).
- `invoice_findings`: the open findings on the invoices a balance or invoice reply shows.
- The buttons on findings, registered like every other button: **Acknowledge** (billing admins: it silences a
  money alert), **Reverse duplicate** (billing admins; keeps the first application, reverses the later ones).
  Done, the clicked message is redrawn from the store (so everyone sees who acknowledged); refused, only the
  clicker is told why and the message stays as it was. Both are idempotent: acknowledging twice keeps the first
  person; reversing twice replays the first reversal (its idempotency key comes from the finding).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from bot.handlers.context import Context
from bot.handlers.grammar import Scan
from bot.handlers.permissions import require_billing_admin
from bot.handlers.reply import Reply
from bot.render import blocks, sentences
from bot.render.findings import ACKNOWLEDGE_ACTION, REVERSE_DUPLICATE_ACTION, alert_blocks, scan_reply_blocks
from bot.settings import scan_options
from ledger import scans
from ledger.unit import Statement, Unit, statement


def scan(ctx: Context, command: Scan) -> Reply:
    report = scans.run_scan(ctx.db, scan_options(ctx.settings))
    with ctx.db.read() as unit:
        findings = scans.open_findings(unit)
    return Reply(text="Scan results", blocks=scan_reply_blocks(findings, opened=len(report.opened)))


# Asked on every balance and invoice reply, as plain SQL in the reply's own unit, served by the partial index
# ix_scan_finding_live_invoice. One statement per count of invoice numbers (a reply shows at most a dozen invoices).
@cache
def _open_on_invoices(count: int) -> Statement:
    numbers = ", ".join("?" * count)
    return statement(
        "SELECT invoice_number, kind, detail FROM scan_finding"
        f" WHERE invoice_number IN ({numbers}) AND closed_at IS NULL"
    )


def invoice_findings(unit: Unit, invoice_numbers: Sequence[str]) -> dict[str, list[str]]:
    """Open findings on these invoices, one readable line each (for balance and invoice replies)."""
    if not invoice_numbers:
        return {}
    found: dict[str, list[str]] = {}
    for number, kind, detail in unit.rows(_open_on_invoices(len(invoice_numbers)), invoice_numbers):
        if number is not None:
            found.setdefault(number, []).append(f"{scans.FindingKind(kind).title}: {detail}")
    return found


def acknowledge(ctx: Context, value: str) -> Reply:
    finding_id = _finding_id(value)
    require_billing_admin(ctx, "acknowledge findings", "acknowledge_finding", f"Acknowledge (finding #{finding_id})")
    result = ctx.db.transact(scans.acknowledge, finding_id, ctx.caller.actor)
    finding = result.finding
    if result.newly_acknowledged:
        text = f"Acknowledged finding #{finding.id}: it will not be alerted again."
    else:
        text = f"Finding #{finding.id} was already acknowledged by {blocks.mention(finding.acknowledged_by or '')}."
    return _redrawn(ctx, Reply(text=text, blocks=blocks.message(text), wrote=result.newly_acknowledged), tell=False)


def reverse_duplicate(ctx: Context, value: str) -> Reply:
    finding_id = _finding_id(value)
    with ctx.db.read() as unit:
        finding = scans.get_finding(unit, finding_id)
    asked = f"Reverse duplicate (finding #{finding_id})"
    require_billing_admin(ctx, "reverse duplicate credits", "reverse_duplicate", asked, invoice=finding.invoice_number)
    done = ctx.db.transact(scans.reverse_duplicate, finding_id, ctx.caller.request, scan_options(ctx.settings))
    lines = [sentences.reversed_(result) for result in done.reversed]
    lines += [f"Application #{payment_id} was already reversed." for payment_id in done.already_reversed]
    text = "\n".join(lines) or "Nothing left to reverse."
    reply = Reply(text=text, blocks=blocks.message(text), wrote=any(not r.replayed for r in done.reversed))
    return _redrawn(ctx, reply, tell=True)


def _redrawn(ctx: Context, reply: Reply, tell: bool) -> Reply:
    """The clicked message as it should look now (an alert from its findings, a scan reply anew), replacing it;
    with `tell`, the clicker also hears what happened. Without a message to redraw, just the answer."""
    clicked = ctx.caller.message
    redrawn: list[dict[str, Any]] | None = None
    with ctx.db.read() as unit:
        if clicked is not None and clicked.channel and clicked.ts:
            carried = scans.findings_of_message(unit, clicked.channel, clicked.ts)
            if carried:
                redrawn = alert_blocks(carried)
        if redrawn is None and clicked is not None and clicked.is_ephemeral:
            redrawn = scan_reply_blocks(scans.open_findings(unit), opened=0)
    if redrawn is None:
        return reply
    return Reply(text=reply.text, blocks=redrawn, wrote=reply.wrote, replace_original=True,
                 follow_up=reply if tell else None)  # fmt: skip


def _finding_id(value: str) -> int:
    # ids are BIGINT: more than 18 digits (or a non-ASCII digit such as "²") names no finding.
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise scans.UnknownFinding(value[:40] or "(none)")
    return int(value)


ACTIONS = {ACKNOWLEDGE_ACTION: acknowledge, REVERSE_DUPLICATE_ACTION: reverse_duplicate}
