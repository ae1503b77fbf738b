"""Reading QuickBooks API responses into entity versions.

Three shapes are read, as the QuickBooks Online API returns them:
- change data capture: `{"CDCResponse": [{"QueryResponse": [{"Invoice": [...]}, {"Payment": [...]}]}], "time": ...}`,
  deleted entities as `{"status": "Deleted", "Id": ..., "MetaData": {...}}`;
- a query: `{"QueryResponse": {"Invoice": [...], "startPosition": 1, ...}, "time": ...}`;
- a single read: `{"Payment": {...}, "time": ...}` (what fetching one entity by id returns, e.g. after a webhook).
Entity types other than Invoice, CreditMemo and Payment are counted and left alone. Anything else is refused
with an error naming where it is, before the ledger is touched.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ledger.qbo.entities import ENTITY_TYPES, QBOEntity, parse_entity
from ledger.qbo.errors import QBOFeedError

# Paging fields QuickBooks puts beside the entity lists.
_PAGING = {"startPosition", "maxResults", "totalCount"}


@dataclass(frozen=True)
class QBOFeed:
    entities: list[QBOEntity]
    # Entity types the sync does not read (e.g. Customer), with how many were skipped.
    other_entities: dict[str, int] = field(default_factory=dict)


def read_feed(data: bytes | str, name: str) -> QBOFeed:
    """Parse a QuickBooks response from JSON text; `name` (a file name, "stdin") is used in error messages."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise QBOFeedError(name, "is not UTF-8 text") from None
    if not data.strip():
        raise QBOFeedError(name, "is empty; expected a QuickBooks CDC or query response (JSON)")
    try:
        document = json.loads(data, parse_float=Decimal, parse_constant=_refuse_constant)
    except json.JSONDecodeError as bad:
        raise QBOFeedError(name, f"is not valid JSON (line {bad.lineno}, column {bad.colno}: {bad.msg})") from None
    except ValueError as bad:
        raise QBOFeedError(name, str(bad)) from None
    except RecursionError:
        raise QBOFeedError(name, "is nested too deeply to be a QuickBooks response") from None
    return parse_feed(document, name)


def parse_feed(document: Any, name: str = "the QuickBooks response") -> QBOFeed:
    """The entities of a decoded QuickBooks response (see the module docstring for the shapes)."""
    if not isinstance(document, dict):
        raise QBOFeedError(name, "is not a QuickBooks response: expected a JSON object")
    if "Fault" in document:
        raise QBOFeedError(name, f"is a QuickBooks error response, not data ({_fault_message(document['Fault'])})")
    entities: list[QBOEntity] = []
    others: Counter[str] = Counter()
    if "CDCResponse" in document:
        for path, group in _cdc_groups(document["CDCResponse"], name):
            _read_group(group, path, entities, others)
    elif "QueryResponse" in document:
        _read_group(document["QueryResponse"], f"{name}: QueryResponse", entities, others)
    else:
        single = [key for key in ENTITY_TYPES if isinstance(document.get(key), dict)]
        if len(single) != 1:
            raise QBOFeedError(
                name,
                'is not a QuickBooks change data capture, query or read response: expected a "CDCResponse" or '
                '"QueryResponse" key',
            )
        entities.append(parse_entity(single[0], document[single[0]], f"{name}: {single[0]}"))
    return QBOFeed(entities=entities, other_entities=dict(sorted(others.items())))


def _cdc_groups(cdc: Any, name: str) -> list[tuple[str, Any]]:
    if not isinstance(cdc, list):
        raise QBOFeedError(name, "CDCResponse must be a list")
    groups = []
    for i, page in enumerate(cdc):
        where = f"{name}: CDCResponse[{i}]"
        if not isinstance(page, dict) or not isinstance(page.get("QueryResponse"), list):
            raise QBOFeedError(where, 'expected an object with a "QueryResponse" list')
        for j, group in enumerate(page["QueryResponse"]):
            groups.append((f"{where}.QueryResponse[{j}]", group))
    return groups


def _read_group(group: Any, where: str, entities: list[QBOEntity], others: Counter[str]) -> None:
    if not isinstance(group, dict):
        raise QBOFeedError(where, "expected an object of entity lists")
    for key, value in group.items():
        if key in _PAGING:
            continue
        if key not in ENTITY_TYPES:
            others[key] += len(value) if isinstance(value, list) else 1
            continue
        if not isinstance(value, list):
            raise QBOFeedError(f"{where}.{key}", "must be a list of entities")
        for index, raw in enumerate(value):
            entities.append(parse_entity(key, raw, f"{where}.{key}[{index}]"))


def _fault_message(fault: Any) -> str:
    try:
        error = fault["Error"][0]
        return f"{error.get('Message', 'error')}: {error.get('Detail', '')}".strip(": ")
    except (KeyError, IndexError, TypeError, AttributeError):
        return "no details"


def _refuse_constant(constant: str) -> Any:
    raise ValueError(f"contains {constant}, which is not a number QuickBooks sends")
