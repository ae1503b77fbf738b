"""The live QuickBooks Online pieces for one ledger, put together once: connection, API client, OAuth client."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.db import Database
from ledger.qbo.api import QBOApi
from ledger.qbo.config import QBOConfig
from ledger.qbo.connection import Connection, TokenCipher
from ledger.qbo.oauth import IntuitOAuth


@dataclass(frozen=True)
class LiveQuickBooks:
    config: QBOConfig
    db: Database
    connection: Connection
    api: QBOApi

    @classmethod
    def open(cls, config: QBOConfig, db: Database) -> LiveQuickBooks:
        connection = Connection(db, IntuitOAuth(config), TokenCipher(config.secret_key))
        return cls(config, db, connection, QBOApi(config, connection))
