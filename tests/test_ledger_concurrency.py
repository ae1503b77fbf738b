"""Writers racing on one wallet: never over-applied, every refusal typed, history equal to balances."""

from __future__ import annotations

import threading
from decimal import Decimal

from sqlmodel import select

from ledger import operations, reads
from ledger.approvals import WriteRequest
from ledger.db import Database
from ledger.errors import ExceedsBalanceDue, InsufficientCredit, LedgerError
from ledger.tables import HistoryEntry
from ledger.totals import stored_totals, totals_from_entries
from tests.builders import client, credit, import_rows, invoice

THREADS = 16
ATTEMPTS_PER_THREAD = 4


def test_racing_writers_never_overapply_one_wallet(db):
    # $1,000 of credit; five invoices that together owe $2,500; 64 attempts of $35 each from 16 threads.
    import_rows(
        db,
        clients=[client("C1")],
        invoices=[invoice(f"INV-{n}", total="500.00") for n in range(5)],
        credits=[credit("CR-1", amount="1000.00")],
    )
    outcomes: list[object] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def writer(thread: int) -> None:
        own = Database(db.url.render_as_string(hide_password=False))  # each writer its own pool, like a process
        start.wait()
        for attempt in range(ATTEMPTS_PER_THREAD):
            try:
                result = own.transact(
                    operations.apply_credit,
                    f"INV-{(thread + attempt) % 5}",
                    "35.00",
                    None,
                    WriteRequest(f"t{thread}", f"k{thread}-{attempt}"),
                )
                outcome: object = result.amount_minor
            except LedgerError as refused:
                outcome = refused
            except Exception as unexpected:  # anything else is a bug, reported by the assertion below
                outcome = unexpected
            with lock:
                outcomes.append(outcome)
        own.dispose()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    applied = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if not isinstance(o, int)]
    assert all(isinstance(r, InsufficientCredit | ExceedsBalanceDue) for r in refused), refused
    assert sum(applied) == 28 * 3500  # $1,000 holds 28 applications of $35, and no more
    with db.read() as unit:
        session = unit.session
        balance = reads.client_balance(unit, "C1")
        assert balance.available_credit_minor == 100000 - 28 * 3500
        assert stored_totals(session) == totals_from_entries(session)
        entries = session.exec(select(HistoryEntry).where(HistoryEntry.action == "apply_credit")).all()
    assert sum(Decimal(entry.after["credit_applied"]) for entry in entries) == Decimal("980.00")


def test_racing_double_clicks_with_one_key_apply_once(db):
    import_rows(db, clients=[client("C1")], invoices=[invoice("INV-1")], credits=[credit("CR-1", amount="500.00")])
    results: list[object] = []
    start = threading.Barrier(8)

    def click() -> None:
        own = Database(db.url.render_as_string(hide_password=False))
        start.wait()
        results.append(
            own.transact(operations.apply_credit, "INV-1", "100.00", None, WriteRequest("slack:U1", "slack:same-click"))
        )
        own.dispose()

    threads = [threading.Thread(target=click) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.application_id for r in results}) == 1  # type: ignore[attr-defined]
    assert sum(not r.replayed for r in results) == 1  # type: ignore[attr-defined]
    with db.read() as unit:
        assert reads.client_balance(unit, "C1").available_credit_minor == 40000


def test_a_sqlite_file_is_read_through_a_memory_map(sqlite_db):
    """Pages read through the map are the operating system's, shared by every connection and `serve` worker,
    rather than copied into each connection's page cache (ledger/db.py, issue 14)."""
    from ledger.db import SQLITE_MMAP_BYTES
    from ledger.unit import Statement

    mmap_size = Statement("PRAGMA mmap_size", "")
    with sqlite_db.read(plain=True) as unit:  # sqlite3 alone (no engine yet), as `creditbot balance` reads
        assert unit.one(mmap_size) == (SQLITE_MMAP_BYTES,)
    with sqlite_db.read() as unit:  # the engine's pooled connection, as the bot reads
        assert unit.one(mmap_size) == (SQLITE_MMAP_BYTES,)
