"""The QuickBooks Online sync: the ledger follows what happens in QuickBooks after an invoice is posted (R4-R6).

Two steps, so any source can feed the same code path (a file today; CDC polling or webhook-triggered reads later):
1. `feed.read_feed(text, name)` / `feed.parse_feed(document)` / `entities.parse_entity(type, dict)`: QuickBooks
   JSON -> validated entity versions (nothing touches the database; bad input is a `QBOFeedError`).
2. `sync.apply_entities(db, entities)` -> `SyncSummary`: one transaction; idempotent per entity and SyncToken.
`overpayments.enter_qb_overpayment_as_credit` enters an overpayment seen in QuickBooks as a client credit, once.
No Slack here: the bot renders the results.
"""

from __future__ import annotations

from ledger.qbo.entities import parse_entity
from ledger.qbo.feed import QBOFeed, parse_feed, read_feed
from ledger.qbo.summary import SyncSummary
from ledger.qbo.sync import apply_entities, sync_feed

__all__ = ["QBOFeed", "SyncSummary", "apply_entities", "parse_entity", "parse_feed", "read_feed", "sync_feed"]
