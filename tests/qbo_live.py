"""Shared set-up for the live QuickBooks Online tests: a stand-in company, a ledger that knows its customer, and
creditbot connected to it through the real OAuth flow."""

from __future__ import annotations

from typing import Any

from ledger.db import Database
from ledger.qbo.config import QBOConfig
from ledger.qbo.live import LiveQuickBooks
from tests.builders import client, import_rows, invoice
from tests.qbo_payloads import qbo_credit_memo, qbo_invoice
from tests.qbo_standin import CLIENT_ID, CLIENT_SECRET, VERIFIER_TOKEN, QBOStandIn

SECRET_KEY = "test-secret-key-for-qbo-tokens"
REDIRECT_URI = "https://creditbot.example.com/qbo/callback"


def qbo_config(stand_in: QBOStandIn) -> QBOConfig:
    return QBOConfig.build(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        environment=stand_in.discovery_url,
        api_url=stand_in.api_url,
        secret_key=SECRET_KEY,
        webhook_verifier_token=VERIFIER_TOKEN,
        backoff_s=0.01,
    )


def qbo_env(stand_in: QBOStandIn) -> dict[str, Any]:
    """Settings for the bot (tests/slack_standin.bot_settings) to use the stand-in."""
    return {
        "QBO_CLIENT_ID": CLIENT_ID,
        "QBO_CLIENT_SECRET": CLIENT_SECRET,
        "QBO_REDIRECT_URI": REDIRECT_URI,
        "QBO_ENVIRONMENT": stand_in.discovery_url,
        "QBO_API_URL": stand_in.api_url,
        "QBO_WEBHOOK_VERIFIER_TOKEN": VERIFIER_TOKEN,
        "CREDITBOT_SECRET_KEY": SECRET_KEY,
    }


def connect(live: LiveQuickBooks, stand_in: QBOStandIn) -> None:
    url = live.connection.authorization_url("cli:tester")
    live.connection.complete(stand_in.authorize(url), "cli:tester")


def load_posted_invoice(db: Database, stand_in: QBOStandIn, memo_left: float = 500.0) -> None:
    """Acme (QuickBooks customer 58) owes $1,000 on INV-2001, posted as QuickBooks invoice 131; credit memo 1043
    has `memo_left` left in QuickBooks."""
    import_rows(db, clients=[client("C1", "Acme Legal", qb_customer_id="58")], invoices=[invoice("INV-2001", "C1")])
    stand_in.put("Invoice", qbo_invoice("131", "INV-2001", total=1000.00))
    stand_in.put("CreditMemo", qbo_credit_memo("1043", total=500.0, remaining=memo_left))
