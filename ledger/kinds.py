"""What the ledger's entries are, as plain values: payment kinds, credit entry kinds, and which invoices are open.

Apart from the tables (ledger/tables.py, which store these values) so that a read imports neither SQLModel nor
SQLAlchemy's ORM: `creditbot balance` and the bot's reads run on plain SQL (tests/test_cli_lean.py).
"""

from __future__ import annotations

import enum

# An invoice is open while it is owed anything. The partial index `ix_invoice_open_by_client` (ledger/tables.py)
# has this predicate: a query must repeat it exactly for SQLite and PostgreSQL to use the index.
OPEN_INVOICE_SQL = "total_minor <> cash_paid_minor + credits_applied_minor + qb_credit_memos_minor"


class PaymentKind(enum.StrEnum):
    CASH = "cash"
    CHECK = "check"
    ACH = "ach"
    CARD = "card"
    WIRE = "wire"
    ACCOUNT_CREDIT = "AccountCredit"
    QB_CREDIT_MEMO = "QBCreditMemo"
    QB_PAYMENT = "QBPayment"

    @property
    def is_cash(self) -> bool:
        return self not in (PaymentKind.ACCOUNT_CREDIT, PaymentKind.QB_CREDIT_MEMO)

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]

    @classmethod
    def parse(cls, text: str) -> PaymentKind:
        wanted = text.strip().lower()
        for kind in cls:
            if kind.value.lower() == wanted:
                return kind
        raise ValueError(text)


_KIND_LABELS = {
    PaymentKind.CASH: "Cash payment",
    PaymentKind.CHECK: "Check payment",
    PaymentKind.ACH: "ACH payment",
    PaymentKind.CARD: "Card payment",
    PaymentKind.WIRE: "Wire payment",
    PaymentKind.ACCOUNT_CREDIT: "Client credit applied (AccountCredit, not cash)",
    PaymentKind.QB_CREDIT_MEMO: "QuickBooks credit memo (not cash)",
    PaymentKind.QB_PAYMENT: "Payment received in QuickBooks",
}


class CreditKind(enum.StrEnum):
    """What a credit entry is. Positive: grant, transfer_in, reinstated. Negative: the rest."""

    GRANT = "grant"
    REVOCATION = "revocation"
    TRANSFER_IN = "transfer_in"
    TRANSFER_OUT = "transfer_out"
    REFUND = "refund"
    WRITE_OFF = "write_off"
    REINSTATED = "reinstated"
    EXPIRY = "expiry"
