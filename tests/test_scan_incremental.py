"""The incremental scan agrees with a full one, on random ledgers built by random histories.

A history is a random sequence of CSV imports (new payments, edits that change amounts, kinds, invoices or
postings), credit applications, reversals, credits issued, and scans in between. After every scan the stored
open findings must equal the findings computed from scratch, and a `--full` scan must change nothing.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

from ledger import operations, scans
from ledger.approvals import WriteRequest
from ledger.db import Database
from ledger.errors import LedgerError
from ledger.scans import ScanOptions
from ledger.tables import Payment
from tests.builders import client, credit, import_rows, invoice, payment

CLIENTS = [client("C1"), client("C2")]
INVOICES = {"INV-1": "C1", "INV-2": "C1", "INV-3": "C2", "INV-4": "C2"}
POSTED = "2026-10-05T12:00:00Z"
AMOUNTS = ["50.00", "100.00"]
KINDS = ["AccountCredit", "AccountCredit", "cash", "QBCreditMemo"]
OPTIONS = ScanOptions(duplicate_window_days=7)


def day(n: int) -> str:
    return f"2026-10-{n:02d}"


payment_rows = st.tuples(
    st.integers(1, 8),  # payment id: reusing one is an edit
    st.sampled_from(["INV-1", "INV-2", "INV-2", "INV-3"]),
    st.sampled_from(KINDS),
    st.sampled_from(AMOUNTS),
    st.integers(1, 12),  # received on
    st.integers(1, 9),  # created on (posting is on the 5th)
    st.one_of(st.none(), st.integers(1, 9)),  # updated on
)
# One import of a few payment rows (their ids distinct, as the import requires).
payments_ops = st.tuples(
    st.just("import_payments"), st.lists(payment_rows, min_size=1, max_size=4, unique_by=lambda r: r[0])
)
invoice_ops = st.tuples(
    st.just("import_invoice"),
    st.sampled_from(sorted(INVOICES)),
    st.sampled_from(["100.00", "150.00", "1000.00"]),
    st.booleans(),  # posted
    st.one_of(st.none(), st.integers(1, 9)),  # updated on
)
credit_ops = st.tuples(
    st.just("import_credit"), st.integers(1, 3), st.sampled_from(["C1", "C2"]), st.sampled_from(AMOUNTS)
)
apply_ops = st.tuples(st.just("apply"), st.sampled_from(sorted(INVOICES)), st.sampled_from(AMOUNTS))
reverse_ops = st.tuples(st.just("reverse"), st.integers(0, 10))
issue_ops = st.tuples(st.just("issue"), st.sampled_from(["C1", "C2"]), st.sampled_from(AMOUNTS))
scan_ops = st.tuples(st.just("scan"))
histories = st.lists(
    # payments weigh most: they make duplicates, negative balances and over-applied credit
    st.one_of(
        payments_ops, payments_ops, payments_ops, invoice_ops, credit_ops, apply_ops, reverse_ops, issue_ops, scan_ops
    ),
    min_size=1,
    max_size=16,
)


def invoice_row(number: str, total: str = "300.00", posted: bool = False, updated: int | None = None) -> dict:
    row = invoice(number, INVOICES[number], total)
    row["posted_to_qb_at"] = POSTED if posted else ""
    row["updated_at"] = f"{day(updated)}T10:00:00Z" if updated else ""
    return row


def start_ledger(db: Database) -> None:
    import_rows(
        db,
        clients=CLIENTS,
        invoices=[invoice_row(n, "150.00", posted=n in ("INV-1", "INV-3")) for n in INVOICES],
        credits=[credit("CR-1", "C1", "100.00"), credit("CR-2", "C2", "100.00")],
        # Mistakes to begin with (a duplicate, credit over-applied and applied after posting), for the steps to
        # fix, edit or repeat; their ids are among those the steps reuse.
        payments=[
            payment("P6", "INV-1", "AccountCredit", "50.00", received_on=day(6), created_at=f"{day(7)}T09:00:00Z"),
            payment("P7", "INV-2", "AccountCredit", "50.00", received_on=day(2), created_at=f"{day(2)}T09:00:00Z"),
            payment("P8", "INV-2", "AccountCredit", "50.00", received_on=day(4), created_at=f"{day(4)}T09:00:00Z"),
        ],
    )


def play(db: Database, step: tuple, counter: list[int]) -> None:
    name, *args = step
    counter[0] += 1
    key = f"k{counter[0]}"
    try:
        if name == "import_payments":
            rows = [
                payment(
                    f"P{pid}",
                    number,
                    kind,
                    amount,
                    received_on=day(received),
                    created_at=f"{day(created)}T09:00:00Z",
                    updated_at=f"{day(updated)}T11:00:00Z" if updated else "",
                )
                for pid, number, kind, amount, received, created, updated in args[0]
            ]
            import_rows(db, clients=CLIENTS, payments=rows)
        elif name == "import_invoice":
            number, total, posted, updated = args
            import_rows(db, clients=CLIENTS, invoices=[invoice_row(number, total, posted, updated)])
        elif name == "import_credit":
            cid, client_id, amount = args
            import_rows(db, clients=CLIENTS, credits=[credit(f"CR-X{cid}", client_id, amount)])
        elif name == "apply":
            db.transact(operations.apply_credit, args[0], args[1], None, WriteRequest("test", key))
        elif name == "reverse":
            with db.read() as unit:
                session = unit.session
                ids = session.exec(select(Payment.id).where(Payment.kind == "AccountCredit").order_by(Payment.id)).all()
            if ids:
                db.transact(operations.reverse_application, ids[args[0] % len(ids)], WriteRequest("test", key))
        elif name == "issue":
            db.transact(operations.issue_credit, args[0], args[1], "goodwill", WriteRequest("test", key))
        elif name == "scan":
            check_scan_agrees(db)
    except LedgerError:
        pass  # a refused step (posted invoice, not enough credit, ...) changes nothing; the history goes on


def check_scan_agrees(db: Database) -> None:
    scans.run_scan(db, OPTIONS)
    assert stored(db) == fresh(db)


def stored(db: Database) -> set[tuple]:
    with db.read() as unit:
        return {
            (f.fingerprint, f.detail, f.amount_minor, f.invoice_id, f.client_id, f.payment_ids)
            for f in scans.open_findings(unit)
        }


def fresh(db: Database) -> set[tuple]:
    return {
        (f.fingerprint, f.detail, f.amount_minor, f.invoice_id, f.client_id, f.payment_ids)
        for f in scans.evaluate_all(db, OPTIONS)
    }


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def new_ledger(request, tmp_path: Path):
    """A factory of empty migrated ledgers (hypothesis needs a fresh one per example, not per test)."""
    made: list[Database] = []

    def make() -> Database:
        if request.param == "sqlite":
            path = tmp_path / f"{uuid.uuid4().hex}.db"
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
            database = Database(f"sqlite:///{path}")
        else:
            database = Database(request.getfixturevalue("postgres_url"))
            tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
            with database.engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        made.append(database)
        return database

    yield make
    for database in made:
        database.dispose()


EXAMPLES = int(os.environ.get("CREDITBOT_SCAN_EXAMPLES", "30"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories)
def test_incremental_scans_agree_with_full_scans(new_ledger, history):
    db = new_ledger()
    try:
        start_ledger(db)
        check_scan_agrees(db)
        counter = [0]
        for step in history:
            play(db, step, counter)
        check_scan_agrees(db)
        for fingerprint, *_ in stored(db):
            event(fingerprint.split(":")[0])  # which kinds the histories reach (--hypothesis-show-statistics)
        report = scans.run_scan(db, OPTIONS, full=True)
        assert (report.opened, report.updated, report.closed) == ([], 0, 0)
    finally:
        db.dispose()


# --- concurrency ----------------------------------------------------------------------------------------------


@pytest.fixture
def postgres_ledger(request):
    """An empty ledger on PostgreSQL only: the races below need its concurrent writers."""
    database = Database(request.getfixturevalue("postgres_url"))
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with database.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield database
    database.dispose()


@pytest.mark.postgres
def test_a_payment_committed_after_a_higher_id_is_not_missed(postgres_ledger):
    """A writer takes payment id N and commits after another writer's N+1: the watermark must not pass N."""
    db = postgres_ledger
    import_rows(
        db,
        clients=CLIENTS,
        invoices=[invoice_row("INV-1"), invoice_row("INV-3")],
        credits=[credit("CR-1", "C1", "500.00"), credit("CR-2", "C2", "500.00")],
        payments=[payment("P1", "INV-1", "AccountCredit", "50.00", received_on=day(1))],
    )
    check_scan_agrees(db)
    with db.write() as unit:
        session = unit.session
        first = session.exec(select(Payment).where(Payment.external_id == "P1")).one()
    slow = Session(db.engine)
    slow.begin()
    next_day = first.received_on + timedelta(days=1)
    twin = Payment(
        invoice_id=first.invoice_id, client_id="C1", kind="AccountCredit", amount_minor=5000, received_on=next_day
    )
    slow.add(twin)
    slow.flush()  # id N taken, not committed
    try:
        # Another client's credit (the slow writer holds C1's row): id N+1, committed first.
        db.transact(operations.apply_credit, "INV-3", "20.00", None, WriteRequest("test", "fast"))
        check_scan_agrees(db)  # sees N+1, not N
    finally:
        slow.commit()
        slow.close()
    scans.run_scan(db, OPTIONS)
    assert any(f[0].startswith("duplicate_credit") for f in stored(db)), "the late payment N was scanned"
    assert stored(db) == fresh(db)


def test_concurrent_scans_while_the_ledger_changes_store_each_finding_once(new_ledger):
    db = new_ledger()
    start_ledger(db)
    url = db.url.render_as_string(hide_password=False)
    errors: list[BaseException] = []

    def scanner() -> None:
        own = Database(url)
        try:
            for _ in range(5):
                scans.run_scan(own, OPTIONS)
        except BaseException as failure:  # reported below
            errors.append(failure)
        finally:
            own.dispose()

    threads = [threading.Thread(target=scanner) for _ in range(3)]
    for thread in threads:
        thread.start()
    for n in range(5):
        rows = [payment(f"Q{n}-{k}", "INV-2", "AccountCredit", "50.00", received_on=day(2 + k)) for k in range(2)]
        import_rows(db, clients=CLIENTS, payments=rows)
    for thread in threads:
        thread.join()
    assert errors == []
    check_scan_agrees(db)
