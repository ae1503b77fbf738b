"""Issue 19: a poll stopped after QuickBooks answered a refresh with a rotated refresh token, and before the ledger
stored it, leaves the ledger holding the token QuickBooks just spent. Intuit documents that previous refresh
tokens expire 24 hours after a new one is issued (intuit/oauth-jsclient README), so the next poll refreshes with
the stored one and finishes, with no reconnect; only a next poll more than 24 hours later needs a QuickBooks admin.
On SQLite and PostgreSQL, against the stand-in (tests/qbo_standin.py), which spends a refresh token at every
refresh and keeps a spent one refreshing for 24 hours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from ledger.db import Database
from ledger.qbo.connection import TokenCipher
from ledger.qbo.errors import QBOConnectionBroken
from ledger.qbo.live import LiveQuickBooks
from ledger.qbo.oauth import IntuitOAuth, TokenGrant
from ledger.qbo.poll import poll
from ledger.tables import Payment
from tests.qbo_live import SECRET_KEY, connect, load_posted_invoice, qbo_config, qbo_env
from tests.qbo_payloads import link, qbo_payment
from tests.qbo_standin import QBOStandIn

ROOT = Path(__file__).resolve().parent.parent
CREDITBOT = "import sys; from bot.cli import main; sys.argv[0] = 'creditbot'; main()"
QB_POLL = [sys.executable, "-c", CREDITBOT, "qb", "poll"]


class Stopped(BaseException):
    """The process ends here (as under kill -9): nothing after this step runs, the open transaction is lost."""


class StopsOnRefreshAnswer(IntuitOAuth):
    """Intuit's real client, stopped at the exact step between QuickBooks' refresh answer and the ledger's store."""

    def refresh(self, refresh_token: str) -> TokenGrant:
        super().refresh(refresh_token)
        raise Stopped()


@pytest.fixture
def qbo() -> Iterator[QBOStandIn]:
    with QBOStandIn() as stand_in:
        yield stand_in


def stored_refresh_token(db: Database) -> str:
    with db.read() as unit:
        stored = unit.connection.execute(text("SELECT refresh_token FROM qbo_connection")).scalar_one()
    return TokenCipher(SECRET_KEY).decrypt(stored)


def qbo_payments(db: Database) -> list[str | None]:
    with db.read() as unit:
        found = select(Payment.external_id).where(col(Payment.external_id).startswith("qbo:payment:"))
        return list(unit.session.exec(found))


def stop_a_poll_in_its_refresh_window(db: Database, qbo: QBOStandIn) -> str:
    """Connect, let the access token expire, and stop a poll right after QuickBooks rotated the refresh token."""
    load_posted_invoice(db, qbo)
    qbo.put("Payment", qbo_payment("9001", [link("Invoice", "131", 400.0)]))
    connect(LiveQuickBooks.open(qbo_config(qbo), db), qbo)
    spent = stored_refresh_token(db)
    qbo.expire_access_tokens()
    stopped = LiveQuickBooks.open(qbo_config(qbo), db)
    stopped.connection.oauth = StopsOnRefreshAnswer(stopped.config)
    with pytest.raises(Stopped):
        poll(db, stopped.api)
    assert qbo.refreshes == 1 and qbo.refresh_tokens[spent] == "spent", "QuickBooks rotated the refresh token"
    assert stored_refresh_token(db) == spent, "and the ledger still holds the spent one"
    assert qbo_payments(db) == []
    return spent


def test_the_next_poll_finishes_with_the_spent_refresh_token_and_no_reconnect(db: Database, qbo: QBOStandIn) -> None:
    spent = stop_a_poll_in_its_refresh_window(db, qbo)
    live = LiveQuickBooks.open(qbo_config(qbo), db)
    result = poll(db, live.api)
    assert qbo_payments(db) == ["qbo:payment:9001/131"], result
    status = live.connection.status()
    assert status.connected and status.last_error is None
    fresh = stored_refresh_token(db)
    assert fresh != spent and qbo.refresh_tokens[fresh] == "live", "the newest refresh token is stored"
    assert qbo.reused_refresh_tokens == 1, "the one refresh with a spent token was the stopped poll's"
    poll(db, LiveQuickBooks.open(qbo_config(qbo), db).api)
    assert qbo_payments(db) == ["qbo:payment:9001/131"]


def test_a_poll_more_than_24_hours_after_the_window_needs_a_reconnect_and_says_so(
    db: Database, qbo: QBOStandIn
) -> None:
    stop_a_poll_in_its_refresh_window(db, qbo)
    qbo.refresh_grace_s = 0  # QuickBooks expired the previous refresh token (24 hours after the rotation)
    live = LiveQuickBooks.open(qbo_config(qbo), db)
    with pytest.raises(QBOConnectionBroken, match="invalid_grant"):
        poll(db, live.api)
    assert live.connection.status().status == "broken" and qbo_payments(db) == []
    connect(live, qbo)
    poll(db, live.api)
    assert qbo_payments(db) == ["qbo:payment:9001/131"]


def test_a_spent_refresh_token_is_refused_24_hours_after_it_was_spent(db: Database, qbo: QBOStandIn) -> None:
    spent = stop_a_poll_in_its_refresh_window(db, qbo)
    qbo.spent_at[spent] -= 24 * 3600  # the day since QuickBooks rotated it has passed
    with pytest.raises(QBOConnectionBroken, match="invalid_grant"):
        poll(db, LiveQuickBooks.open(qbo_config(qbo), db).api)
    assert qbo.refresh_tokens[spent] == "spent" and qbo.reused_refresh_tokens == 1


def test_a_revoked_refresh_token_is_refused_even_within_24_hours(db: Database, qbo: QBOStandIn) -> None:
    spent = stop_a_poll_in_its_refresh_window(db, qbo)
    qbo.revoke_refresh_token(spent)  # disconnected in QuickBooks meanwhile
    with pytest.raises(QBOConnectionBroken, match="invalid_grant"):
        poll(db, LiveQuickBooks.open(qbo_config(qbo), db).api)


def test_a_poll_killed_minus_9_in_its_refresh_window_is_finished_by_the_next_poll(
    db: Database, qbo: QBOStandIn
) -> None:
    """The real command, killed (SIGKILL) while QuickBooks' answer to its refresh is on its way: the rotation happened
    at QuickBooks, the ledger never saw the new token. The next `creditbot qb poll` finishes, no reconnect."""
    load_posted_invoice(db, qbo)
    qbo.put("Payment", qbo_payment("9001", [link("Invoice", "131", 400.0)]))
    connect(LiveQuickBooks.open(qbo_config(qbo), db), qbo)
    spent = stored_refresh_token(db)
    qbo.expire_access_tokens()
    url = db.url.render_as_string(hide_password=False)
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CREDITBOT_", "QBO_", "DATABASE_URL"))}
    env = {**keep, "PYTHONPATH": str(ROOT), "DATABASE_URL": url, **qbo_env(qbo)}
    qbo.refresh_answer_gate = threading.Event()
    child = subprocess.Popen(QB_POLL, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60  # a bound on waiting, not a measurement
        while qbo.refreshes == 0 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert qbo.refreshes == 1 and qbo.refresh_tokens[spent] == "spent", "QuickBooks rotated the refresh token"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        qbo.refresh_answer_gate.set()
        if child.poll() is None:
            child.kill()
    qbo.refresh_answer_gate = None
    assert stored_refresh_token(db) == spent and qbo_payments(db) == []
    again = subprocess.run(QB_POLL, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert qbo_payments(db) == ["qbo:payment:9001/131"]
    assert LiveQuickBooks.open(qbo_config(qbo), db).connection.status().connected
