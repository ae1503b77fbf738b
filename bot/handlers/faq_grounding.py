"""The FAQ grounded in the ledger: a question naming an invoice or a client gets that record's live facts.

`grounded_faq(faq, db)` returns the FAQ with a ledger-backed grounder attached (`Faq.with_grounding`). The client
names it needs to recognise clients in a question come from one `SELECT id, name FROM client`, cached for
`NAMES_TTL_SECONDS` per database, so a question never scans the ledger. The grounder itself runs a short read
session per question that names records: `ledger.reads` for the balance split and the posting state, and the
scans' open findings, each with the FAQ entry that explains it.

`faq` never imports this module (or the ledger): the dependency points from the bot to both.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.render.blocks import esc
from faq import Faq
from faq.grounding import GroundedFinding, Grounding, References
from ledger import reads
from ledger.db import Database
from ledger.errors import LedgerError
from ledger.money import format_money, to_decimal
from ledger.unit import Unit, statement

log = logging.getLogger("creditbot.bot")

NAMES_TTL_SECONDS = 60.0
MAX_RECORDS = 3  # records grounded per question: a question naming ten invoices gets the first three
MAX_FINDINGS = 5  # findings listed per record


@dataclass
class _Snapshot:
    faq: Faq
    base: Faq
    loaded_at: float


class GroundedFaqCache:
    """One grounded FAQ per database, rebuilt when the client names are older than the TTL.

    A rebuild reads only the client table's ids and names and indexes them (a few ms for 10,000 clients); the
    FAQ's retrieval index is shared, never rebuilt. Threads answering at the same time share one snapshot.
    """

    def __init__(self, ttl_seconds: float = NAMES_TTL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshots: weakref.WeakKeyDictionary[Database, _Snapshot] = weakref.WeakKeyDictionary()

    def get(self, faq: Faq, db: Database) -> Faq:
        now = self._clock()
        snapshot = self._snapshots.get(db)
        if snapshot is not None and snapshot.base is faq and now - snapshot.loaded_at < self.ttl_seconds:
            return snapshot.faq
        with self._lock:
            snapshot = self._snapshots.get(db)
            if snapshot is None or snapshot.base is not faq or now - snapshot.loaded_at >= self.ttl_seconds:
                snapshot = _Snapshot(_build(faq, db), faq, now)
                self._snapshots[db] = snapshot
            return snapshot.faq

    def clear(self) -> None:
        with self._lock:
            self._snapshots.clear()


_CACHE = GroundedFaqCache()


def grounded_faq(faq: Faq, db: Database) -> Faq:
    """`faq` answering with live facts from `db` (client names cached for NAMES_TTL_SECONDS)."""
    return _CACHE.get(faq, db)


def forget_client_names() -> None:
    """Drop the cached client names (tests; a new client is otherwise seen within NAMES_TTL_SECONDS)."""
    _CACHE.clear()


_CLIENT_NAMES = statement("SELECT name, id FROM client")


def client_names(db: Database) -> tuple[list[str], list[str]]:
    """Every client's name and id, in the same order: one narrow SELECT, no rows of money."""
    with db.read() as unit:
        rows = unit.rows(_CLIENT_NAMES)
    return [name for name, _ in rows], [client_id for _, client_id in rows]


def _build(faq: Faq, db: Database) -> Faq:
    names, ids = client_names(db)
    return faq.with_grounding(LedgerGrounder(db), names, ids)


class LedgerGrounder:
    """`Grounder` over the ledger: lines of Slack mrkdwn about the invoices and clients a question names."""

    def __init__(self, db: Database, escape: Callable[[str], str] = esc) -> None:
        self.db = db
        # Slack mrkdwn needs &, < and > escaped; the command line wants the names as they are.
        self.escape = escape

    def __call__(self, references: References) -> Grounding:
        try:
            with self.db.read() as unit:
                return grounding_for(unit, references, self.escape)
        except (LedgerError, SQLAlchemyError):
            # Facts are extra: the FAQ answer still stands when the ledger cannot be read.
            log.exception("could not read the ledger to ground an FAQ answer; answering without facts")
            return Grounding()


def facts_for(unit: Unit, references: References, escape: Callable[[str], str] = esc) -> list[str]:
    return list(grounding_for(unit, references, escape).facts)


def grounding_for(unit: Unit, references: References, escape: Callable[[str], str] = esc) -> Grounding:
    """The facts about the records a question names, and their open findings (which may decide the answer)."""
    lines: list[str] = []
    every_finding: list[OpenFinding] = []
    grounded = 0
    seen_clients: set[str] = set()
    for number in references.invoice_numbers:
        if grounded >= MAX_RECORDS:
            break
        try:
            detail = reads.invoice_detail(unit, number)
        except LedgerError:
            continue  # not an invoice of this ledger ("A-113" may be anything)
        grounded += 1
        seen_clients.add(detail.client.id)
        found = _findings(unit, invoice_numbers=[detail.summary.number])
        every_finding.extend(found)
        lines.extend(invoice_facts(detail, found, escape))
    for name in references.client_names:
        if grounded >= MAX_RECORDS:
            break
        try:
            balance = reads.client_balance(unit, name)
        except LedgerError:
            continue
        if balance.client.id in seen_clients:
            continue
        grounded += 1
        seen_clients.add(balance.client.id)
        numbers = [invoice.number for invoice in balance.invoices]
        found = _findings(unit, client_id=balance.client.id, invoice_numbers=numbers)
        every_finding.extend(found)
        lines.extend(client_facts(balance, found, escape))
    unique = {finding.finding_id: finding for finding in every_finding}
    return Grounding(tuple(lines), tuple(_grounded(finding, escape) for finding in unique.values()))


def _grounded(finding: OpenFinding, escape: Callable[[str], str]) -> GroundedFinding:
    amounts = ()
    if finding.amount_minor is not None and finding.currency:
        amounts = (to_decimal(finding.amount_minor, finding.currency),)
    action = None
    if finding.kind == "duplicate_credit":
        from bot.render.findings import REVERSE_DUPLICATE_ACTION

        action = ("Reverse duplicate", REVERSE_DUPLICATE_ACTION, str(finding.finding_id))
    return GroundedFinding(
        entry_id=finding.faq_entry,
        title=finding.kind_title,
        detail=escape(finding.detail),
        amounts=amounts,
        invoice_number=escape(finding.invoice_number) if finding.invoice_number else None,
        action=action,
    )


@dataclass(frozen=True)
class OpenFinding:
    kind_title: str
    detail: str
    faq_entry: str
    invoice_number: str | None
    finding_id: int = 0
    kind: str = ""
    amount_minor: int | None = None
    currency: str | None = None


def invoice_facts(
    detail: reads.InvoiceDetail, findings: Sequence[OpenFinding], escape: Callable[[str], str] = esc
) -> list[str]:
    summary, currency = detail.summary, detail.client.currency

    def money(minor: int) -> str:
        return format_money(minor, currency)

    lines = [
        f"*{escape(summary.number)}* · {escape(detail.client.name)} (`{escape(detail.client.id)}`): "
        f"total {money(summary.total_minor)}"
        f" = cash paid {money(summary.cash_paid_minor)} + credits applied {money(summary.credits_applied_minor)}"
        f" + QuickBooks credit memos {money(summary.qb_credit_memos_minor)}"
        f" + *balance due {money(summary.balance_due_minor)}*",
        _posting(summary, escape),
    ]
    lines.extend(_finding_line(finding, escape) for finding in findings[:MAX_FINDINGS])
    if not findings:
        lines.append("No open scan findings on this invoice.")
    return lines


def client_facts(
    balance: reads.ClientBalance, findings: Sequence[OpenFinding], escape: Callable[[str], str] = esc
) -> list[str]:
    currency = balance.client.currency
    due = sum(invoice.balance_due_minor for invoice in balance.invoices)
    posted = sum(1 for invoice in balance.invoices if invoice.posted_to_qb)
    lines = [
        f"*{escape(balance.client.name)}* (`{escape(balance.client.id)}`): available credit "
        f"*{format_money(balance.available_credit_minor, currency)}* (issued "
        f"{format_money(balance.credits_issued_minor, currency)}, applied "
        f"{format_money(balance.credits_applied_minor, currency)})",
        f"{_count(len(balance.invoices), 'open invoice')}, balance due {format_money(due, currency)} in total"
        + (f"; {posted} posted to QuickBooks (credits for those belong in QuickBooks)" if posted else "")
        + f". Details: `/credit balance {escape(balance.client.id)}`",
    ]
    lines.extend(_finding_line(finding, escape) for finding in findings[:MAX_FINDINGS])
    hidden = len(findings) - MAX_FINDINGS
    if hidden > 0:
        lines.append(f"…and {_count(hidden, 'more open finding')}: `/credit scan` lists them.")
    return lines


def _posting(summary: reads.InvoiceSummary, escape: Callable[[str], str]) -> str:
    if summary.posted_to_qb_at is None:
        return "Not posted to QuickBooks yet: credits can be applied here."
    qb = f" as QuickBooks invoice {escape(summary.qb_invoice_id)}" if summary.qb_invoice_id else ""
    return (
        f"Posted to QuickBooks on {summary.posted_to_qb_at:%Y-%m-%d}{qb}: changes and credits for it belong in "
        "QuickBooks now (`/credit ask after-qb-posting`)."
    )


def _finding_line(finding: OpenFinding, escape: Callable[[str], str]) -> str:
    where = f" on {escape(finding.invoice_number)}" if finding.invoice_number else ""
    return (
        f":warning: Open finding{where}: *{escape(finding.kind_title)}*: {escape(finding.detail)} "
        f"(why: `/credit ask {finding.faq_entry}`)"
    )


def _findings(unit: Unit, *, invoice_numbers: Sequence[str] = (), client_id: str | None = None) -> list[OpenFinding]:
    """Open scan findings on these invoices or this client; none where the scans are not installed."""
    # The ORM only here, for a question that names records: `creditbot faq` beside a ledger reads the client
    # names on plain SQL and loads SQLModel only if it must look up findings.
    from sqlmodel import col, or_, select

    try:
        from ledger.scans import FindingKind
        from ledger.tables import ScanFinding
    except ImportError:
        return []
    conditions: list[Any] = []
    if invoice_numbers:
        conditions.append(col(ScanFinding.invoice_number).in_(list(invoice_numbers)))
    if client_id is not None:
        conditions.append(ScanFinding.client_id == client_id)
    if not conditions:
        return []
    query = (
        select(
            ScanFinding.kind,
            ScanFinding.detail,
            ScanFinding.invoice_number,
            ScanFinding.id,
            ScanFinding.amount_minor,
            ScanFinding.currency,
        )
        .where(col(ScanFinding.closed_at).is_(None), or_(*conditions))
        .order_by(col(ScanFinding.id))
    )
    found = []
    for kind_value, detail, number, finding_id, amount_minor, currency in unit.session.exec(query):
        try:
            kind = FindingKind(kind_value)
        except ValueError:
            continue  # a kind this release does not know
        found.append(
            OpenFinding(kind.title, detail, kind.faq_entry, number, finding_id or 0, kind.value, amount_minor, currency)
        )
    return found


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
