"""What issue 14's leaner apply keeps: the findings an apply may resolve are still settled, approvals still say what
they ask, a unit is freed without the cyclic garbage collector, and request hashes and amounts read as before."""

from __future__ import annotations

import gc
import hashlib
import json
import weakref
from datetime import timedelta

import pytest
from sqlmodel import select

from ledger import operations
from ledger.approvals import WriteRequest
from ledger.errors import ApprovalRequired
from ledger.idempotency import request_hash
from ledger.rules import Rules
from ledger.tables import HistoryEntry, Invoice, Payment, ScanFinding
from ledger.thresholds import ApprovalThresholds
from tests.builders import simple_ledger


def _stale_finding(db, kind: str, scope: str) -> int:
    """A live finding the ledger no longer bears out (as a scan that ran before a fix leaves one)."""
    with db.write() as unit:
        finding = ScanFinding(fingerprint=f"{kind}:{scope}:stale", kind=kind, scope=scope, detail="stale")
        unit.session.add(finding)
        unit.session.flush()
        return finding.id


def _closed(db, finding_id: int) -> bool:
    with db.read() as unit:
        return unit.session.get(ScanFinding, finding_id).closed_at is not None


def _invoice_id(db, number: str) -> int:
    with db.read() as unit:
        return unit.session.exec(select(Invoice.id).where(Invoice.number == number)).one()


@pytest.mark.parametrize(("kind", "scope_of"), [("overapplied_credit", "client"), ("negative_balance", "invoice")])
def test_an_apply_still_settles_a_live_finding_of_its_client_or_invoice(db, kind, scope_of):
    simple_ledger(db)
    scope = "client:C1" if scope_of == "client" else f"invoice:{_invoice_id(db, 'INV-1')}"
    in_scope = _stale_finding(db, kind, scope)
    elsewhere = _stale_finding(db, kind, "client:C9" if scope_of == "client" else "invoice:999999")

    db.transact(operations.apply_credit, "INV-1", "10.00", None, WriteRequest("u", "k-settle"))

    assert _closed(db, in_scope)  # re-evaluated at commit: the ledger does not bear it out
    assert not _closed(db, elsewhere)


def test_an_apply_whose_scopes_hold_no_live_finding_reads_no_finding_at_commit(sqlite_db):
    simple_ledger(sqlite_db)
    _stale_finding(sqlite_db, "overapplied_credit", "client:C9")  # another client's: not this apply's business
    statements: list[str] = []
    with sqlite_db.write() as unit:
        unit._dbapi.set_trace_callback(statements.append)
        operations.apply_credit(unit, "INV-1", "10.00", None, WriteRequest("u", "k-quiet"))
    unit._dbapi.set_trace_callback(None)
    assert not [sql for sql in statements if sql.lstrip().upper().startswith("SELECT KIND, SCOPE FROM SCAN_FINDING")]
    assert sum(sql.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE")) for sql in statements) == 8


def test_an_apply_above_the_threshold_asks_in_the_same_words_and_writes_nothing(db):
    simple_ledger(db)
    governed = db.with_rules(Rules(approval=ApprovalThresholds.parse("USD:100")))
    with pytest.raises(ApprovalRequired) as asked:
        governed.transact(operations.apply_credit, "INV-1", "150", None, WriteRequest("u", "k-big"))
    assert asked.value.params == {"invoice": "INV-1", "amount": "150.00", "project_tag": None}
    assert asked.value.what == "apply $150.00 of Client C1's credit to invoice INV-1"
    assert asked.value.amount == "$150.00" and asked.value.threshold == "$100.00"
    with db.read() as unit:
        assert unit.session.exec(select(Payment).where(Payment.kind == "AccountCredit")).all() == []
    done = governed.transact(operations.apply_credit, "INV-1", "60", None, WriteRequest("u", "k-small"))
    assert done.amount_minor == 6000  # under the threshold: counted and written


def test_a_unit_is_freed_as_soon_as_it_ends_without_the_cyclic_collector(db):
    simple_ledger(db)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with db.write() as unit:
            operations.apply_credit(unit, "INV-1", "1.00", None, WriteRequest("u", "k-free"))
            unit.after_commit(lambda: None)
            freed = weakref.ref(unit)
        del unit
        assert freed() is None  # its settle callback (which holds it) was dropped when it ended
    finally:
        if was_enabled:
            gc.enable()


def test_the_unit_time_is_stored_once_formatted_and_follows_a_new_now(sqlite_db):
    with sqlite_db.write() as unit:
        first = unit.time(unit.now)
        assert unit.time(unit.now) == first == unit.now.replace(tzinfo=None).isoformat(" ", "microseconds")
        unit.now = unit.now + timedelta(seconds=1)
        assert unit.time(unit.now) != first
        assert unit.time(unit.now) == unit.now.replace(tzinfo=None).isoformat(" ", "microseconds")


@pytest.mark.parametrize(
    "params",
    [{"invoice": "INV-1", "amount": "10.00", "project": None}, {"invoice": "Ünïcode \"q\" ☃", "amount": None,
     "project": "P1"}, {"client_id": "C1", "amount": 5, "when": timedelta(days=1)}],
)  # fmt: skip
def test_request_hashes_are_the_ones_stored_keys_were_made_with(params):
    """A key stored before keeps matching its retry: the canonical text is json.dumps's, byte for byte."""
    canonical = json.dumps({"operation": "apply_credit", **params}, sort_keys=True, default=str)
    assert request_hash("apply_credit", params) == hashlib.sha256(canonical.encode()).hexdigest()


def test_the_history_of_an_apply_reads_as_before(db):
    simple_ledger(db)
    db.transact(operations.apply_credit, "INV-1", "10.00", None, WriteRequest("u", "k-history"))
    with db.read() as unit:
        line = unit.session.exec(select(HistoryEntry).where(HistoryEntry.action == "apply_credit")).one()
    assert line.before == {"available_credit": "500.00", "balance_due": "1000.00"}
    assert line.after == {"available_credit": "490.00", "balance_due": "990.00", "credit_applied": "10.00"}
