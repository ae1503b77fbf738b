"""Read models: a client's balance and an invoice's detail, with cash, credits and credit memos apart (R3).

They return plain dataclasses with amounts in minor units; the bot and the CLI render them.
A balance read touches the client's row, its open invoices (a partial index) and its credit
applications, never the whole payment table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ledger.credit_ops import lots
from ledger.errors import InvalidCreditSearch, UnknownInvoice
from ledger.kinds import OPEN_INVOICE_SQL, PaymentKind
from ledger.lookup import ClientRef, InvoiceRef, client_by_id, find_client, find_client_row, find_invoice
from ledger.money import decimal_str, parse_amount
from ledger.unit import Statement, Unit, statement

UNTAGGED = "(no project)"


@dataclass(frozen=True)
class InvoiceSummary:
    number: str
    total_minor: int
    cash_paid_minor: int
    credits_applied_minor: int
    qb_credit_memos_minor: int
    posted_to_qb_at: datetime | None
    qb_invoice_id: str | None
    issued_on: date

    @property
    def balance_due_minor(self) -> int:
        return self.total_minor - self.cash_paid_minor - self.credits_applied_minor - self.qb_credit_memos_minor

    @property
    def posted_to_qb(self) -> bool:
        return self.posted_to_qb_at is not None

    def as_json(self, currency: str) -> dict[str, Any]:
        return {
            "number": self.number,
            "total": decimal_str(self.total_minor, currency),
            "cash_paid": decimal_str(self.cash_paid_minor, currency),
            "credits_applied": decimal_str(self.credits_applied_minor, currency),
            "qb_credit_memos": decimal_str(self.qb_credit_memos_minor, currency),
            "balance_due": decimal_str(self.balance_due_minor, currency),
            "posted_to_qb": self.posted_to_qb,
        }


@dataclass(frozen=True)
class ClientBalance:
    client: ClientRef
    credits_issued_minor: int
    credits_applied_minor: int
    invoices: list[InvoiceSummary]
    credits_by_project_minor: dict[str, int]
    # All open invoices, also when `invoices` holds only the oldest few (client_balance's invoice_limit).
    open_invoice_count: int

    @property
    def available_credit_minor(self) -> int:
        return self.credits_issued_minor - self.credits_applied_minor

    def as_json(self) -> dict[str, Any]:
        currency = self.client.currency
        return {
            "client": self.client.as_json(),
            "available_credit": decimal_str(self.available_credit_minor, currency),
            "invoices": [invoice.as_json(currency) for invoice in self.invoices],
            "credits_by_project": {
                project: decimal_str(minor, currency) for project, minor in self.credits_by_project_minor.items()
            },
        }


@dataclass(frozen=True)
class PaymentLine:
    id: int
    external_id: str | None
    kind: PaymentKind
    amount_minor: int
    received_on: date
    created_at: datetime
    created_by: str
    project_id: str | None
    reversed_at: datetime | None

    def as_json(self, currency: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "external_id": self.external_id,
            "type": self.kind.value,
            "label": self.kind.label,
            "amount": decimal_str(self.amount_minor, currency),
            "received_on": self.received_on.isoformat(),
            "project_id": self.project_id,
            "reversed": self.reversed_at is not None,
        }


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    actor: str
    action: str
    outcome: str
    subject: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "outcome": self.outcome,
            "subject": self.subject,
            "before": self.before,
            "after": self.after,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class InvoiceDetail:
    client: ClientRef
    summary: InvoiceSummary
    project_id: str | None
    payments: list[PaymentLine]
    history: list[HistoryLine] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        currency = self.client.currency
        return {
            **self.summary.as_json(currency),
            "client": self.client.as_json(),
            "currency": currency,
            "project_id": self.project_id,
            "posted_to_qb_at": self.summary.posted_to_qb_at.isoformat() if self.summary.posted_to_qb_at else None,
            "qb_invoice_id": self.summary.qb_invoice_id,
            "payments": [payment.as_json(currency) for payment in self.payments],
            "history": [line.as_json() for line in self.history],
        }


# The balance read is the bot's hottest path: plain SQL on the driver connection (see ledger/driver.py), so each
# statement costs SQLite's or PostgreSQL's own work and not SQLAlchemy's ~0.1 ms of bookkeeping, and the read model
# is built from plain rows. The open invoices come from a partial index (ix_invoice_open_by_client), credits by
# project from the payment (client_id, kind, project_id, amount_minor) index alone.
_WALLET_COLUMNS = ", credits_issued_minor, credits_applied_minor, next_expiry_on"  # after id, name, currency
_CLIENT_BY_ID = client_by_id(_WALLET_COLUMNS)
_OPEN_INVOICES_SQL = (
    "SELECT number, total_minor, cash_paid_minor, credits_applied_minor, qb_credit_memos_minor, posted_to_qb_at,"
    f" qb_invoice_id, issued_on FROM invoice WHERE client_id = ? AND {OPEN_INVOICE_SQL}"  # the index's predicate
    " ORDER BY issued_on, number"
)
_OPEN_INVOICES = statement(_OPEN_INVOICES_SQL)
_FIRST_OPEN_INVOICES = statement(f"{_OPEN_INVOICES_SQL} LIMIT ?")
_OPEN_INVOICE_COUNT = statement(f"SELECT count(*) FROM invoice WHERE client_id = ? AND {OPEN_INVOICE_SQL}")
_CREDITS_BY_PROJECT = statement(
    "SELECT project_id, sum(amount_minor) FROM payment WHERE client_id = ? AND kind = ?"
    " AND NOT EXISTS (SELECT 1 FROM reversal WHERE reversal.payment_id = payment.id) GROUP BY project_id"
)


def client_balance(unit: Unit, client_query: str, invoice_limit: int | None = None) -> ClientBalance:
    """The client's credit and open invoices; with `invoice_limit`, only the oldest that many invoices are read
    (a Slack reply shows a dozen) and `open_invoice_count` still counts them all.

    The client is an id, a name or part of one (`find_client`)."""
    # The client's row with its wallet's totals as the lookup reads it: one round trip on PostgreSQL by name too.
    return _balance(unit, find_client_row(unit, client_query, _WALLET_COLUMNS), invoice_limit)


def balance_by_id(unit: Unit, client_id: str, invoice_limit: int | None = None) -> ClientBalance | None:
    """The balance of the client with this exact id, or None if there is none (see `client_balance`)."""
    client = unit.row(_CLIENT_BY_ID, (client_id,))
    return None if client is None else _balance(unit, client, invoice_limit)


def _balance(unit: Unit, client: tuple[Any, ...], invoice_limit: int | None) -> ClientBalance:
    client_id, name, currency, issued, applied, next_expiry_on = client
    # Credit that expired since the wallet's last write is not available, though not recorded yet (lots.py).
    issued -= lots.pending_expiry_minor(unit, client_id, issued - applied, next_expiry_on, unit.now.date())
    if invoice_limit is None:
        invoices = unit.rows(_OPEN_INVOICES, (client_id,))
        open_count = len(invoices)
    else:
        invoices = unit.rows(_FIRST_OPEN_INVOICES, (client_id, invoice_limit))
        open_count = unit.one(_OPEN_INVOICE_COUNT, (client_id,))[0]
    by_project = unit.rows(_CREDITS_BY_PROJECT, (client_id, PaymentKind.ACCOUNT_CREDIT.value))
    return ClientBalance(
        client=ClientRef(id=client_id, name=name, currency=currency),
        credits_issued_minor=issued,
        credits_applied_minor=applied,
        invoices=[_open_invoice(unit, row) for row in invoices],
        # R7: credit applied per project tag, for reporting; reversed applications do not count.
        credits_by_project_minor={
            project_id or UNTAGGED: int(total) for project_id, total in sorted(by_project, key=lambda r: r[0] or "")
        },
        open_invoice_count=open_count,
    )


def _open_invoice(unit: Unit, row: tuple[Any, ...]) -> InvoiceSummary:
    number, total, cash, credits, memos, posted_at, qb_invoice_id, issued_on = row
    return InvoiceSummary(
        number, total, cash, credits, memos, unit.read_time(posted_at), qb_invoice_id, unit.read_day(issued_on)
    )


_FIRST_CLIENT = statement("SELECT id FROM client ORDER BY id LIMIT 1")
_CLIENT = statement("SELECT id, name, currency FROM client WHERE id = ?")
_INVOICE = statement(
    "SELECT number, total_minor, cash_paid_minor, credits_applied_minor, qb_credit_memos_minor, posted_to_qb_at, "
    "qb_invoice_id, issued_on, project_id FROM invoice WHERE id = ?"
)
_PAYMENTS = statement(
    "SELECT p.id, p.external_id, p.kind, p.amount_minor, p.received_on, p.created_at, p.created_by, p.project_id, "
    "r.created_at FROM payment p LEFT JOIN reversal r ON r.payment_id = p.id WHERE p.invoice_id = ? "
    "ORDER BY p.received_on, p.id"
)
_HISTORY_COLUMNS = "SELECT at, actor, action, outcome, subject, before, after, detail FROM history"
# An invoice's lines, and the import that created it (an import's line is timed as the rows it creates).
_INVOICE_HISTORY = statement(
    f"{_HISTORY_COLUMNS} WHERE invoice_id = ? OR (action = 'import' AND invoice_id IS NULL "
    "AND at = (SELECT created_at FROM invoice WHERE id = ?)) ORDER BY id"
)
_CLIENT_HISTORY = statement(f"{_HISTORY_COLUMNS} WHERE client_id = ? ORDER BY id DESC LIMIT ?")


def first_client_id(unit: Unit) -> str | None:
    """The first client's id (None in an empty ledger): a read to run before any request, to warm things up."""
    row = unit.row(_FIRST_CLIENT)
    return None if row is None else row[0]


def invoice_detail(unit: Unit, number: str) -> InvoiceDetail:
    invoice = find_invoice(unit, number)
    client = ClientRef(*unit.one(_CLIENT, (invoice.client_id,)))
    *summary, issued_on, project_id = unit.one(_INVOICE, (invoice.id,))
    return InvoiceDetail(
        client=client,
        summary=_open_invoice(unit, (*summary, issued_on)),
        project_id=project_id,
        payments=[_payment_line(unit, row) for row in unit.rows(_PAYMENTS, (invoice.id,))],
        history=invoice_history(unit, invoice),
    )


def invoice_history(unit: Unit, invoice: InvoiceRef) -> list[HistoryLine]:
    return [_history_line(unit, row) for row in unit.rows(_INVOICE_HISTORY, (invoice.id, invoice.id))]


def client_history(unit: Unit, client: ClientRef, limit: int = 200) -> list[HistoryLine]:
    rows = unit.rows(_CLIENT_HISTORY, (client.id, limit))
    return [_history_line(unit, row) for row in reversed(rows)]


def history(unit: Unit, client_or_invoice: str) -> tuple[str, list[HistoryLine]]:
    """The change history of an invoice (by number) or else of a client; returns what it found and the lines."""
    try:
        invoice = find_invoice(unit, client_or_invoice)
    except UnknownInvoice:
        client = find_client(unit, client_or_invoice)
        return f"client {client.name}", client_history(unit, client)
    return f"invoice {invoice.number}", invoice_history(unit, invoice)


def _payment_line(unit: Unit, row: tuple[Any, ...]) -> PaymentLine:
    payment_id, external_id, kind, amount, received_on, created_at, created_by, project_id, reversed_at = row
    return PaymentLine(
        id=payment_id,
        external_id=external_id,
        kind=PaymentKind(kind),
        amount_minor=amount,
        received_on=unit.read_day(received_on),
        created_at=unit.read_time(created_at),  # type: ignore[arg-type]
        created_by=created_by,
        project_id=project_id,
        reversed_at=unit.read_time(reversed_at),
    )


def _history_line(unit: Unit, row: tuple[Any, ...]) -> HistoryLine:
    at, actor, action, outcome, subject, before, after, detail = row
    return HistoryLine(
        at=unit.read_time(at),  # type: ignore[arg-type]
        actor=actor,
        action=action,
        outcome=outcome,
        subject=subject,
        before=unit.read_json(before),
        after=unit.read_json(after),
        detail=detail,
    )


# --- credit entries (`credits`) -------------------------------------------------------------------------

# What `credits --kind` accepts: every credit entry kind, "applied" and "reversed", and a few words people use.
ENTRY_KINDS = ("grant", "applied", "reversed", "refund", "write_off", "transfer_in", "transfer_out", "expiry",
               "revocation", "reinstated")  # fmt: skip
_KIND_WORDS = {"issued": "grant", "issue": "grant", "expired": "expiry", "write-off": "write_off",
               "written_off": "write_off", "revoked": "revocation", "reversal": "reversed", "application": "applied",
               "refunded": "refund"}  # fmt: skip
PAGE_SIZE = 25


@dataclass(frozen=True)
class CreditEntry:
    """One line of a wallet's story: a credit entry, an application or a reversal. `amount_minor` is its effect on
    the available credit (grants and reversals add, the rest take)."""

    source: str  # "credit", "application" or "reversal"
    id: int
    kind: str
    amount_minor: int
    on: date
    client_id: str
    client_name: str
    currency: str
    invoice_number: str | None
    project_id: str | None
    detail: str
    expires_on: date | None

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "id": self.id,
            "kind": self.kind,
            "amount": decimal_str(self.amount_minor, self.currency),
            "on": self.on.isoformat(),
            "client": {"id": self.client_id, "name": self.client_name, "currency": self.currency},
            "invoice_number": self.invoice_number,
            "project_id": self.project_id,
            "detail": self.detail,
            "expires_on": self.expires_on.isoformat() if self.expires_on else None,
        }


@dataclass(frozen=True)
class CreditSearch:
    client: str | None
    entries: list[CreditEntry]
    page: int
    page_size: int
    has_more: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "entries": [entry.as_json() for entry in self.entries],
            "page": self.page,
            "page_size": self.page_size,
            "has_more": self.has_more,
        }


@dataclass(frozen=True)
class CreditFilter:
    client: str | None = None
    date_from: str | date | None = None
    date_to: str | date | None = None
    min_amount: str | None = None
    max_amount: str | None = None
    kind: str | None = None
    project: str | None = None
    page: int = 1
    page_size: int = PAGE_SIZE


def entry_kind(word: str) -> str:
    wanted = word.strip().lower().replace(" ", "_")
    wanted = _KIND_WORDS.get(wanted, wanted)
    if wanted not in ENTRY_KINDS:
        raise InvalidCreditSearch(f"“{word}” is not a kind of credit entry; use one of {', '.join(ENTRY_KINDS)}")
    return wanted


# Every entry as (source, id, kind, effect, day, client, invoice, project, detail, expires_on); the day of a
# reversal is the day it was recorded.
_ENTRY_UNION = """
    SELECT 'credit' AS source, c.id, c.kind, c.amount_minor AS effect, c.issued_on AS day, c.client_id,
           NULL AS invoice_number, NULL AS project_id, c.reason AS detail, c.expires_on FROM credit c
    UNION ALL
    SELECT 'application', p.id, 'applied', -p.amount_minor, p.received_on, p.client_id, i.number, p.project_id,
           p.created_by, NULL FROM payment p JOIN invoice i ON i.id = p.invoice_id WHERE p.kind = 'AccountCredit'
    UNION ALL
    SELECT 'reversal', r.id, 'reversed', COALESCE(r.amount_minor, p.amount_minor), {reversal_day}, p.client_id,
           i.number, p.project_id, r.reason, NULL
    FROM reversal r JOIN payment p ON p.id = r.payment_id JOIN invoice i ON i.id = p.invoice_id
    WHERE p.kind = 'AccountCredit'
"""


def _search_statement(where: str) -> Statement:
    def spelled(reversal_day: str, mark: str) -> str:
        sql = (
            f"SELECT e.*, cl.name, cl.currency FROM ({_ENTRY_UNION.format(reversal_day=reversal_day)}) e "
            f"JOIN client cl ON cl.id = e.client_id WHERE 1 = 1{where} "
            "ORDER BY e.day DESC, e.source, e.id DESC LIMIT ? OFFSET ?"
        )
        return sql.replace("?", mark)

    return Statement(spelled("date(r.created_at)", "?"), spelled("CAST(r.created_at AS DATE)", "%s"))


def credit_entries(unit: Unit, search: CreditFilter) -> CreditSearch:
    """Credit entries, applications and reversals, newest first, one page at a time, filtered as asked.

    Amount bounds compare the entry's size (a refund of 50 is 50), in each client's currency."""
    where, params = "", []
    client_id = None
    if search.client:
        found = find_client(unit, search.client)
        client_id = found.id
        where += " AND e.client_id = ?"
        params.append(client_id)
    for bound, op, what in ((search.date_from, ">=", "--from date"), (search.date_to, "<=", "--to date")):
        if bound is not None and str(bound).strip():
            where += f" AND e.day {op} ?"
            params.append(unit.day(_day(bound, what)))
    for bound, op, what in ((search.min_amount, ">=", "--min"), (search.max_amount, "<=", "--max")):
        if bound is not None and str(bound).strip():
            sizes = _amount_in_each_currency(unit, str(bound), what, client_id)
            where += " AND (" + " OR ".join(f"(cl.currency = ? AND ABS(e.effect) {op} ?)" for _ in sizes) + ")"
            for currency, minor in sizes:
                params += [currency, minor]
    if search.kind:
        where += " AND e.kind = ?"
        params.append(entry_kind(search.kind))
    if search.project:
        where += " AND e.project_id = ?"
        params.append(search.project.strip())
    if search.page < 1 or not 1 <= search.page_size <= 500:
        raise InvalidCreditSearch("pages start at 1 and hold 1 to 500 entries")
    params += [search.page_size + 1, (search.page - 1) * search.page_size]
    rows = unit.rows(_search_statement(where), params)
    entries = [_credit_entry(unit, row) for row in rows[: search.page_size]]
    return CreditSearch(client_id, entries, search.page, search.page_size, len(rows) > search.page_size)


def _day(value: str | date, what: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidCreditSearch(f"the {what} “{value}” is not a date like 2026-12-31") from None


_CURRENCIES = statement("SELECT DISTINCT currency FROM client ORDER BY currency")
_CURRENCY_OF = statement("SELECT currency FROM client WHERE id = ?")


def _amount_in_each_currency(unit: Unit, text: str, what: str, client_id: str | None) -> list[tuple[str, int]]:
    currencies = unit.column(_CURRENCY_OF, (client_id,)) if client_id else unit.column(_CURRENCIES)
    try:
        return [(currency, parse_amount(text, currency, allow_zero=True)) for currency in currencies] or [("", 0)]
    except Exception as bad:
        raise InvalidCreditSearch(f"{what} {getattr(bad, 'message', text)}") from None


def _credit_entry(unit: Unit, row: tuple[Any, ...]) -> CreditEntry:
    source, entry_id, kind, effect, day, client_id, number, project_id, detail, expires_on, name, currency = row
    return CreditEntry(
        source=source,
        id=int(entry_id),
        kind=kind,
        amount_minor=int(effect),
        on=unit.read_day(day),
        client_id=client_id,
        client_name=name,
        currency=currency,
        invoice_number=number,
        project_id=project_id,
        detail=detail or "",
        expires_on=unit.read_day(expires_on) if expires_on is not None else None,
    )
