"""Applying QuickBooks Online entities to the ledger, in one transaction per batch.

What QuickBooks says, and what the ledger does (R4-R6 in the domain rules):
- An Invoice: the ledger invoice with that number (`DocNumber`), else with that QuickBooks id, is marked posted
  (`posted_to_qb_at` = `MetaData.CreateTime`, `qb_invoice_id` = `Id`) unless it already is. A QuickBooks total
  that differs is reported as drift; the ledger's total is never overwritten.
- A Payment: what its latest version applies becomes ledger payments, one per (invoice, kind): the part funded
  by credit memos is a `QBCreditMemo` payment (R5), the rest a `QBPayment` (cash received in QuickBooks).
  QuickBooks does not say which invoice a credit memo paid when one payment covers several invoices, so credit
  memo money is assigned to the invoice lines in their order.
- `UnappliedAmt` > 0: the client overpaid in QuickBooks. Nothing enters the wallet (R6); a `qb_overpayment` row
  records it, once per QuickBooks payment, for a person to enter as credit.
- A change (higher `SyncToken`), a void or a delete changes what the payment applies: the old ledger payment gets
  a `Reversal` and a new one is recorded. Nothing is updated in place; the history keeps every step.
- A CreditMemo is recorded as seen; it changes nothing until a payment applies it.

Invariants, kept by `qb_txn` (unique per entity type and Id) and the rules above:
- A QuickBooks entity is applied once per SyncToken: a lower SyncToken is ignored, an equal one is a re-send, a
  delete is final. So re-sending, repeating or reordering feeds never duplicates a payment.
- The live ledger payments of a QuickBooks payment always add up to what its latest version applies.
- What cannot be matched (unknown customer or invoice, another currency) is reported and kept `unresolved`, and
  every later sync tries it again, so nothing is silently dropped and a late invoice or mapping still counts.
Locks: clients, then invoices (the order ledger/operations.py uses, so a sync and a credit application cannot
deadlock); on PostgreSQL concurrent syncs also queue on an advisory lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import text
from sqlmodel import col, select

from ledger import history
from ledger.errors import InvalidAmount
from ledger.history import Line
from ledger.kinds import PaymentKind
from ledger.money import decimal_str, parse_amount
from ledger.qbo.entities import (
    CREDIT_MEMO,
    INVOICE,
    PAYMENT,
    QBOCreditMemo,
    QBODeleted,
    QBOEntity,
    QBOInvoice,
    QBOPayment,
    QBOVersion,
    apply_order,
    latest_versions,
    parse_entity,
)
from ledger.qbo.errors import QBOFeedError
from ledger.qbo.feed import QBOFeed
from ledger.qbo.summary import Drift, OverpaymentChange, PaymentChange, PostedInvoice, Problem, ProblemCode, SyncSummary
from ledger.tables import Client, Credit, Invoice, Payment, QBOverpayment, QBTxn, QBTxnPayment, QBTxnStatus, Reversal
from ledger.totals import refresh_totals
from ledger.unit import Unit

ACTOR = "qbo"
_CHUNK = 500
# Any fixed number: every QuickBooks sync on one PostgreSQL database takes this transaction-level lock.
_SYNC_LOCK = 0x5142_0053_594E_43


def sync_feed(unit: Unit, feed: QBOFeed, *, now: datetime | None = None) -> SyncSummary:
    """Apply a parsed QuickBooks response (see `ledger.qbo.feed`)."""
    summary = apply_entities(unit, feed.entities, now=now)
    summary.other_entities = dict(feed.other_entities)
    return summary


def apply_entities(unit: Unit, entities: Iterable[QBOEntity], *, now: datetime | None = None) -> SyncSummary:
    """Apply QuickBooks entity versions from any source (a file, CDC, entities fetched after a webhook).

    In the caller's unit of work: any error (a bad amount for the client's currency, ...) writes nothing.
    """
    versions = latest_versions(entities)
    return _SyncRun(unit, now or unit.now).run(versions)


@dataclass(frozen=True)
class _Entry:
    """One ledger payment a QuickBooks payment should have: on `invoice`, of `kind`, for `amount_minor`."""

    invoice: Invoice
    qb_invoice_id: str
    kind: PaymentKind
    amount_minor: int
    received_on: date

    def matches(self, payment: Payment) -> bool:
        return (payment.amount_minor, payment.received_on) == (self.amount_minor, self.received_on)


@dataclass(frozen=True)
class _Effect:
    entries: dict[tuple[int, str], _Entry]
    complete: bool  # every invoice line matched a ledger invoice of the client
    unapplied_minor: int


class _SyncRun:
    def __init__(self, unit: Unit, now: datetime) -> None:
        self.unit, self.session, self.now = unit, unit.session, now
        self.summary = SyncSummary()
        self.txns: dict[tuple[str, str], QBTxn] = {}
        self.retried: set[tuple[str, str]] = set()
        self.clients_by_customer: dict[str, Client] = {}
        self.invoices_by_number: dict[str, Invoice] = {}
        self.invoices_by_qb_id: dict[str, list[Invoice]] = {}
        self.touched_invoices: set[int] = set()
        self.touched_clients: set[str] = set()

    def run(self, feed_versions: list[QBOEntity]) -> SyncSummary:
        self._queue_behind_other_syncs()
        self.summary.entities = len(feed_versions)
        versions = self._with_unresolved(feed_versions)
        self._lock_clients(versions)
        self._lock_invoices(versions)
        for version in versions:
            self._apply(version)
        self.session.flush()
        if self.touched_invoices or self.touched_clients:
            refresh_totals(self.unit, self.touched_invoices, self.touched_clients)
        if self.summary.changed or self.summary.problems:
            self._history("qb_sync", None, None, "quickbooks", None, None, self.summary.counts())
        return self.summary

    # --- what to apply, and locks ------------------------------------------------------------------------

    def _queue_behind_other_syncs(self) -> None:
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SYNC_LOCK})

    def _with_unresolved(self, feed_versions: list[QBOEntity]) -> list[QBOEntity]:
        """The batch plus the stored versions of entities earlier syncs could not match, unless superseded."""
        by_key = {version.key: version for version in feed_versions}
        for entity_type in (INVOICE, CREDIT_MEMO, PAYMENT):
            ids = [qbo_id for kind, qbo_id in by_key if kind == entity_type]
            for chunk in _chunks(ids):
                statement = select(QBTxn).where(QBTxn.entity_type == entity_type, col(QBTxn.qbo_id).in_(chunk))
                self.txns.update({(txn.entity_type, txn.qbo_id): txn for txn in self.session.exec(statement)})
        unresolved = self.session.exec(select(QBTxn).where(QBTxn.status == QBTxnStatus.UNRESOLVED)).all()
        for txn in unresolved:
            key = (txn.entity_type, txn.qbo_id)
            self.txns.setdefault(key, txn)
            sent = by_key.get(key)
            if txn.payload is not None and (sent is None or _older(sent, txn.sync_token)):
                by_key[key] = parse_entity(txn.entity_type, txn.payload, "kept from an earlier sync")
                self.retried.add(key)
        return sorted(by_key.values(), key=apply_order)

    def _lock_clients(self, versions: list[QBOEntity]) -> None:
        customers = {v.CustomerRef.value for v in versions if not isinstance(v, QBODeleted)}
        known = {txn.client_id for txn in self.txns.values() if txn.client_id}
        ids: set[str] = set(known)
        for chunk in _chunks(sorted(customers)):
            ids.update(self.session.exec(select(Client.id).where(col(Client.qb_customer_id).in_(chunk))).all())
        for client in self._locked(Client, col(Client.id), sorted(ids)):
            if client.qb_customer_id:
                self.clients_by_customer[client.qb_customer_id] = client

    def _lock_invoices(self, versions: list[QBOEntity]) -> None:
        numbers = {v.DocNumber.strip() for v in versions if isinstance(v, QBOInvoice) and v.DocNumber}
        qb_ids = {v.Id for v in versions if isinstance(v, QBOInvoice)}
        for payment in (v for v in versions if isinstance(v, QBOPayment)):
            qb_ids.update(txn_id for txn_id, _ in payment.linked(INVOICE))
        ids = {txn.invoice_id for txn in self.txns.values() if txn.invoice_id is not None}
        txn_ids = [txn.id for txn in self.txns.values() if txn.id is not None and txn.entity_type == PAYMENT]
        for chunk in _chunks(txn_ids):
            linked = select(Payment.invoice_id).join(QBTxnPayment, col(QBTxnPayment.payment_id) == Payment.id)
            ids.update(self.session.exec(linked.where(col(QBTxnPayment.qb_txn_id).in_(chunk))).all())
        for chunk in _chunks(sorted(numbers)):
            ids.update(self.session.exec(select(Invoice.id).where(col(Invoice.number).in_(chunk))).all())
        for chunk in _chunks(sorted(qb_ids)):
            ids.update(self.session.exec(select(Invoice.id).where(col(Invoice.qb_invoice_id).in_(chunk))).all())
        for invoice in self._locked(Invoice, col(Invoice.id), sorted(i for i in ids if i is not None)):
            self.invoices_by_number[invoice.number] = invoice
            if invoice.qb_invoice_id:
                self.invoices_by_qb_id.setdefault(invoice.qb_invoice_id, []).append(invoice)

    def _locked(self, model: type[_Row], id_column: Any, ids: Sequence[Any]) -> list[_Row]:
        rows: list[_Row] = []
        for chunk in _chunks(ids):
            statement = select(model).where(id_column.in_(chunk)).order_by(id_column).with_for_update()
            rows.extend(self.session.exec(statement.execution_options(populate_existing=True)).all())
        return rows

    # --- one entity --------------------------------------------------------------------------------------

    def _apply(self, version: QBOEntity) -> None:
        txn = self.txns.get(version.key)
        if isinstance(version, QBODeleted):
            self._deleted(version, txn)
            return
        if txn is not None and self._already_applied(version, txn):
            return
        if version.key in self.retried:
            self.summary.retried += 1
        if isinstance(version, QBOInvoice):
            self._invoice(version, txn)
        elif isinstance(version, QBOCreditMemo):
            self._credit_memo(version, txn)
        else:
            self._payment(version, txn)

    def _already_applied(self, version: QBOVersion, txn: QBTxn) -> bool:
        if txn.status == QBTxnStatus.DELETED or _older(version, txn.sync_token):
            self.summary.stale += 1
            return True
        if version.SyncToken == txn.sync_token and txn.status != QBTxnStatus.UNRESOLVED:
            self.summary.unchanged += 1
            return True
        return False

    def _invoice(self, version: QBOInvoice, txn: QBTxn | None) -> None:
        client = self._client_for(version)
        invoice = self._match_invoice(version, client) if client else None
        if client is not None and invoice is not None:
            self._post(invoice, version)
            qb_total = self._minor(version.TotalAmt, client.currency, version, "TotalAmt")
            if qb_total != invoice.total_minor:
                self.summary.drift.append(
                    Drift(invoice.number, version.Id, client.currency, invoice.total_minor, qb_total, version.is_voided)
                )
        status = QBTxnStatus.RECORDED if invoice else QBTxnStatus.UNRESOLVED
        self._record(txn, version, status, client, invoice)

    def _credit_memo(self, version: QBOCreditMemo, txn: QBTxn | None) -> None:
        client = self._client_for(version)
        if client is not None:
            for field, amount in (("TotalAmt", version.TotalAmt), ("RemainingCredit", version.RemainingCredit)):
                if amount is not None:
                    self._minor(amount, client.currency, version, field)
        self.summary.credit_memos_seen += 1
        self._record(txn, version, QBTxnStatus.RECORDED if client else QBTxnStatus.UNRESOLVED, client, None)

    def _payment(self, version: QBOPayment, txn: QBTxn | None) -> None:
        client = self._client_for(version)
        effect = self._payment_effect(version, client) if client else None
        if version.is_voided:
            status = QBTxnStatus.VOIDED
        else:
            status = QBTxnStatus.RECORDED if effect and effect.complete else QBTxnStatus.UNRESOLVED
        recorded = self._record(txn, version, status, client, None)
        reason = (
            "voided in QuickBooks" if version.is_voided else f"changed in QuickBooks, SyncToken {version.SyncToken}"
        )
        self._reconcile(recorded, version, effect.entries if effect else {}, reason)
        self._overpayment(version.Id, client, effect.unapplied_minor if effect else 0, version)

    def _deleted(self, version: QBODeleted, txn: QBTxn | None) -> None:
        if txn is not None and txn.status == QBTxnStatus.DELETED:
            self.summary.unchanged += 1
            return
        if txn is not None and version.entity_type == PAYMENT:
            self._reconcile(txn, version, {}, "deleted in QuickBooks")
            self._overpayment(version.Id, None, 0, version)
        if txn is not None and version.entity_type == INVOICE and txn.invoice_id is not None:
            invoice = self.session.get(Invoice, txn.invoice_id)
            number = invoice.number if invoice else txn.invoice_id
            self._problem(
                ProblemCode.INVOICE_DELETED,
                version,
                f"{version.where}: invoice {number} was deleted in QuickBooks. It stays posted here; check it "
                "in QuickBooks.",
            )
        if txn is None:
            txn = QBTxn(entity_type=version.entity_type, qbo_id=version.Id, status=QBTxnStatus.DELETED)
            self.txns[version.key] = txn
        txn.status, txn.synced_at = QBTxnStatus.DELETED, self.now
        txn.qb_updated_at = version.updated_at or txn.qb_updated_at
        self.session.add(txn)
        self.summary.deleted.append(version.key)

    # --- matching ----------------------------------------------------------------------------------------

    def _client_for(self, version: QBOVersion) -> Client | None:
        customer = version.CustomerRef
        client = self.clients_by_customer.get(customer.value)
        if client is None:
            named = f" ({customer.name})" if customer.name else ""
            self._problem(
                ProblemCode.UNKNOWN_CUSTOMER,
                version,
                f"{version.where}: QuickBooks customer {customer.value}{named} is not any client's qb_customer_id; "
                "it was not applied. Add the id to the client (clients.csv) and sync again.",
            )
            return None
        if version.CurrencyRef is not None and version.CurrencyRef.value != client.currency:
            self._problem(
                ProblemCode.CURRENCY_MISMATCH,
                version,
                f"{version.where} is in {version.CurrencyRef.value}, but {client.name} is billed in "
                f"{client.currency}; it was not applied.",
            )
            return None
        return client

    def _match_invoice(self, version: QBOInvoice, client: Client) -> Invoice | None:
        """By number (DocNumber), then by QuickBooks id; an invoice linked to another QuickBooks id is not it."""
        candidates = []
        by_number = self.invoices_by_number.get((version.DocNumber or "").strip())
        if by_number is not None:
            candidates.append(by_number)
        candidates += [found for found in self.invoices_by_qb_id.get(version.Id, []) if found is not by_number]
        if not candidates:
            number = f" (number {version.DocNumber})" if version.DocNumber else " (no DocNumber)"
            self._problem(
                ProblemCode.UNKNOWN_INVOICE,
                version,
                f"{version.where}{number} matches no invoice here, by number or by QuickBooks id.",
            )
            return None
        for invoice in candidates:
            if invoice.qb_invoice_id not in (None, version.Id):
                continue
            if invoice.client_id != client.id:
                self._problem(
                    ProblemCode.CUSTOMER_MISMATCH,
                    version,
                    f"{version.where} is for {client.name}, but invoice {invoice.number} here belongs to client "
                    f"{invoice.client_id}; it was not marked posted.",
                )
                return None
            return invoice
        self._problem(
            ProblemCode.QB_INVOICE_ID_CONFLICT,
            version,
            f"{version.where} has number {version.DocNumber}, but invoice {candidates[0].number} here is linked to "
            f"QuickBooks invoice {candidates[0].qb_invoice_id}; it was not marked posted.",
        )
        return None

    def _invoice_paid(self, version: QBOPayment, qb_invoice_id: str, client: Client) -> Invoice | None:
        found = self.invoices_by_qb_id.get(qb_invoice_id, [])
        if not found:
            self._problem(
                ProblemCode.UNKNOWN_INVOICE,
                version,
                f"{version.where} pays QuickBooks invoice {qb_invoice_id}, which is not linked to any invoice here "
                "(an invoice is linked when the sync sees it in QuickBooks, or by qb_invoice_id in invoices.csv).",
            )
            return None
        if len(found) > 1:
            numbers = ", ".join(sorted(invoice.number for invoice in found))
            self._problem(
                ProblemCode.QB_INVOICE_ID_CONFLICT,
                version,
                f"{version.where} pays QuickBooks invoice {qb_invoice_id}, but several invoices here carry that "
                f"QuickBooks id ({numbers}); that part was not applied.",
            )
            return None
        if found[0].client_id != client.id:
            self._problem(
                ProblemCode.CUSTOMER_MISMATCH,
                version,
                f"{version.where} is from {client.name}, but invoice {found[0].number} here belongs to client "
                f"{found[0].client_id}; that part was not applied.",
            )
            return None
        return found[0]

    # --- effects -----------------------------------------------------------------------------------------

    def _post(self, invoice: Invoice, version: QBOInvoice) -> None:
        before = {"posted_to_qb_at": _iso(invoice.posted_to_qb_at), "qb_invoice_id": invoice.qb_invoice_id}
        if invoice.posted_to_qb_at is None:
            invoice.posted_to_qb_at = version.MetaData.CreateTime.astimezone(UTC)
            action = "qb_posted"
            self.summary.invoices_posted.append(PostedInvoice(invoice.number, version.Id, invoice.posted_to_qb_at))
        elif invoice.qb_invoice_id is None:
            action = "qb_linked"
        else:
            return
        invoice.qb_invoice_id = version.Id
        linked = self.invoices_by_qb_id.setdefault(version.Id, [])
        if not any(found is invoice for found in linked):  # linked by the export already: listed once
            linked.append(invoice)
        self.session.add(invoice)
        after = {"posted_to_qb_at": _iso(invoice.posted_to_qb_at), "qb_invoice_id": invoice.qb_invoice_id}
        detail = f"QuickBooks invoice {version.Id}, SyncToken {version.SyncToken}"
        self._history(action, invoice.client_id, invoice.id, f"invoice:{invoice.number}", before, after, detail)

    def _payment_effect(self, version: QBOPayment, client: Client) -> _Effect | None:
        others = version.other_link_types()
        if others:
            self._problem(
                ProblemCode.UNSUPPORTED_LINK,
                version,
                f"{version.where} links {', '.join(sorted(others))}; the sync applies payments of invoices and "
                "credit memos only, so it was not applied.",
            )
            return None
        money = client.currency
        for index, line in enumerate(version.Line):
            self._minor(line.Amount, money, version, f"Line[{index}].Amount")
        memo_left = self._minor(version.total_linked(CREDIT_MEMO), money, version, "Line.Amount")
        entries: dict[tuple[int, str], _Entry] = {}
        complete = True
        for qb_invoice_id, amount in _per_invoice(version.linked(INVOICE)):
            amount_minor = self._minor(amount, money, version, "Line.Amount")
            memo_minor = min(memo_left, amount_minor)
            memo_left -= memo_minor
            invoice = self._invoice_paid(version, qb_invoice_id, client)
            if invoice is None or invoice.id is None:
                complete = False
                continue
            for kind, part in (
                (PaymentKind.QB_CREDIT_MEMO, memo_minor),
                (PaymentKind.QB_PAYMENT, amount_minor - memo_minor),
            ):
                if part:
                    received_on = self._txn_date(version)
                    entries[(invoice.id, kind.value)] = _Entry(invoice, qb_invoice_id, kind, part, received_on)
        unapplied = self._minor(version.UnappliedAmt, money, version, "UnappliedAmt")
        return _Effect(entries, complete, unapplied)

    def _reconcile(
        self, txn: QBTxn, version: QBOPayment | QBODeleted, wanted: dict[tuple[int, str], _Entry], reason: str
    ) -> None:
        """Make the live ledger payments of a QuickBooks payment equal `wanted` (amount and date): reverse what
        differs, record the rest."""
        statement = (
            select(Payment, Reversal.id)
            .join(QBTxnPayment, col(QBTxnPayment.payment_id) == Payment.id)
            .outerjoin(Reversal, col(Reversal.payment_id) == Payment.id)
            .where(QBTxnPayment.qb_txn_id == txn.id)
            .order_by(col(Payment.id))
        )
        every = self.session.exec(statement).all() if txn.id is not None else []
        kept: set[tuple[int, str]] = set()
        for payment, reversal_id in every:
            if reversal_id is not None:
                continue
            key = (payment.invoice_id, payment.kind)
            entry = wanted.get(key)
            if entry is not None and entry.matches(payment) and key not in kept:
                kept.add(key)
            else:
                self._reverse(payment, txn, f"QuickBooks payment {txn.qbo_id} {reason}")
        for key, entry in wanted.items():
            if key not in kept:
                earlier = sum(1 for payment, _ in every if (payment.invoice_id, payment.kind) == key)
                assert isinstance(version, QBOPayment), "a delete wants no payments"
                self._record_payment(txn, version, entry, earlier)

    def _record_payment(self, txn: QBTxn, version: QBOPayment, entry: _Entry, earlier: int) -> None:
        # Slashes after the prefix: "…:100:…" would be an emoji code in Slack and in rich (💯).
        external_id = f"qbo:payment:{version.Id}/{entry.qb_invoice_id}"
        if entry.kind is PaymentKind.QB_CREDIT_MEMO:
            external_id += "/memo"
        if earlier:
            external_id += f"/v{earlier + 1}"
        invoice = entry.invoice
        payment = Payment(
            external_id=external_id,
            invoice_id=_id(invoice.id),
            client_id=invoice.client_id,
            kind=entry.kind.value,
            amount_minor=entry.amount_minor,
            received_on=entry.received_on,
            created_at=self.now,
            created_by=ACTOR,
        )
        self.session.add(payment)
        self.session.flush()
        self.session.add(QBTxnPayment(qb_txn_id=_id(txn.id), payment_id=_id(payment.id)))
        currency = self._currency_of(invoice.client_id)
        change = PaymentChange(
            version.Id, _id(payment.id), external_id, invoice.number, entry.kind.value, currency, entry.amount_minor
        )
        self.summary.payments_recorded.append(change)
        self._touch(invoice.id, invoice.client_id)
        after = {"amount": decimal_str(entry.amount_minor, currency), "kind": entry.kind.value}
        detail = f"QuickBooks payment {version.Id}, SyncToken {version.SyncToken}"
        self._history("qb_payment", invoice.client_id, invoice.id, f"payment:{external_id}", None, after, detail)

    def _reverse(self, payment: Payment, txn: QBTxn, reason: str) -> None:
        self.session.add(Reversal(payment_id=_id(payment.id), actor=ACTOR, reason=reason, created_at=self.now))
        invoice = self.session.get(Invoice, payment.invoice_id)
        number = invoice.number if invoice else str(payment.invoice_id)
        currency = self._currency_of(payment.client_id)
        change = PaymentChange(
            txn.qbo_id,
            _id(payment.id),
            payment.external_id or "",
            number,
            payment.kind,
            currency,
            payment.amount_minor,
            reason,
        )
        self.summary.payments_reversed.append(change)
        self._touch(payment.invoice_id, payment.client_id)
        before = {"amount": decimal_str(payment.amount_minor, currency), "kind": payment.kind}
        subject = f"payment:{payment.external_id or payment.id}"
        self._history("qb_reversal", payment.client_id, payment.invoice_id, subject, before, None, reason)

    def _overpayment(
        self, qb_payment_id: str, client: Client | None, unapplied_minor: int, version: QBOPayment | QBODeleted
    ) -> None:
        """Keep `qb_overpayment` equal to what QuickBooks shows unapplied on the payment (R6: never the wallet)."""
        row = self.session.exec(select(QBOverpayment).where(QBOverpayment.qb_payment_id == qb_payment_id)).first()
        previous = row.amount_minor if row else None
        if client is not None and unapplied_minor > 0:
            assert isinstance(version, QBOPayment)
            values = {
                "client_id": client.id,
                "amount_minor": unapplied_minor,
                "currency": client.currency,
                "qb_txn_date": self._txn_date(version),
            }
            if row is None:
                row = QBOverpayment(qb_payment_id=qb_payment_id, seen_at=self.now, **values)
                change = "new"
            elif any(getattr(row, name) != value for name, value in values.items()):
                change = "updated"
                for name, value in values.items():
                    setattr(row, name, value)
            else:
                return
            self.session.add(row)
        elif row is not None:
            change = "cleared"
            self.session.delete(row)
        else:
            return
        assert row is not None
        shown_amount = unapplied_minor if change != "cleared" else 0
        self.summary.overpayments.append(
            OverpaymentChange(qb_payment_id, row.client_id, row.currency, change, shown_amount, previous)
        )
        before = None if previous is None else {"unapplied": decimal_str(previous, row.currency)}
        after = {"unapplied": decimal_str(shown_amount, row.currency)}
        detail = f"QuickBooks payment {qb_payment_id}: overpayment {change}"
        self._history("qb_overpayment", row.client_id, None, f"qb_payment:{qb_payment_id}", before, after, detail)
        self._warn_if_entered(qb_payment_id, shown_amount, row.currency, version)

    def _warn_if_entered(self, qb_payment_id: str, amount_minor: int, currency: str, version: QBOEntity) -> None:
        credit = self.session.exec(select(Credit).where(Credit.qb_payment_id == qb_payment_id)).first()
        if credit is None or credit.amount_minor == amount_minor:
            return
        self._problem(
            ProblemCode.OVERPAYMENT_ALREADY_ENTERED,
            version,
            f"QuickBooks now shows {decimal_str(amount_minor, currency)} {currency} unapplied on payment "
            f"{qb_payment_id}, but {decimal_str(credit.amount_minor, currency)} was entered as client credit "
            f"#{credit.id}. The credit was not changed; review it.",
        )

    def _record(
        self, txn: QBTxn | None, version: QBOVersion, status: str, client: Client | None, invoice: Invoice | None
    ) -> QBTxn:
        if txn is None:
            txn = QBTxn(entity_type=version.entity_type, qbo_id=version.Id, status=status)
            self.txns[version.key] = txn
        txn.sync_token = version.SyncToken
        txn.status = status
        txn.client_id = client.id if client else None
        txn.invoice_id = invoice.id if invoice else None
        txn.qb_updated_at = version.updated_at
        txn.payload = version.model_dump(mode="json")
        txn.synced_at = self.now
        self.session.add(txn)
        self.session.flush()
        return txn

    # --- small things ------------------------------------------------------------------------------------

    def _minor(self, amount: Decimal, currency: str, version: QBOEntity, field: str) -> int:
        try:
            return parse_amount(amount, currency, allow_zero=True)
        except InvalidAmount as bad:
            raise QBOFeedError(version.where, f"{field}: {bad.message.rstrip('.')}") from None

    def _txn_date(self, version: QBOPayment) -> date:
        if version.TxnDate is not None:
            return version.TxnDate
        if version.MetaData is not None and version.MetaData.CreateTime is not None:
            return version.MetaData.CreateTime.date()
        raise QBOFeedError(version.where, "TxnDate is missing, and the payment needs a date")

    def _currency_of(self, client_id: str) -> str:
        client = self.session.get(Client, client_id)
        return client.currency if client else "USD"

    def _touch(self, invoice_id: int | None, client_id: str) -> None:
        if invoice_id is not None:
            self.touched_invoices.add(invoice_id)
        self.touched_clients.add(client_id)

    def _problem(self, code: str, version: QBOEntity, message: str) -> None:
        self.summary.problems.append(Problem(code, version.entity_type, version.Id, message))

    def _history(
        self,
        action: str,
        client_id: str | None,
        invoice_id: int | None,
        subject: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        detail: str,
    ) -> None:
        line = Line(ACTOR, action, client_id, invoice_id, subject, before, after, detail, at=self.now)
        history.record(self.unit, line)


_Row = TypeVar("_Row", Client, Invoice)
_T = TypeVar("_T")


def _chunks(values: Sequence[_T]) -> Iterable[Sequence[_T]]:
    values = list(values)
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _older(version: QBOEntity, sync_token: int | None) -> bool:
    return not isinstance(version, QBODeleted) and sync_token is not None and version.SyncToken < sync_token


def _per_invoice(lines: list[tuple[str, Decimal]]) -> list[tuple[str, Decimal]]:
    """Amounts per QuickBooks invoice id, in the order the invoices first appear on the payment."""
    totals: dict[str, Decimal] = {}
    for qb_invoice_id, amount in lines:
        totals[qb_invoice_id] = totals.get(qb_invoice_id, Decimal(0)) + amount
    return list(totals.items())


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _id(value: int | None) -> int:
    assert value is not None, "the row was flushed, so it has an id"
    return value
