"""Random sequences of issue / apply / reverse / import against both databases, invariants checked after each step.

- available credit = issued - applied + reversed, and every running total equals what the entries say;
- balance due = total - all live payments;
- no tool write takes a client's available credit or an invoice's balance due below zero;
- the history replays to the same available credit.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import text
from sqlmodel import select

from ledger import operations
from ledger.approvals import WriteRequest
from ledger.db import Database
from ledger.errors import LedgerError
from ledger.tables import Client, HistoryEntry
from ledger.totals import stored_totals, totals_from_entries
from tests.builders import client, credit, import_rows, invoice, payment
from tests.conftest import _truncate_all

CLIENTS = ("C1", "C2")
INVOICES = {"INV-1": "C1", "INV-2": "C1", "INV-3": "C2"}
amounts = st.integers(min_value=1, max_value=60_000).map(lambda cents: f"{Decimal(cents) / 100:.2f}")


def _fresh(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Database:
    if backend == "sqlite":
        path = tmp_path / f"ledger-{id(object())}.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return Database(f"sqlite:///{path}")
    database = Database(request.getfixturevalue("postgres_url"))
    _truncate_all(database)
    return database


class LedgerMachine(RuleBasedStateMachine):
    make_db: object = None

    def __init__(self) -> None:
        super().__init__()
        self.db: Database = type(self).make_db()  # type: ignore[operator]
        self.applications: list[int] = []
        self.keys = 0
        self.cash_rows: list[dict[str, str]] = []

    @initialize()
    def load(self) -> None:
        import_rows(
            self.db,
            clients=[client(c) for c in CLIENTS],
            invoices=[invoice(number, owner, "400.00") for number, owner in INVOICES.items()],
            credits=[credit("CR-0", "C1", "150.00")],
            payments=[payment("PAY-0", "INV-1", "AccountCredit", "50.00")],
        )

    def _key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    @rule(client_id=st.sampled_from(CLIENTS), amount=amounts)
    def issue(self, client_id: str, amount: str) -> None:
        self.db.transact(operations.issue_credit, client_id, amount, "test", WriteRequest("prop", self._key()))

    @rule(number=st.sampled_from(sorted(INVOICES)), amount=st.none() | amounts)
    def apply(self, number: str, amount: str | None) -> None:
        try:
            result = self.db.transact(operations.apply_credit, number, amount, None, WriteRequest("prop", self._key()))
        except LedgerError:
            return
        assert result.available_after_minor >= 0 and result.balance_due_after_minor >= 0
        self.applications.append(result.application_id)

    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        if not self.applications:
            return
        application_id = data.draw(st.sampled_from(self.applications))
        try:
            self.db.transact(operations.reverse_application, application_id, WriteRequest("prop", self._key()))
        except LedgerError:
            return

    @rule(number=st.sampled_from(sorted(INVOICES)), cents=st.integers(min_value=1, max_value=5_000))
    def import_cash(self, number: str, cents: int) -> None:
        """A re-import that adds a cash payment or edits the amount of an earlier one."""
        amount = f"{Decimal(cents) / 100:.2f}"
        if self.cash_rows and cents % 2:
            self.cash_rows[cents % len(self.cash_rows)]["amount"] = amount
        else:
            self.cash_rows.append(payment(f"CASH-{len(self.cash_rows)}", number, "ach", amount))
        import_rows(self.db, clients=[client(c) for c in CLIENTS], payments=self.cash_rows)

    @invariant()
    def running_totals_equal_the_entries(self) -> None:
        with self.db.read() as unit:
            session = unit.session
            assert stored_totals(session) == totals_from_entries(session)

    @invariant()
    def history_replays_to_the_available_credit(self) -> None:
        with self.db.read() as unit:
            session = unit.session
            for wallet in session.exec(select(Client)).all():
                imported = session.execute(
                    text(
                        "SELECT (SELECT COALESCE(SUM(amount_minor), 0) FROM credit WHERE client_id = :c "
                        "AND created_by = 'import') - (SELECT COALESCE(SUM(amount_minor), 0) FROM payment "
                        "WHERE client_id = :c AND kind = 'AccountCredit' AND created_by = 'import')"
                    ),
                    {"c": wallet.id},
                ).scalar_one()
                replayed = Decimal(imported) / 100
                for entry in session.exec(select(HistoryEntry).where(HistoryEntry.client_id == wallet.id)).all():
                    after = entry.after or {}
                    replayed += Decimal(after.get("credit_issued", "0")) - Decimal(after.get("credit_applied", "0"))
                assert replayed * 100 == wallet.available_credit_minor

    @invariant()
    def wallets_never_go_negative(self) -> None:
        # Imports here add only cash, so any negative wallet would be a tool write's fault. (Imported cash may
        # overpay an invoice, which the scans report; the apply rule asserts that credits never do.)
        with self.db.read() as unit:
            session = unit.session
            for wallet in session.exec(select(Client)).all():
                assert wallet.available_credit_minor >= 0

    def teardown(self) -> None:
        self.db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_random_operation_sequences_keep_the_invariants(request, backend, tmp_path):
    if backend == "postgresql":
        request.getfixturevalue("postgres_url")  # skips (or fails in CI) before any example runs
    LedgerMachine.make_db = staticmethod(lambda: _fresh(request, backend, tmp_path))
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
