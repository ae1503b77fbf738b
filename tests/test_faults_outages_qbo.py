"""QuickBooks Online unreachable, throttled, failing or slow during polls and apply-memo (issue 19.2), against the
local stand-in of Intuit's API (tests/qbo_standin.py) on SQLite and PostgreSQL: nothing lost (the watermark and
pending actions wait for the next poll), nothing doubled (one payment per request, via `requestid`), and the
person told once, in one line.

What tests/test_qbo_live.py already proves is not repeated here: a 429 with Retry-After and a 503 retried within a
poll, a poll failing on every retry (watermark kept, one alert), a lost answer to the payment POST.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from ledger.approvals import WriteRequest
from ledger.db import Database
from ledger.qbo import memos
from ledger.qbo.errors import MemoApplicationAlreadyWaiting, MemoApplicationWaiting, QuickBooksUnavailable
from ledger.qbo.live import LiveQuickBooks
from ledger.qbo.poll import poll
from tests.qbo_live import connect, load_posted_invoice, qbo_config
from tests.qbo_standin import QBOStandIn
from tests.test_qbo_live_cli import _connect, qb  # noqa: F401 (the command line's fixture)

# A client timeout short enough for a fast test, and QuickBooks slower than it ("slow" answers this much later).
TIMEOUT_S, SLOW_S = 0.3, 0.6


@pytest.fixture
def qbo() -> Iterator[QBOStandIn]:
    with QBOStandIn() as stand_in:
        stand_in.slow_seconds = SLOW_S
        yield stand_in


@pytest.fixture
def live(db: Database, qbo: QBOStandIn) -> LiveQuickBooks:
    config = dataclasses.replace(qbo_config(qbo), timeout_s=TIMEOUT_S, retries=2)
    live = LiveQuickBooks.open(config, db)
    load_posted_invoice(db, qbo)
    connect(live, qbo)
    return live


def posted_invoices(db: Database) -> list[str]:
    with db.read() as unit:
        return [row[0] for row in unit.connection.exec_driver_sql(
            "SELECT number FROM invoice WHERE posted_to_qb_at IS NOT NULL ORDER BY number")]  # fmt: skip


@pytest.fixture
def posted(db, live) -> None:
    poll(db, live.api)  # the ledger learns that INV-2001 is posted in QuickBooks


def record(db: Database, key: str, amount: str = "150.00") -> memos.MemoApplication:
    return db.transact(memos.record_memo_application, "INV-2001", "1043", amount, WriteRequest("cli:t", key))


# --- polls ----------------------------------------------------------------------------------------------------


def test_a_poll_while_quickbooks_is_down_changes_nothing_and_the_next_one_catches_up(db, live, qbo):
    before = live.connection.status().changed_since
    with qbo.down(), pytest.raises(QuickBooksUnavailable) as refused:
        poll(db, live.api)
    assert "Could not read QuickBooks' changes" in refused.value.message and "\n" not in refused.value.message
    assert live.connection.status().changed_since == before and posted_invoices(db) == []
    result = poll(db, live.api)
    assert [p.invoice_number for p in result.summary.invoices_posted] == ["INV-2001"]
    assert poll(db, live.api).summary.invoices_posted == [], "applied once"


@pytest.mark.parametrize("fault", [500, 503, "drop", "slow"])
def test_a_poll_rides_out_one_failure_of_each_kind(db, live, qbo, fault):
    qbo.fail_next(fault)
    result = poll(db, live.api)
    assert [p.invoice_number for p in result.summary.invoices_posted] == ["INV-2001"]
    assert not qbo.faults, "the request that met the fault was retried"


def test_a_429_without_retry_after_is_retried_after_a_backoff(db, live, qbo):
    qbo.retry_after = None  # Intuit documents the 429 and advises waiting, not a Retry-After header
    qbo.fail_next(429, 429)
    assert len(poll(db, live.api).summary.invoices_posted) == 1


def test_quickbooks_slower_than_the_timeout_on_every_try_says_it_timed_out(db, live, qbo):
    qbo.fail_next(*["slow"] * 3)  # the first try and both retries
    with pytest.raises(QuickBooksUnavailable, match="it timed out"):
        poll(db, live.api)
    assert posted_invoices(db) == []


# --- apply-memo -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [500, 503, 429, "slow"])
def test_apply_memo_through_a_failure_makes_one_payment(db, live, qbo, posted, fault):
    """A 5xx or a timed-out answer may come after QuickBooks created the payment: the retry carries the same
    requestid, so QuickBooks creates it once."""
    action = record(db, "click-1")
    qbo.fail_next(fault)
    sent = memos.send(db, live.api, action.action_id)
    assert sent.status == memos.SENT and len(qbo.payments()) == 1
    assert sent.qb_payment_id == qbo.payments()[0]["Id"]


def test_apply_memo_while_quickbooks_is_down_waits_and_says_so_once(db, live, qbo, posted):
    action = record(db, "click-1")
    with qbo.down(), pytest.raises(MemoApplicationWaiting) as waiting:
        memos.send(db, live.api, action.action_id)
    message = waiting.value.message
    assert "QuickBooks did not answer" in message and "next QuickBooks poll" in message
    assert "Nothing was changed" not in message, "the application is recorded: saying otherwise invites a repeat"
    assert qbo.payments() == []

    memos.send_pending(db, live.api)
    memos.send_pending(db, live.api)
    assert len(qbo.payments()) == 1


def test_asking_again_with_a_new_request_while_one_waits_is_refused_not_doubled(db, live, qbo, posted):
    waiting = record(db, "click-1")
    with qbo.down(), pytest.raises(MemoApplicationWaiting):
        memos.send(db, live.api, waiting.action_id)
    with pytest.raises(MemoApplicationAlreadyWaiting, match="already waiting"):
        record(db, "click-2")
    memos.send_pending(db, live.api)
    assert len(qbo.payments()) == 1


def test_apply_memo_slower_than_the_timeout_on_every_try_is_sent_once_later(db, live, qbo, posted):
    """Every try timed out, but QuickBooks carried each out: the requestid makes them one payment, and the next
    poll's send finds it."""
    action = record(db, "click-1")
    qbo.fail_next(*["slow"] * 3)
    with pytest.raises(MemoApplicationWaiting):
        memos.send(db, live.api, action.action_id)
    [sent] = memos.send_pending(db, live.api)
    assert sent.status == memos.SENT and len(qbo.payments()) == 1


# --- what the person at the command line sees ------------------------------------------------------------------


def test_qb_poll_while_quickbooks_is_down_says_so_in_one_line(qb):  # noqa: F811 (the imported fixture)
    run, stand_in = qb
    _connect(run, stand_in)
    with stand_in.down():
        printed = run("poll")
    assert printed.exit_code == 1 and "Traceback" not in printed.output
    assert printed.output.startswith("Refused: Could not read QuickBooks' changes") and printed.output.count("\n") == 1
    assert "QuickBooks did not answer (it could not be reached)" in printed.output
    assert run("poll").exit_code == 0
