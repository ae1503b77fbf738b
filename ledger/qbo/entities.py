"""QuickBooks Online entities as the API returns them, validated into typed records.

Only the fields the ledger uses are read; QuickBooks sends many more, which are ignored. Field names are
QuickBooks' own (`TotalAmt`, `Line[].LinkedTxn[].TxnId`, `MetaData.CreateTime`), so a record can be checked
against the API reference. Amounts stay `Decimal` here (a feed is read with `parse_float=Decimal`, never through
float); they become minor units when the client, and so the currency, is known.

A record is one *version* of an entity: QuickBooks raises `SyncToken` on every change. `latest_versions` keeps the
newest version of each entity in a batch, so a batch's order and repetitions never matter.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic_core import ErrorDetails

from ledger.qbo.errors import QBOFeedError

INVOICE, CREDIT_MEMO, PAYMENT = "Invoice", "CreditMemo", "Payment"
# The entity types the sync reads, in the order it applies them: a payment finds the invoices posted before it.
ENTITY_TYPES = (INVOICE, CREDIT_MEMO, PAYMENT)

# QuickBooks ids are short numeric strings; the bound keeps derived keys (payment external ids) within 64 chars.
QBOId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_.-]{1,20}$")]
# Far above any real amount (the ledger's own bound is lower and gives the clearer message), yet small enough
# that Decimal arithmetic on it is exact.
QBOAmount = Annotated[Decimal, Field(ge=0, le=Decimal(10) ** 13, allow_inf_nan=False)]
CurrencyCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")]
QBOSyncToken = Annotated[int, Field(ge=0, lt=2**62)]
# A number or a name as the ledger stores it: within its column, and no control character (PostgreSQL refuses NUL).
QBONumber = Annotated[str, StringConstraints(max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")]
QBOText = Annotated[str, StringConstraints(max_length=4000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)


class ReferenceType(_Record):
    """A ReferenceType: `{"value": "20", "name": "Red Rock Diner"}`."""

    value: QBOId
    name: QBOText | None = None


class CurrencyRefType(_Record):
    value: CurrencyCode
    name: str | None = None


class LinkedTxnRef(_Record):
    TxnId: QBOId
    TxnType: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class PaymentLine(_Record):
    Amount: QBOAmount
    LinkedTxn: tuple[LinkedTxnRef, ...] = ()


class ModificationMetaData(_Record):
    CreateTime: AwareDatetime | None = None
    LastUpdatedTime: AwareDatetime | None = None


class InvoiceMetaData(ModificationMetaData):
    CreateTime: AwareDatetime  # the posting time the ledger keeps


class _Entity(_Record):
    entity_type: ClassVar[str]

    Id: QBOId
    SyncToken: QBOSyncToken
    CustomerRef: ReferenceType
    CurrencyRef: CurrencyRefType | None = None
    TxnDate: date | None = None
    PrivateNote: QBOText | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.entity_type, self.Id)

    @property
    def where(self) -> str:
        return f"QuickBooks {self.entity_type} {self.Id}"

    @property
    def updated_at(self) -> datetime | None:
        meta: ModificationMetaData | None = getattr(self, "MetaData", None)
        return meta.LastUpdatedTime if meta else None


class QBOInvoice(_Entity):
    entity_type: ClassVar[str] = INVOICE

    DocNumber: QBONumber | None = None
    TotalAmt: QBOAmount
    Balance: QBOAmount | None = None
    MetaData: InvoiceMetaData

    @property
    def is_voided(self) -> bool:
        return self.TotalAmt == 0 and _says_voided(self.PrivateNote)


class QBOCreditMemo(_Entity):
    entity_type: ClassVar[str] = CREDIT_MEMO

    DocNumber: QBONumber | None = None
    TotalAmt: QBOAmount
    RemainingCredit: QBOAmount | None = None
    MetaData: ModificationMetaData | None = None


class QBOPayment(_Entity):
    """A received payment. Lines link what it pays (`Invoice`) and the credit memos it uses (`CreditMemo`).

    QuickBooks keeps `TotalAmt = invoice lines - credit memo lines + UnappliedAmt`; applying a credit memo to an
    invoice is a $0 payment whose two lines cancel out. A void keeps the payment with every amount zeroed and
    "Voided" in `PrivateNote`.
    """

    entity_type: ClassVar[str] = PAYMENT

    TotalAmt: QBOAmount
    UnappliedAmt: QBOAmount = Decimal(0)
    Line: tuple[PaymentLine, ...] = ()
    MetaData: ModificationMetaData | None = None

    @model_validator(mode="after")
    def _as_quickbooks_keeps_it(self) -> QBOPayment:
        for index, line in enumerate(self.Line):
            if line.Amount and len(line.LinkedTxn) != 1:
                raise ValueError(
                    f"Line[{index}] links {len(line.LinkedTxn)} transactions; a payment line links exactly one "
                    "invoice or credit memo"
                )
        if not self.other_link_types():
            invoices, memos = self.total_linked(INVOICE), self.total_linked(CREDIT_MEMO)
            if invoices - memos + self.UnappliedAmt != self.TotalAmt:
                # QuickBooks' own arithmetic: a feed that breaks it was not produced by QuickBooks as it is.
                raise ValueError(
                    f"TotalAmt {self.TotalAmt} does not add up: invoice lines {invoices} - credit memo lines "
                    f"{memos} + UnappliedAmt {self.UnappliedAmt} = {invoices - memos + self.UnappliedAmt}"
                )
        return self

    @property
    def is_voided(self) -> bool:
        return self.TotalAmt == 0 and not any(line.Amount for line in self.Line) and _says_voided(self.PrivateNote)

    def linked(self, txn_type: str) -> list[tuple[str, Decimal]]:
        """(TxnId, Amount) of the lines linking `txn_type`, in line order, zero amounts left out."""
        return [
            (line.LinkedTxn[0].TxnId, line.Amount)
            for line in self.Line
            if line.Amount and line.LinkedTxn[0].TxnType == txn_type
        ]

    def other_link_types(self) -> set[str]:
        return {line.LinkedTxn[0].TxnType for line in self.Line if line.Amount} - {INVOICE, CREDIT_MEMO}

    def total_linked(self, txn_type: str) -> Decimal:
        return sum((amount for _, amount in self.linked(txn_type)), Decimal(0))


class QBODeleted(_Record):
    """A deleted entity as change data capture reports it: `{"status": "Deleted", "Id": ..., "MetaData": ...}`."""

    entity_type: str
    Id: QBOId
    MetaData: ModificationMetaData | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.entity_type, self.Id)

    @property
    def where(self) -> str:
        return f"QuickBooks {self.entity_type} {self.Id} (deleted)"

    @property
    def updated_at(self) -> datetime | None:
        return self.MetaData.LastUpdatedTime if self.MetaData else None


QBOVersion = QBOInvoice | QBOCreditMemo | QBOPayment
QBOEntity = QBOInvoice | QBOCreditMemo | QBOPayment | QBODeleted

_MODELS: dict[str, type[QBOInvoice] | type[QBOCreditMemo] | type[QBOPayment]] = {
    INVOICE: QBOInvoice,
    CREDIT_MEMO: QBOCreditMemo,
    PAYMENT: QBOPayment,
}


def parse_entity(entity_type: str, raw: object, position: str = "") -> QBOEntity:
    """Validate one entity as QuickBooks returns it (`position` says where it was, for error messages)."""
    if entity_type not in _MODELS:
        raise QBOFeedError(f"QuickBooks {entity_type}", f"the sync reads only {', '.join(ENTITY_TYPES)} entities")
    where = _where(entity_type, raw, position)
    if not isinstance(raw, dict):
        raise QBOFeedError(where, f"expected an object with the {entity_type}'s fields, got {_kind(raw)}")
    try:
        if raw.get("status") == "Deleted":
            return QBODeleted.model_validate({**raw, "entity_type": entity_type})
        entity = _MODELS[entity_type].model_validate(raw)
    except ValidationError as invalid:
        raise QBOFeedError(where, _describe(invalid.errors()[0])) from None
    return entity


def latest_versions(entities: Iterable[QBOEntity]) -> list[QBOEntity]:
    """The newest version of each entity, in apply order (type, then Id): a delete wins over every version.

    Two different versions with one SyncToken cannot both come from QuickBooks, so they are refused.
    """
    latest: dict[tuple[str, str], QBOEntity] = {}
    for entity in entities:
        kept = latest.get(entity.key)
        if kept is None or _newer(entity, kept):
            latest[entity.key] = entity
        elif _same_version(entity, kept) and entity != kept:
            raise QBOFeedError(
                entity.where,
                f"appears twice with SyncToken {entity.SyncToken} but different contents "  # type: ignore[union-attr]
                "(QuickBooks raises SyncToken on every change)",
            )
    return sorted(latest.values(), key=apply_order)


def apply_order(entity: QBOEntity) -> tuple[int, int, str]:
    return (ENTITY_TYPES.index(entity.entity_type), len(entity.Id), entity.Id)


def _newer(entity: QBOEntity, kept: QBOEntity) -> bool:
    if isinstance(kept, QBODeleted):
        return False
    if isinstance(entity, QBODeleted):
        return True
    return entity.SyncToken > kept.SyncToken


def _same_version(entity: QBOEntity, kept: QBOEntity) -> bool:
    if isinstance(entity, QBODeleted) or isinstance(kept, QBODeleted):
        return False
    return entity.SyncToken == kept.SyncToken


def _says_voided(note: str | None) -> bool:
    return "voided" in (note or "").lower()


def _where(entity_type: str, raw: object, position: str) -> str:
    entity_id = raw.get("Id") if isinstance(raw, dict) else None
    name = f"QuickBooks {entity_type}"
    if isinstance(entity_id, str | int) and not isinstance(entity_id, bool) and str(entity_id).strip():
        name += f" {str(entity_id).strip()[:40]}"
    return f"{name} ({position})" if position else name


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false"}.get(type(value), "a number")


_PHRASES = {
    "missing": "is missing",
    "decimal_parsing": "is not a number",
    "decimal_type": "is not a number",
    "finite_number": "is not a finite number",
    "greater_than_equal": "must not be negative",
    "less_than_equal": "is larger than any amount creditbot accepts",
    "less_than": "is larger than QuickBooks uses",
    "string_pattern_mismatch": "is not in the form QuickBooks uses",
    "string_type": "must be a string",
    "timezone_aware": "must be a time with a UTC offset, as QuickBooks sends it",
    "datetime_parsing": "is not a date-time (like 2026-10-05T14:30:00-07:00)",
    "datetime_from_date_parsing": "is not a date-time (like 2026-10-05T14:30:00-07:00)",
    "date_parsing": "is not a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "is not a date (YYYY-MM-DD)",
    "int_parsing": "is not a whole number",
    "model_type": "must be an object",
    "tuple_type": "must be a list",
}


def _describe(error: ErrorDetails) -> str:
    """One field's problem in words: `Line[0].Amount is not a number (got "ten")`."""
    field = _field_path(error["loc"])
    if error["type"] == "value_error":
        return str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
    phrase = _PHRASES.get(error["type"], error["msg"][:1].lower() + error["msg"][1:])
    got = "" if error["type"] == "missing" else f" (got {_shown(error.get('input'))})"
    return f"{field} {phrase}{got}"


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "the entity"


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else "null" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."
