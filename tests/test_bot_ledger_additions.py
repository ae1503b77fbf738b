"""The ledger pieces the bot added: taking an issued credit back (`revoke_credit`, Undo of issue) and requests
waiting for approval (`ledger.requests`). On SQLite and PostgreSQL, with concurrent callers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import select

from ledger import approvals, operations
from ledger.approvals import WriteRequest
from ledger.errors import (
    ApprovalAlreadyDecided,
    CreditAlreadyRevoked,
    CreditAlreadyUsed,
    CreditNotRevocable,
    IdempotencyConflict,
    LedgerError,
    SelfApproval,
    UnknownApprovalRequest,
    UnknownCredit,
)
from ledger.tables import Credit, HistoryEntry
from ledger.totals import refresh_totals, stored_totals, totals_from_entries
from tests.builders import available, simple_ledger


def assert_totals_agree(db) -> None:
    with db.read() as unit:
        session = unit.session
        assert stored_totals(session) == totals_from_entries(session)


# --- revoke_credit ----------------------------------------------------------------------------------------


def test_revoke_takes_the_whole_credit_back_with_a_new_entry(db):
    simple_ledger(db)
    issued = db.transact(operations.issue_credit, "C1", "80.00", "goodwill", WriteRequest("ann", "k-issue"))
    result = db.transact(operations.revoke_credit, issued.credit_id, WriteRequest("bob", "k-undo"))
    assert (result.available_before_minor, result.available_after_minor) == (58000, 50000)
    with db.read() as unit:
        session = unit.session
        entry = session.get(Credit, result.revocation_id)
        assert (entry.amount_minor, entry.external_id, entry.created_by) == (
            -8000,
            f"revokes:{issued.credit_id}",
            "bob",
        )
        assert session.get(Credit, issued.credit_id).amount_minor == 8000  # the original is untouched
        history = session.exec(select(HistoryEntry).where(HistoryEntry.action == "revoke_credit")).one()
        assert history.after == {"available_credit": "500.00", "credit_revoked": "80.00"}
    assert_totals_agree(db)


def test_a_bulk_refresh_of_totals_agrees_with_a_revocation(db):
    simple_ledger(db)
    issued = db.transact(operations.issue_credit, "C1", "80.00", "goodwill", WriteRequest("ann", "k-issue"))
    db.transact(operations.revoke_credit, issued.credit_id, WriteRequest("bob", "k-undo"))
    with db.write() as unit:
        refresh_totals(unit)
    assert available(db) == 50000


def test_revoke_replays_its_first_result_for_the_same_key(db):
    simple_ledger(db)
    issued = db.transact(operations.issue_credit, "C1", "80.00", "goodwill", WriteRequest("ann", "k-issue"))
    first = db.transact(operations.revoke_credit, issued.credit_id, WriteRequest("bob", "k-undo"))
    again = db.transact(operations.revoke_credit, issued.credit_id, WriteRequest("bob", "k-undo"))
    assert again.replayed and again.revocation_id == first.revocation_id
    with pytest.raises(IdempotencyConflict):
        db.transact(operations.revoke_credit, 1, WriteRequest("bob", "k-undo"))


def test_a_credit_is_taken_back_at_most_once(db):
    simple_ledger(db)
    issued = db.transact(operations.issue_credit, "C1", "80.00", "goodwill", WriteRequest("ann", "k-issue"))
    db.transact(operations.revoke_credit, issued.credit_id, WriteRequest("bob", "k-1"))
    with pytest.raises(CreditAlreadyRevoked):
        db.transact(operations.revoke_credit, issued.credit_id, WriteRequest("bob", "k-2"))
    assert available(db) == 50000


def test_concurrent_revokes_with_different_keys_take_it_back_once(db):
    simple_ledger(db)
    issued = db.transact(operations.issue_credit, "C1", "80.00", "goodwill", WriteRequest("ann", "k-issue"))

    def revoke(n: int) -> str:
        try:
            db.transact(operations.revoke_credit, issued.credit_id, WriteRequest("bob", f"k-{n}"))
            return "done"
        except LedgerError as refused:
            return refused.code

    with ThreadPoolExecutor(6) as pool:
        outcomes = sorted(pool.map(revoke, range(6)))
    assert outcomes == ["credit_already_revoked"] * 5 + ["done"]
    assert available(db) == 50000
    assert_totals_agree(db)


def test_revoke_is_refused_while_any_of_the_credit_is_spent(db):
    simple_ledger(db, credit_amount="100.00")
    issued = db.transact(operations.issue_credit, "C1", "80.00", "goodwill", WriteRequest("ann", "k-issue"))
    db.transact(operations.apply_credit, "INV-1", "150.00", None, WriteRequest("ann", "k-apply"))
    with pytest.raises(CreditAlreadyUsed, match=r"Client C1 has only \$30.00 of credit left"):
        db.transact(operations.revoke_credit, issued.credit_id, WriteRequest("bob", "k-undo"))
    assert available(db) == 3000


def test_a_revocation_itself_cannot_be_revoked_and_unknown_credits_are_named(db):
    simple_ledger(db)
    issued = db.transact(operations.issue_credit, "C1", "80.00", "goodwill", WriteRequest("ann", "k-issue"))
    revocation = db.transact(operations.revoke_credit, issued.credit_id, WriteRequest("bob", "k-undo"))
    with pytest.raises(CreditNotRevocable):
        db.transact(operations.revoke_credit, revocation.revocation_id, WriteRequest("bob", "k-undo-undo"))
    with pytest.raises(UnknownCredit, match="There is no credit #999"):
        db.transact(operations.revoke_credit, 999, WriteRequest("bob", "k-unknown"))


# --- requests waiting for approval ------------------------------------------------------------------------

PARAMS = {"client": "C1", "amount": "5000.00", "currency": "USD", "reason": "big"}


def test_opening_a_request_twice_with_one_key_gives_the_same_request(db):
    simple_ledger(db)
    first = db.transact(approvals.open_request, "issue_credit", PARAMS, "slack:A", "key-1", "C1")
    again = db.transact(approvals.open_request, "issue_credit", PARAMS, "slack:A", "key-1", "C1")
    assert (first.replayed, again.replayed, again.request.id) == (False, True, first.request.id)
    with pytest.raises(IdempotencyConflict):
        db.transact(approvals.open_request, "issue_credit", {**PARAMS, "amount": "6000.00"}, "slack:A", "key-1", "C1")


def test_a_request_is_decided_once(db):
    simple_ledger(db)
    request = db.transact(approvals.open_request, "issue_credit", PARAMS, "slack:A", "key-1", "C1").request
    with pytest.raises(SelfApproval):
        db.transact(approvals.decide, request.id, "slack:A", approve=True)
    decided = db.transact(approvals.decide, request.id, "slack:B", approve=True)
    assert (decided.newly_decided, decided.request.status, decided.request.decided_by) == (True, "approved", "slack:B")
    replay = db.transact(approvals.decide, request.id, "slack:C", approve=True)
    assert (replay.newly_decided, replay.request.decided_by) == (False, "slack:B")
    with pytest.raises(ApprovalAlreadyDecided, match="already approved by slack:B"):
        db.transact(approvals.decide, request.id, "slack:C", approve=False)
    assert db.transact(approvals.cancel, request.id, "slack:C", "too late").status == "approved"


def test_concurrent_decisions_give_one_decision(db):
    simple_ledger(db)
    request = db.transact(approvals.open_request, "issue_credit", PARAMS, "slack:A", "key-1", "C1").request

    def decide(n: int) -> str:
        try:
            return db.transact(approvals.decide, request.id, f"slack:U{n}", approve=n % 2 == 0).request.status
        except ApprovalAlreadyDecided as refused:
            return f"refused:{refused.status}"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(decide, range(6)))
    final = db.transact(approvals.get_request, request.id).status
    assert final in ("approved", "rejected")
    # Everyone after the first sees its decision: a replayed approval, or a refusal naming it.
    assert all(outcome in (final, f"refused:{final}") for outcome in outcomes)
    with db.read() as unit:
        session = unit.session
        decisions = session.exec(select(HistoryEntry).where(HistoryEntry.subject == f"approval:{request.id}")).all()
    assert [entry.outcome for entry in decisions].count("done") == 1  # one decision recorded


def test_a_ledger_refusal_marks_an_approved_request_failed(db):
    simple_ledger(db)
    request = db.transact(approvals.open_request, "issue_credit", PARAMS, "slack:A", "key-1", "C1").request
    db.transact(approvals.decide, request.id, "slack:B", approve=True)
    failed = db.transact(approvals.record_result, request.id, {"error": {"code": "x", "message": "no"}})
    assert failed.status == "failed"
    with pytest.raises(UnknownApprovalRequest):
        db.transact(approvals.get_request, 404)
