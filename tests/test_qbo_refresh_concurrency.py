"""Refreshing QuickBooks tokens under load: 8 pollers in 2 processes share one ledger, and Intuit rotates the
refresh token at every refresh. None may ever send a spent refresh token (Intuit answers invalid_grant, and the
connection would be lost): the locked read-refresh-write hands the latest token to whoever refreshes next, and one
who finds the token already refreshed uses it."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

from ledger.db import Database
from ledger.qbo.config import QBOConfig
from ledger.qbo.live import LiveQuickBooks
from ledger.qbo.poll import poll
from tests.qbo_live import connect, load_posted_invoice, qbo_config
from tests.qbo_standin import QBOStandIn

PROCESSES, THREADS, POLLS = 2, 4, 10


def _pollers(url: str, config: QBOConfig, results: Any) -> None:
    """One process: THREADS pollers, POLLS polls each; what went wrong is sent back as text."""
    db = Database(url)
    live = LiveQuickBooks.open(config, db)
    failures: list[str] = []

    def work() -> None:
        for _ in range(POLLS):
            try:
                poll(db, live.api)
            except Exception as failed:
                failures.append(f"{type(failed).__name__}: {failed}")

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.dispose()
    results.put(failures)


def test_eight_pollers_in_two_processes_never_reuse_a_refresh_token(db: Database) -> None:
    # Every 16th API call expires the access tokens issued so far: 401s and refreshes all the time, from all sides.
    with QBOStandIn(expire_every=16) as qbo:
        load_posted_invoice(db, qbo)
        config = qbo_config(qbo)
        connect(LiveQuickBooks.open(config, db), qbo)
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        url = db.url.render_as_string(hide_password=False)
        processes = [context.Process(target=_pollers, args=(url, config, results)) for _ in range(PROCESSES)]
        for process in processes:
            process.start()
        failures = [failure for _ in processes for failure in results.get(timeout=300)]
        for process in processes:
            process.join(timeout=60)
        assert failures == []
        assert qbo.reused_refresh_tokens == 0
        assert qbo.refreshes >= 3, "the access token ran out many times, so it was refreshed"
        assert list(qbo.refresh_tokens.values()).count("live") == 1
        assert LiveQuickBooks.open(config, db).connection.status().connected
