"""QuickBooks webhooks: a signed notice that entities changed, after which each is read by id and applied.

Intuit signs the raw body: `intuit-signature` is the base64 HMAC-SHA256 of it under the app's verifier token. The
notice carries no data, only (realm, entity, id, operation); the entity is read from the API, so an old or repeated
notice is harmless (the sync applies a version once, and an older SyncToken never overrides a newer one). The
watermark is left alone: the next poll reads the same changes again and finds them applied.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from ledger.db import Database
from ledger.qbo.api import QBOApi
from ledger.qbo.entities import ENTITY_TYPES, QBOEntity, parse_entity
from ledger.qbo.feed import parse_feed
from ledger.qbo.summary import SyncSummary
from ledger.qbo.sync import apply_entities


@dataclass(frozen=True)
class ChangeNotice:
    realm_id: str
    entity_type: str
    qbo_id: str
    operation: str
    last_updated: str | None = None


def signature_is_valid(verifier_token: str, body: bytes, signature: str | None) -> bool:
    if not verifier_token or not signature:
        return False
    expected = base64.b64encode(hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode("ascii", "replace"))


def read_notices(body: bytes) -> list[ChangeNotice]:
    """The Invoice, Payment and CreditMemo changes a webhook body names (anything else is left out)."""
    try:
        document = json.loads(body)
    except ValueError:
        return []
    notices = []
    for notification in _list(document.get("eventNotifications") if isinstance(document, dict) else None):
        realm = str(notification.get("realmId", "")).strip()
        event = notification.get("dataChangeEvent") if isinstance(notification.get("dataChangeEvent"), dict) else {}
        for entity in _list(event.get("entities")):
            name, qbo_id = str(entity.get("name", "")), str(entity.get("id", "")).strip()
            if realm and name in ENTITY_TYPES and qbo_id:
                operation = str(entity.get("operation", "Update"))
                notices.append(ChangeNotice(realm, name, qbo_id, operation, entity.get("lastUpdated")))
    return notices


def apply_notices(db: Database, api: QBOApi, notices: list[ChangeNotice], realm_id: str) -> SyncSummary:
    """Read each noticed entity of `realm_id` and apply them all in one transaction."""
    entities: list[QBOEntity] = []
    for notice in dict.fromkeys(n for n in notices if n.realm_id == realm_id):
        if notice.operation == "Delete":
            meta = {"LastUpdatedTime": notice.last_updated} if notice.last_updated else None
            raw: dict[str, Any] = {"status": "Deleted", "Id": notice.qbo_id, "MetaData": meta}
            entities.append(parse_entity(notice.entity_type, raw, "a webhook's delete notice"))
            continue
        document = api.read(notice.entity_type, notice.qbo_id)
        entities.extend(parse_feed(document, f"QuickBooks {notice.entity_type} {notice.qbo_id}").entities)
    return db.transact(apply_entities, entities)


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
