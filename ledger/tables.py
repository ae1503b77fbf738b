"""Every table of the ledger, in one place (Alembic's migrations create them; the metadata is `SQLModel.metadata`).

Money columns are BIGINT counts of the currency's minor unit. Times are aware, stored as UTC. Credits, credit
applications and reversals are append-only: nothing here is updated or deleted by the tool; a reversal is
a new row pointing at what it reverses. Imported rows may be edited by a re-import, and each edit leaves
its old values in `history`.

Running totals (`Client.credits_*`, `Invoice.*_minor` paid columns) are kept in the same transaction as the
entries they summarize, so a balance read touches one client's rows, never all payments; tests recompute
them from the entries after every step.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    text,
)
from sqlmodel import Field, SQLModel

# BIGINT ids on PostgreSQL; INTEGER (the rowid alias, so autoincrementing) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def money_column() -> Any:
    return Field(default=0, sa_type=BigInteger, nullable=False)


class Client(SQLModel, table=True):
    __table_args__ = (
        # Slack's home tab: the clients holding the most unapplied credit, in order (migration 0012_slack_home).
        Index("ix_client_unapplied", text("(credits_issued_minor - credits_applied_minor)")),
        # Client names by any part (the typeahead, `find_client`): PostgreSQL's trigram index. SQLite keeps the same
        # in the FTS5 trigram table `client_name_trigram` (SQLITE_TRIGRAM_TABLES), filled by triggers on `client`.
        # Without GIN's pending list (0013_lookup_speed): a batch of new clients would wait there until a vacuum,
        # read whole by every lookup.
        Index(
            "ix_client_name_trgm",
            "name_key",
            postgresql_using="gin",
            postgresql_ops={"name_key": "gin_trgm_ops"},
            postgresql_with={"fastupdate": "off"},
        ).ddl_if(dialect="postgresql"),
        Index("ix_client_name_prefix", text('(name_key COLLATE "C")')).ddl_if(dialect="postgresql"),
        # Client ids in any case (`find_client`), and the names nearest a miss in trigram distance, read in order
        # (PostgreSQL; SQLite ranks candidates from its FTS5 table): migration 0013_lookup_speed.
        Index("ix_client_id_lower", text("lower(id)")),
        Index(
            "ix_client_name_trgm_gist",
            func.lower(literal_column("name")).label("name_lower"),
            postgresql_using="gist",
            postgresql_ops={"name_lower": "gist_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    # Lower-cased name: client names are unique case-insensitively.
    name_key: str = Field(max_length=200, unique=True)
    currency: str = Field(default="USD", max_length=3)
    qb_customer_id: str | None = Field(default=None, max_length=64, unique=True)
    credits_issued_minor: int = money_column()
    credits_applied_minor: int = money_column()
    created_at: datetime = Field(default_factory=utcnow)
    # The earliest expiry date of the wallet's credits not yet expired (0011): a write that locks the wallet on or
    # after that day first records what expired (ledger/credit_ops/lots.py), so no write draws on expired credit.
    next_expiry_on: date | None = None

    @property
    def available_credit_minor(self) -> int:
        return self.credits_issued_minor - self.credits_applied_minor


class Project(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(foreign_key="client.id", index=True, max_length=64)
    name: str = Field(max_length=200)


class Invoice(SQLModel, table=True):
    __table_args__ = (
        # The open invoices of a client, without reading its settled ones. Queries must repeat this
        # predicate exactly (ledger.kinds.OPEN_INVOICE_SQL) for SQLite and PostgreSQL to use the index.
        Index(
            "ix_invoice_open_by_client",
            "client_id",
            sqlite_where=text("total_minor <> cash_paid_minor + credits_applied_minor + qb_credit_memos_minor"),
            postgresql_where=text("total_minor <> cash_paid_minor + credits_applied_minor + qb_credit_memos_minor"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    number: str = Field(max_length=64, unique=True)
    client_id: str = Field(foreign_key="client.id", index=True, max_length=64)
    project_id: str | None = Field(default=None, foreign_key="project.id", max_length=64)
    issued_on: date
    total_minor: int = money_column()
    posted_to_qb_at: datetime | None = None
    qb_invoice_id: str | None = Field(default=None, max_length=64, index=True)
    updated_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    cash_paid_minor: int = money_column()
    credits_applied_minor: int = money_column()
    qb_credit_memos_minor: int = money_column()

    @property
    def balance_due_minor(self) -> int:
        return self.total_minor - self.cash_paid_minor - self.credits_applied_minor - self.qb_credit_memos_minor


# SQLite's FTS5 trigram index of client names and its shadow tables (migration 0012_slack_home): not models.
SQLITE_TRIGRAM_TABLES = frozenset(
    f"client_name_trigram{suffix}" for suffix in ("", "_data", "_idx", "_content", "_docsize", "_config")
)


def compared_with_migrations(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's include_object for comparing the models with a migrated database: SQLite's trigram tables are not
    models, and the PostgreSQL-only trigram indexes do not exist on SQLite."""
    if type_ == "table" and name in SQLITE_TRIGRAM_TABLES:
        return False
    if type_ == "index" and name == "ix_client_name_prefix":
        return False  # Alembic reflects its COLLATE "C" expression as a plain column: it cannot compare it
    postgresql_only = name in ("ix_client_name_trgm", "ix_client_name_trgm_gist")
    return not (type_ == "index" and postgresql_only and not reflected and compare_to is None)


class Credit(SQLModel, table=True):
    """A grant to a client's credit wallet (R1)."""

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    external_id: str | None = Field(default=None, max_length=64, unique=True)
    client_id: str = Field(foreign_key="client.id", index=True, max_length=64)
    amount_minor: int = money_column()
    issued_on: date
    reason: str = Field(default="")
    # Set when the credit records a QuickBooks overpayment (R6): one credit per QuickBooks payment.
    qb_payment_id: str | None = Field(default=None, max_length=64, unique=True)
    created_by: str = Field(default="import", max_length=120)
    created_at: datetime = Field(default_factory=utcnow)
    # What the entry is (CreditKind, 0011): a grant adds to the wallet; refunds, write-offs, expiries, transfers out
    # and revocations are negative entries, so `credits_issued_minor` (their sum) stays the wallet's net intake.
    kind: str = Field(default="grant", max_length=16, sa_column_kwargs={"server_default": "grant"})
    # A grant may expire (0011): the part of it still held that day leaves the wallet as an "expiry" entry. Indexed
    # (0014): every scan looks up the grants expiring within the warning window.
    expires_on: date | None = Field(default=None, index=True)
    transfer_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("credit_transfer.id"), nullable=True, index=True)
    )


class CreditTransfer(SQLModel, table=True):
    """Credit moved between two clients' wallets in one transaction: one transfer_out entry and its transfer_in."""

    __tablename__ = "credit_transfer"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    from_client_id: str = Field(foreign_key="client.id", max_length=64, index=True)
    to_client_id: str = Field(foreign_key="client.id", max_length=64, index=True)
    amount_minor: int = money_column()
    reason: str = Field(default="")
    created_by: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow)


class CreditRefund(SQLModel, table=True):
    """Credit paid out as money (a refund entry), with its receipt reference, for the billing system and QuickBooks
    to follow: `follow_status` stays "pending" until they record it on their side."""

    __tablename__ = "credit_refund"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    credit_id: int = Field(sa_column=Column(BigId, ForeignKey("credit.id"), nullable=False, unique=True))
    client_id: str = Field(foreign_key="client.id", max_length=64, index=True)
    amount_minor: int = money_column()
    currency: str = Field(max_length=3)
    reference: str = Field(max_length=64, unique=True)
    reason: str = Field(default="")
    follow_status: str = Field(default="pending", max_length=16, index=True)
    created_by: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow)


class Payment(SQLModel, table=True):
    """Anything that reduces an invoice's balance: cash kinds, credit applications (R2), credit memos (R5)."""

    # A client's payments by kind; with the tag and amount in the index, a balance read sums a client's credits per
    # project from the index alone, however many applications the client has (migration 0007).
    __table_args__ = (Index("ix_payment_client_kind_project", "client_id", "kind", "project_id", "amount_minor"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    external_id: str | None = Field(default=None, max_length=64, unique=True)
    invoice_id: int = Field(sa_column=Column(BigId, ForeignKey("invoice.id"), nullable=False, index=True))
    client_id: str = Field(foreign_key="client.id", max_length=64)
    kind: str = Field(max_length=16)
    amount_minor: int = money_column()
    received_on: date
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None
    # Tracking tag only (R7): a credit is never restricted to a project.
    project_id: str | None = Field(default=None, max_length=64)
    created_by: str = Field(default="import", max_length=120)


class Reversal(SQLModel, table=True):
    """Undoes one payment's effect. Unique per payment, so a second reversal cannot be written.

    A partial reversal (0011) reverses the application and re-applies what is left as a new application on the same
    invoice (`remainder_payment_id`, unique): "delete the allocation and allocate again". Each row of that chain is
    reversed at most once and each remainder is smaller than its row, so several partial reversals can never add up
    to more than the first application, whatever runs concurrently.
    """

    __table_args__ = (CheckConstraint("amount_minor IS NULL OR amount_minor > 0", name="ck_reversal_amount"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    payment_id: int = Field(sa_column=Column(BigId, ForeignKey("payment.id"), nullable=False, unique=True))
    actor: str = Field(max_length=120)
    reason: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow)
    # What this reversal gave back (0011); NULL: the whole payment (every reversal before 0011).
    amount_minor: int | None = Field(default=None, sa_type=BigInteger)
    remainder_payment_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("payment.id"), nullable=True, unique=True)
    )


class HistoryEntry(SQLModel, table=True):
    """Append-only record of every change and every refused write: who, when, what, before and after."""

    __tablename__ = "history"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=120)
    action: str = Field(max_length=40)
    outcome: str = Field(default="done", max_length=16)
    client_id: str | None = Field(default=None, max_length=64, index=True)
    invoice_id: int | None = Field(default=None, sa_column=Column(BigId, nullable=True, index=True))
    subject: str = Field(default="", max_length=120)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    detail: str = Field(default="")


class IdempotencyKey(SQLModel, table=True):
    """A write's key, the hash of its parameters, and its first result, stored in the write's transaction."""

    __tablename__ = "idempotency_key"

    key: str = Field(primary_key=True, max_length=200)
    operation: str = Field(max_length=40)
    request_hash: str = Field(max_length=64)
    result: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


# --- approvals (ledger/approvals.py) ----------------------------------------------------------------

PENDING, APPROVED, REJECTED, CANCELLED, FAILED = "pending", "approved", "rejected", "cancelled", "failed"


class PendingApproval(SQLModel, table=True):
    """A write asked for by one person that needs a second one's approval (e.g. a large credit)."""

    __tablename__ = "pending_approval"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    request_key: str = Field(max_length=200, unique=True)
    action: str = Field(max_length=40)
    params: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    client_id: str | None = Field(default=None, max_length=64, index=True)
    requester: str = Field(max_length=120)
    status: str = Field(default=PENDING, max_length=16)
    decided_by: str | None = Field(default=None, max_length=120)
    decided_at: datetime | None = None
    # What carrying it out gave: e.g. {"credit_id": 12}, or {"error": {"code", "message"}} when the ledger refused.
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class ApprovalUsage(SQLModel, table=True):
    """One gated write carried out without a second admin: what the rolling 24-hour sum per client adds up."""

    __tablename__ = "approval_usage"
    __table_args__ = (Index("ix_approval_usage_client_action_at", "client_id", "action", "at"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    client_id: str = Field(foreign_key="client.id", max_length=64)
    action: str = Field(max_length=40)
    amount_minor: int = money_column()
    at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=120)


# --- QuickBooks Online (ledger/qbo) -----------------------------------------------------------------
# Tables of the QuickBooks Online sync.
#
# - `qb_txn`: every QuickBooks entity the sync has seen, by (entity type, QuickBooks Id), with the last SyncToken
#  applied and that version's fields (`payload`). The unique key is what makes a re-sent, reordered or stale feed
#  harmless: a version older than the one recorded is ignored, and a deleted entity stays deleted. A version that
#  could not be matched yet (`unresolved`: unknown customer or invoice) is tried again by every later sync.
# - `qb_txn_payment`: which ledger payments a QuickBooks payment produced (a payment's id is unique here, so a ledger
#  payment belongs to one QuickBooks payment). Live ones are those without a reversal.
# - `qb_overpayment`: money a client overpaid in QuickBooks (`Payment.UnappliedAmt`). It never enters the wallet by
#  itself (R6); a person may enter it once as a client credit (`credit.qb_payment_id` is unique). Read by the scans.


class QBTxnStatus:
    """What the ledger holds for a QuickBooks entity's last applied version."""

    RECORDED = "recorded"  # fully matched and applied
    UNRESOLVED = "unresolved"  # part of it could not be matched (unknown customer or invoice, other currency)
    VOIDED = "voided"  # voided in QuickBooks: amounts zeroed, its effect removed here
    DELETED = "deleted"  # deleted in QuickBooks (a tombstone: older versions sent later are ignored)


class QBTxn(SQLModel, table=True):
    __tablename__ = "qb_txn"
    __table_args__ = (
        UniqueConstraint("entity_type", "qbo_id", name="uq_qb_txn_entity"),
        Index("ix_qb_txn_synced_at", "synced_at"),  # the connection's last sync (Slack's home tab)
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    entity_type: str = Field(max_length=16)  # "Invoice", "Payment", "CreditMemo", as QuickBooks names them
    qbo_id: str = Field(max_length=32)
    # The last SyncToken applied; None for a delete of an entity never seen before.
    sync_token: int | None = Field(default=None, sa_type=BigInteger)
    status: str = Field(max_length=16, index=True)
    client_id: str | None = Field(default=None, foreign_key="client.id", max_length=64)
    invoice_id: int | None = Field(default=None, sa_column=Column(BigId, ForeignKey("invoice.id"), nullable=True))
    qb_updated_at: datetime | None = None  # MetaData.LastUpdatedTime of the applied version
    # The applied version's fields as the sync read them (not kept for deletes).
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    synced_at: datetime = Field(default_factory=utcnow)


class QBTxnPayment(SQLModel, table=True):
    __tablename__ = "qb_txn_payment"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    qb_txn_id: int = Field(sa_column=Column(BigId, ForeignKey("qb_txn.id"), nullable=False, index=True))
    payment_id: int = Field(sa_column=Column(BigId, ForeignKey("payment.id"), nullable=False, unique=True))


class QBOverpayment(SQLModel, table=True):
    """One row per QuickBooks payment with unapplied money; the amount follows the payment's latest SyncToken."""

    __tablename__ = "qb_overpayment"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    qb_payment_id: str = Field(max_length=64, unique=True)
    client_id: str = Field(foreign_key="client.id", index=True, max_length=64)
    amount_minor: int = money_column()
    currency: str = Field(max_length=3)
    qb_txn_date: date
    seen_at: datetime = Field(default_factory=utcnow)


# --- scans (ledger/scans) --------------------------------------------------------------------------
# Tables of the scans: findings (with their alert state), per-detector watermarks, scheduler slot claims.
#
# Invariants the database keeps:
# - At most one live (not closed) finding per fingerprint: a partial unique index. A finding that was fixed is
#  closed; if the same problem comes back it is a new row (the next `occurrence`), so it is alerted again.
# - A finding is alerted once: its alert moves pending -> posting (claimed by one poster, `alert_claim`) ->
#  posted (with the Slack message ts). Claims are taken in short transactions; see `ledger.scans.alerting`.
# - Each scheduled slot runs once: (job, slot) is unique in `scan_slot`, and the row is inserted before the run.


class FindingState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"  # still true in the ledger, but someone has seen it: never (re-)alerted
    CLOSED = "closed"  # no longer found by the scan (fixed)


class AlertState(enum.StrEnum):
    PENDING = "pending"  # stored, not yet in Slack (or the last attempt failed)
    POSTING = "posting"  # claimed by one poster; a claim older than the lease is taken over (crashed poster)
    POSTED = "posted"  # in the channel: alert_channel / alert_ts say where
    SKIPPED = "skipped"  # never posted: acknowledged or closed before it went out


class ScanFinding(SQLModel, table=True):
    __tablename__ = "scan_finding"
    __table_args__ = (
        UniqueConstraint("fingerprint", "occurrence", name="uq_scan_finding_occurrence"),
        Index(
            "ux_scan_finding_live",
            "fingerprint",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        # What an incremental scan re-evaluates: the live findings of one detector in the changed scopes.
        Index(
            "ix_scan_finding_live_scope",
            "kind",
            "scope",
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        # The open findings on given invoices, asked by every balance and invoice reply.
        Index(
            "ix_scan_finding_live_invoice",
            "invoice_number",
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index("ix_scan_finding_alert", "alert_state"),
        Index("ix_scan_finding_alert_ts", "alert_ts"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    # The problem's identity: kind and what it is about, e.g. "duplicate_credit:invoice=12:payments=4,5".
    fingerprint: str = Field(max_length=250)
    occurrence: int = Field(default=1)
    kind: str = Field(max_length=40)
    # The unit a detector evaluates ("invoice:12", "client:C1", "qb_payment:88"); see ledger.scans.detectors.
    scope: str = Field(max_length=120)
    invoice_id: int | None = Field(default=None, sa_column=Column(BigId, nullable=True))
    invoice_number: str | None = Field(default=None, max_length=64)
    client_id: str | None = Field(default=None, max_length=64)
    amount_minor: int | None = Field(default=None, sa_type=BigInteger)
    currency: str | None = Field(default=None, max_length=3)
    detail: str = Field(sa_column=Column(Text, nullable=False))
    payment_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    state: str = Field(default=FindingState.OPEN.value, max_length=16)
    first_seen: datetime = Field(default_factory=utcnow)
    changed_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None
    acknowledged_by: str | None = Field(default=None, max_length=120)
    acknowledged_at: datetime | None = None
    alert_state: str = Field(default=AlertState.PENDING.value, max_length=16)
    alert_claim: str | None = Field(default=None, max_length=64)
    alert_claimed_at: datetime | None = None
    # The claim token of the last post that may have reached Slack (sent as message metadata); the next
    # poster looks for it in the channel before posting again, so a crash after posting does not double-post.
    alert_attempt: str | None = Field(default=None, max_length=64)
    alert_attempted_at: datetime | None = None
    alert_channel: str | None = Field(default=None, max_length=64)
    alert_ts: str | None = Field(default=None, max_length=32)


class ScanWatermark(SQLModel, table=True):
    """How far one detector has read each source table (by id), and the settings its findings depend on."""

    __tablename__ = "scan_watermark"

    detector: str = Field(primary_key=True, max_length=40)
    positions: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # e.g. "v1 window=7": a change forces a full re-evaluation of that detector.
    config: str = Field(default="", max_length=120)
    # Bumped by every scan that stores this detector's findings; a scan whose evaluation started from an
    # older generation lost a race and starts over (optimistic concurrency, no lock held while evaluating).
    generation: int = Field(default=0, sa_type=BigInteger)
    scanned_at: datetime = Field(default_factory=utcnow)


class ScanSlot(SQLModel, table=True):
    """One scheduled run: inserted before the run starts, so a second instance firing the same slot skips it."""

    __tablename__ = "scan_slot"
    __table_args__ = (UniqueConstraint("job", "slot", name="uq_scan_slot_job_slot"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    job: str = Field(max_length=40)
    slot: datetime
    instance: str = Field(max_length=120)
    claimed_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    # running -> done | failed. A crashed run stays "running"; it blocks nothing, each slot is its own row.
    outcome: str = Field(default="running", max_length=16)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


# --- the live QuickBooks Online connection (ledger/qbo/connection.py) --------------------------------------
# - `qbo_connection`: the one QuickBooks company this ledger follows (id is always 1). Tokens are Fernet tokens
#  (encrypted with CREDITBOT_SECRET_KEY), never plain text. `token_version` rises with every refresh: a refresh
#  is a locked read-refresh-write of this row, so instances sharing the database never reuse a spent refresh
#  token. `changed_since` is the CDC watermark; it moves only in the transaction that applied what was read.
# - `qbo_auth_state`: the `state` of an authorization URL handed out, until it is used or expires.
# - `qbo_memo_action`: a credit memo (or a payment's unapplied money) to apply to a posted invoice in QuickBooks,
#  one per request key; its id is
#  the `requestid` QuickBooks sees, so a retry or a double click creates one QuickBooks payment.


class QBOConnection(SQLModel, table=True):
    __tablename__ = "qbo_connection"

    id: int = Field(default=1, primary_key=True)
    status: str = Field(default="disconnected", max_length=16)  # connected | broken | disconnected
    realm_id: str | None = Field(default=None, max_length=32)
    access_token: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    refresh_token: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    token_version: int = Field(default=0, sa_type=BigInteger)
    connected_at: datetime | None = None
    connected_by: str | None = Field(default=None, max_length=120)
    changed_since: datetime | None = None
    last_poll_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_error_at: datetime | None = None
    # The error the billing channel was told about (so a failing poll alerts once, not on every run).
    alerted_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class QBOAuthState(SQLModel, table=True):
    __tablename__ = "qbo_auth_state"

    state: str = Field(primary_key=True, max_length=64)
    actor: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class QBOMemoAction(SQLModel, table=True):
    __tablename__ = "qbo_memo_action"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    request_key: str = Field(max_length=200, unique=True)
    client_id: str = Field(foreign_key="client.id", max_length=64, index=True)
    invoice_number: str = Field(max_length=64)
    qb_invoice_id: str = Field(max_length=32)
    # What pays the invoice: a CreditMemo (a $0 payment linking both is created) or a Payment with unapplied money
    # (the payment gets a line linking the invoice). `qb_credit_memo_id` is that entity's QuickBooks Id.
    source: str = Field(default="CreditMemo", max_length=16)
    qb_credit_memo_id: str = Field(max_length=32)
    amount_minor: int = money_column()
    currency: str = Field(max_length=3)
    actor: str = Field(max_length=120)
    approved_by: str | None = Field(default=None, max_length=120)
    status: str = Field(default="pending", max_length=16)  # pending -> sent | refused
    qb_payment_id: str | None = Field(default=None, max_length=32)
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
