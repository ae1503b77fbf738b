"""The live QuickBooks Online connection against a local stand-in for QuickBooks (tests/qbo_standin.py), on SQLite
and PostgreSQL: connecting, tokens at rest, polling with change data capture and its limits, webhooks, and applying
a credit memo to a posted invoice exactly once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import text
from sqlmodel import select

from ledger.db import Database
from ledger.errors import ExceedsBalanceDue
from ledger.qbo import memos
from ledger.qbo.errors import (
    CreditMemoTooSmall,
    InvoicePaidInQuickBooks,
    MoreThanInvoiceOwes,
    QBOAuthorizationFailed,
    QBOConnectionBroken,
    QuickBooksRefused,
    QuickBooksUnavailable,
)
from ledger.qbo.live import LiveQuickBooks
from ledger.qbo.poll import poll
from ledger.qbo.webhooks import apply_notices, read_notices, signature_is_valid
from ledger.tables import Invoice, Payment
from tests.qbo_live import connect, load_posted_invoice, qbo_config
from tests.qbo_payloads import qbo_invoice
from tests.qbo_standin import VERIFIER_TOKEN, QBOStandIn


@pytest.fixture
def qbo() -> Iterator[QBOStandIn]:
    with QBOStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def live(db: Database, qbo: QBOStandIn) -> LiveQuickBooks:
    return LiveQuickBooks.open(qbo_config(qbo), db)


def memo_payments(db: Database) -> list[tuple[str, int]]:
    with db.read() as unit:
        return [
            (p.kind, p.amount_minor) for p in unit.session.exec(select(Payment).where(Payment.kind == "QBCreditMemo"))
        ]


# --- connecting -----------------------------------------------------------------------------------------------


def test_connect_stores_realm_and_encrypted_tokens(db: Database, live: LiveQuickBooks, qbo: QBOStandIn) -> None:
    connect(live, qbo)
    status = live.connection.status()
    assert status.connected and status.realm_id == qbo.realm
    assert status.access_expires_at and status.refresh_expires_at and status.changed_since
    assert set(status.as_json()) == {
        "connected", "realm_id", "access_expires_at", "refresh_expires_at", "last_poll_at", "changed_since",
        "last_error",
    }  # fmt: skip
    with db.read() as unit:
        stored = unit.connection.execute(text("SELECT access_token, refresh_token FROM qbo_connection")).one()
    live_tokens = set(qbo.refresh_tokens) | set(qbo.access_tokens)
    assert not live_tokens & set(stored), "tokens are stored encrypted, never as issued"
    assert all(not any(token in value for token in live_tokens) for value in stored)


def test_connect_refuses_a_used_or_unknown_state(live: LiveQuickBooks, qbo: QBOStandIn) -> None:
    landing = qbo.authorize(live.connection.authorization_url("cli:tester"))
    live.connection.complete(landing, "cli:tester")
    with pytest.raises(QBOAuthorizationFailed, match="already used"):
        live.connection.complete(landing, "cli:tester")
    with pytest.raises(QBOAuthorizationFailed, match="no code"):
        live.connection.complete("https://creditbot.example.com/qbo/callback?state=x", "cli:tester")


def test_disconnect_revokes_and_forgets(live: LiveQuickBooks, qbo: QBOStandIn) -> None:
    connect(live, qbo)
    live.connection.disconnect("cli:tester")
    assert not live.connection.status().connected
    assert "live" not in qbo.refresh_tokens.values()


def test_a_401_refreshes_once_and_rotates_the_refresh_token(
    db: Database, live: LiveQuickBooks, qbo: QBOStandIn
) -> None:
    load_posted_invoice(db, qbo)
    connect(live, qbo)
    qbo.expire_access_tokens()
    poll(db, live.api)
    assert qbo.refreshes == 1 and qbo.reused_refresh_tokens == 0
    assert list(qbo.refresh_tokens.values()).count("live") == 1


def test_invalid_grant_breaks_the_connection_and_alerts_once(
    db: Database, live: LiveQuickBooks, qbo: QBOStandIn
) -> None:
    connect(live, qbo)
    for token in qbo.refresh_tokens:
        qbo.revoke_refresh_token(token)
    qbo.expire_access_tokens()
    with pytest.raises(QBOConnectionBroken):
        poll(db, live.api)
    status = live.connection.status()
    assert status.status == "broken" and "invalid_grant" in (status.last_error or "")
    assert live.connection.claim_error_alert() is not None
    with pytest.raises(QBOConnectionBroken, match="Reconnect"):
        poll(db, live.api)
    assert live.connection.claim_error_alert() is None, "the billing channel hears about it once"


# --- polling --------------------------------------------------------------------------------------------------


def test_poll_applies_changes_and_advances_the_watermark(db: Database, live: LiveQuickBooks, qbo: QBOStandIn) -> None:
    load_posted_invoice(db, qbo)
    connect(live, qbo)
    first = poll(db, live.api)
    assert [p.invoice_number for p in first.summary.invoices_posted] == ["INV-2001"]
    assert first.next_changed_since > first.changed_since
    assert live.connection.status().changed_since == first.next_changed_since
    again = poll(db, live.api)
    assert again.summary.invoices_posted == [] and again.changed_since == first.next_changed_since


def test_poll_retries_429_and_5xx_honouring_retry_after(db: Database, live: LiveQuickBooks, qbo: QBOStandIn) -> None:
    load_posted_invoice(db, qbo)
    connect(live, qbo)
    qbo.fail_next(429, 503)
    result = poll(db, live.api)
    assert len(result.summary.invoices_posted) == 1


def test_a_poll_that_keeps_failing_leaves_the_watermark_and_alerts_once(
    db: Database, live: LiveQuickBooks, qbo: QBOStandIn
) -> None:
    load_posted_invoice(db, qbo)
    connect(live, qbo)
    before = live.connection.status().changed_since
    qbo.fail_next(*[503] * 20)
    with pytest.raises(QuickBooksUnavailable):
        poll(db, live.api)
    status = live.connection.status()
    assert status.changed_since == before and "did not answer" in (status.last_error or "")
    assert live.connection.claim_error_alert() is not None
    qbo.faults.clear()
    qbo.fail_next(*[503] * 20)
    with pytest.raises(QuickBooksUnavailable):
        poll(db, live.api)
    assert live.connection.claim_error_alert() is None
    qbo.faults.clear()
    poll(db, live.api)
    assert live.connection.status().last_error is None


def test_a_full_cdc_page_splits_the_window(db: Database, live: LiveQuickBooks, qbo: QBOStandIn) -> None:
    load_posted_invoice(db, qbo)
    connect(live, qbo)
    start = datetime.now(UTC) - timedelta(hours=2)
    for n in range(1100):
        qbo.put("Invoice", qbo_invoice(str(2000 + n), f"QB-{n}", customer="99"), updated=start + timedelta(seconds=n))
    result = poll(db, live.api)
    assert result.pages >= 2 and any("split" in note for note in result.notes)
    with db.read() as unit:
        unresolved = unit.connection.execute(text("SELECT count(*) FROM qb_txn WHERE entity_type = 'Invoice'")).one()
    assert unresolved[0] == 1101, "every invoice was read, none lost at the page boundary"


def test_a_second_with_a_full_page_is_read_with_paged_queries(
    db: Database, live: LiveQuickBooks, qbo: QBOStandIn
) -> None:
    connect(live, qbo)
    moment = datetime.now(UTC) - timedelta(hours=1)
    for n in range(1001):
        qbo.put("Invoice", qbo_invoice(str(3000 + n), f"QB-{n}", customer="99"), updated=moment)
    result = poll(db, live.api)
    assert any("over 1000 changes" in note for note in result.notes)
    with db.read() as unit:
        count = unit.connection.execute(text("SELECT count(*) FROM qb_txn WHERE entity_type = 'Invoice'")).one()
    assert count[0] == 1001


def test_a_watermark_older_than_30_days_falls_back_to_queries(
    db: Database, live: LiveQuickBooks, qbo: QBOStandIn
) -> None:
    load_posted_invoice(db, qbo)
    connect(live, qbo)
    with db.write() as unit:
        unit.connection.execute(
            text("UPDATE qbo_connection SET changed_since = :t"), {"t": datetime.now(UTC) - timedelta(days=45)}
        )
    result = poll(db, live.api)
    assert result.mode == "query" and any("30 days" in note for note in result.notes)
    assert [p.invoice_number for p in result.summary.invoices_posted] == ["INV-2001"]
    assert result.next_changed_since > datetime.now(UTC) - timedelta(minutes=5)


# --- webhooks -------------------------------------------------------------------------------------------------


def test_webhook_signature_and_entities(db: Database, live: LiveQuickBooks, qbo: QBOStandIn) -> None:
    load_posted_invoice(db, qbo)
    connect(live, qbo)
    body, signature = qbo.webhook(("Invoice", "131", "Create"), ("Customer", "58", "Update"))
    assert signature_is_valid(VERIFIER_TOKEN, body, signature)
    assert not signature_is_valid(VERIFIER_TOKEN, body + b" ", signature)
    assert not signature_is_valid(VERIFIER_TOKEN, body, None)
    notices = read_notices(body)
    assert [(n.entity_type, n.qbo_id) for n in notices] == [("Invoice", "131")]
    summary = apply_notices(db, live.api, notices + notices, qbo.realm)
    assert [p.invoice_number for p in summary.invoices_posted] == ["INV-2001"]
    assert apply_notices(db, live.api, notices, qbo.realm).invoices_posted == [], "a repeated notice changes nothing"


# --- applying a credit memo in QuickBooks ----------------------------------------------------------------------


def _posted(db: Database, live: LiveQuickBooks, qbo: QBOStandIn, memo_left: float = 500.0) -> None:
    load_posted_invoice(db, qbo, memo_left)
    connect(live, qbo)
    poll(db, live.api)


def _apply(db: Database, live: LiveQuickBooks, key: str, amount: str = "500.00") -> memos.MemoApplication:
    from ledger.approvals import WriteRequest

    applied = db.transact(memos.record_memo_application, "INV-2001", "1043", amount, WriteRequest("cli:t", key))
    return memos.send(db, live.api, applied.action_id) if applied.status == memos.PENDING else applied


def test_apply_memo_creates_one_payment_that_comes_back_as_a_credit_memo_payment(
    db: Database, live: LiveQuickBooks, qbo: QBOStandIn
) -> None:
    _posted(db, live, qbo)
    target = memos.memo_target(db, live.api, "INV-2001")
    assert [(m.qb_id, m.remaining_minor) for m in target.memos] == [("1043", 50000)]
    applied = _apply(db, live, "click-1")
    assert applied.status == memos.SENT and applied.qb_payment_id
    again = _apply(db, live, "click-1")
    assert again.replayed and again.qb_payment_id == applied.qb_payment_id
    assert len(qbo.payments()) == 1
    poll(db, live.api)
    poll(db, live.api)
    assert memo_payments(db) == [("QBCreditMemo", 50000)]
    with db.read() as unit:
        invoice = unit.session.exec(select(Invoice).where(Invoice.number == "INV-2001")).one()
    assert invoice.qb_credit_memos_minor == 50000


def test_apply_memo_exactly_once_under_double_clicks(db: Database, live: LiveQuickBooks, qbo: QBOStandIn) -> None:
    _posted(db, live, qbo)
    results: list[object] = []

    def click() -> None:
        try:
            results.append(_apply(db, live, "the-same-click"))
        except Exception as failed:  # a refusal would be a bug here: recorded and asserted below
            results.append(failed)

    threads = [threading.Thread(target=click) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(r, memos.MemoApplication) for r in results), results
    assert len(qbo.payments()) == 1
    assert len({r.qb_payment_id for r in results if isinstance(r, memos.MemoApplication)}) == 1


def test_a_retry_after_a_lost_answer_makes_one_payment(db: Database, live: LiveQuickBooks, qbo: QBOStandIn) -> None:
    _posted(db, live, qbo)
    from ledger.approvals import WriteRequest

    recorded = db.transact(memos.record_memo_application, "INV-2001", "1043", "200.00", WriteRequest("cli:t", "k"))
    first = memos.send(db, live.api, recorded.action_id)
    with db.write() as unit:  # as if the answer had been lost: the action still looks pending
        unit.connection.execute(text("UPDATE qbo_memo_action SET status = 'pending'"))
    memos.send_pending(db, live.api)
    assert len(qbo.payments()) == 1 and first.qb_payment_id == qbo.payments()[0]["Id"]


def test_more_than_the_invoice_owes_in_quickbooks_is_the_ledgers_exceeds_balance_due(
    db: Database, live: LiveQuickBooks, qbo: QBOStandIn
) -> None:
    _posted(db, live, qbo, memo_left=1500.0)
    target = memos.memo_target(db, live.api, "INV-2001")
    with pytest.raises(MoreThanInvoiceOwes, match=r"more than the \$1,000.00 QuickBooks shows still owed") as refused:
        memos.choose(target, "1043", "1200")
    assert isinstance(refused.value, ExceedsBalanceDue) and refused.value.code == "more_than_invoice_owes"


def test_apply_memo_refusals_quote_quickbooks(db: Database, live: LiveQuickBooks, qbo: QBOStandIn) -> None:
    _posted(db, live, qbo, memo_left=100.0)
    target = memos.memo_target(db, live.api, "INV-2001")
    with pytest.raises(CreditMemoTooSmall, match=r"has only \$100.00 left"):
        memos.choose(target, "1043", "500")
    with pytest.raises(QuickBooksRefused, match="more than its remaining credit"):
        _apply(db, live, "too-much", "300.00")
    qbo.put("Invoice", {**qbo.entities[("Invoice", "131")], "Balance": 0})
    with pytest.raises(InvoicePaidInQuickBooks):
        memos.choose(memos.memo_target(db, live.api, "INV-2001"), None, None)


def test_callback_and_webhook_routes_on_serve(db: Database, qbo: QBOStandIn) -> None:
    from tests.qbo_live import qbo_env
    from tests.slack_standin import SlackStandIn, running_bot

    load_posted_invoice(db, qbo)
    with SlackStandIn() as slack, running_bot(db, slack, **qbo_env(qbo)) as bot:
        live = LiveQuickBooks.open(qbo_config(qbo), db)
        landing = qbo.authorize(live.connection.authorization_url("cli:tester"))
        local = landing.replace("https://creditbot.example.com", bot.url)
        page = requests.get(local, timeout=10)
        assert page.status_code == 200 and qbo.realm in page.text
        body, signature = qbo.webhook(("Invoice", "131", "Update"))
        assert requests.post(f"{bot.url}/qbo/webhooks", data=body, timeout=10).status_code == 401
        bad = requests.post(f"{bot.url}/qbo/webhooks", data=body, headers={"intuit-signature": "AAAA"}, timeout=10)
        assert bad.status_code == 401
        good = requests.post(f"{bot.url}/qbo/webhooks", data=body, headers={"intuit-signature": signature}, timeout=10)
        assert good.status_code == 200
        for _ in range(200):
            with db.read() as unit:
                posted = unit.session.exec(select(Invoice).where(Invoice.number == "INV-2001")).one().qb_invoice_id
            if posted:
                break
            threading.Event().wait(0.05)
        assert posted == "131"
