from ledger import operations, reads
from tests.builders import simple_ledger


def test_apply_draws_on_the_wallet(db):
    simple_ledger(db)
    result = operations.apply_credit(db, "INV-1", "200.00", None, "test", "k1")
    assert (result.available_after_minor, result.balance_due_after_minor) == (30000, 80000)
    with db.read() as session:
        assert reads.client_balance(session, "C1").available_credit_minor == 30000
