"""Sixteen writers at once per credit operation, on SQLite and PostgreSQL: every outcome a result or a typed refusal,
the wallet never below zero, no application reversed beyond its amount, running totals equal to the entries, and
opposite transfers never deadlocking."""

from __future__ import annotations

from ledger import operations, reads
from ledger.approvals import WriteRequest
from ledger.credit_ops import apply_all, expiry, reversals, wallets
from ledger.errors import LedgerError
from ledger.tables import Reversal
from ledger.totals import stored_totals, totals_from_entries
from tests.builders import available, client, credit, import_rows, invoice, race, row_counts
from tests.ledger_time import days_pass

THREADS = 16


def _ledger(db, credit_amount: str = "1000.00") -> None:
    import_rows(
        db,
        clients=[client("C1"), client("C2")],
        invoices=[invoice(f"INV-{n}", total="500.00") for n in range(4)] + [invoice("INV-C2", "C2")],
        credits=[credit("CR-1", amount=credit_amount), credit("CR-2", "C2", "1000.00")],
    )


def _settled(db, outcomes: list[object]) -> list[object]:
    """The results; every other outcome must be a ledger refusal (never a deadlock or a crash)."""
    unexpected = [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, LedgerError)]
    assert unexpected == []
    with db.read() as unit:
        assert stored_totals(unit.session) == totals_from_entries(unit.session)
        for client_id in ("C1", "C2"):
            assert reads.client_balance(unit, client_id).available_credit_minor >= 0
    return [o for o in outcomes if not isinstance(o, Exception)]


def test_racing_partial_reversals_never_give_back_more_than_the_application(db):
    _ledger(db)
    applied = db.transact(operations.apply_credit, "INV-0", "100.00", None, WriteRequest("t", "apply"))

    def reverse(own, n):
        by = WriteRequest(f"t{n}", f"r{n}")
        return own.transact(operations.reverse_application, applied.application_id, by, amount="7.00")

    done = _settled(db, race(db, reverse, THREADS))
    assert len(done) == 14  # 14 x $7 fit in $100; the other two are refused
    assert available(db) == 100000 - 10000 + 14 * 700
    assert row_counts(db, Reversal) == (14,)


def test_racing_moves_of_one_application_move_it_at_most_once(db):
    _ledger(db)
    applied = db.transact(operations.apply_credit, "INV-0", "100.00", None, WriteRequest("t", "apply"))

    def move(own, n):
        by = WriteRequest(f"t{n}", f"m{n}")
        return own.transact(reversals.move_application, applied.application_id, f"INV-{1 + n % 3}", by)

    done = _settled(db, race(db, move, THREADS))
    assert len(done) == 1 and available(db) == 90000


def test_opposite_transfers_at_once_neither_deadlock_nor_overdraw(db):
    _ledger(db, credit_amount="100.00")

    def transfer(own, n):
        source, target = ("C1", "C2") if n % 2 else ("C2", "C1")
        return own.transact(wallets.transfer_credit, source, target, "30.00", "race", WriteRequest(f"t{n}", f"t{n}"))

    done = _settled(db, race(db, transfer, THREADS))
    assert available(db, "C1") + available(db, "C2") == 110000
    assert len(done) >= 8


def test_racing_refunds_and_write_offs_never_take_more_than_is_available(db):
    _ledger(db, credit_amount="100.00")

    def take(own, n):
        op = wallets.refund_credit if n % 2 else wallets.write_off_credit
        return own.transact(op, "C1", "15.00", "race", WriteRequest(f"t{n}", f"x{n}"))

    done = _settled(db, race(db, take, THREADS))
    assert len(done) == 6 and available(db) == 1000


def test_racing_apply_alls_spend_the_credit_once(db):
    _ledger(db, credit_amount="700.00")

    def spread(own, n):
        return own.transact(apply_all.apply_all, "C1", WriteRequest(f"t{n}", f"all{n}"))

    done = _settled(db, race(db, spread, THREADS))
    assert len(done) == 1 and available(db) == 0


def test_racing_writers_on_an_expired_wallet_record_the_expiry_once(db):
    _ledger(db, credit_amount="10.00")
    with db.read() as unit:
        today = unit.now.date().isoformat()
    db.transact(operations.issue_credit, "C1", "50.00", "promo", WriteRequest("t", "promo"), expires_on=today)
    days_pass(db, 1)

    def write(own, n):
        if n % 2:
            return own.transact(expiry.expire_credits)
        return own.transact(operations.apply_credit, f"INV-{n % 4}", "1.00", None, WriteRequest(f"t{n}", f"a{n}"))

    done = _settled(db, race(db, write, THREADS))
    assert len(done) == THREADS and available(db) == 1000 - 8 * 100
    with db.read() as unit:
        rows = reads.credit_entries(unit, reads.CreditFilter(client="C1", kind="expiry")).entries
    assert [entry.amount_minor for entry in rows] == [-5000]
