"""Properties of the sync: the order, repetition and batching of QuickBooks changes never change the ledger.

A generated story: a few QuickBooks payments, each with several versions (cash, credit memos, overpayments,
voids, date-only changes, a final delete), some paying invoices the ledger links late or never. Whatever the order
of those versions in a feed, repeated or not, and however they are split into feeds sent in any order (down to one
change per feed), the ledger ends the same: the same invoices posted, the same live payments (amounts and dates),
the same overpayments, and totals equal to the entries after every sync.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.db import Database
from tests.builders import client, empty, import_rows, invoice
from tests.qbo_payloads import cdc, deleted, ledger_state, link, qbo_invoice, qbo_payment, sync, voided

# QuickBooks invoice ids per customer: 130, 131 and 133 are linked by the import, 132 only once its Invoice is
# synced, and 199 is a QuickBooks invoice the ledger never hears about.
INVOICES = {"58": ["130", "131", "132", "199"], "59": ["133"]}
NUMBERS = {"130": "INV-1", "131": "INV-2", "132": "INV-3", "133": "INV-4"}


def fresh(db: Database) -> None:
    """An empty ledger with two clients and four invoices (hypothesis runs many examples on one database)."""
    empty(db)
    import_rows(
        db,
        clients=[client("C1", "Acme", qb_customer_id="58"), client("C2", "Birch", qb_customer_id="59")],
        invoices=[
            invoice("INV-1", "C1", "900.00", qb_invoice_id="130"),
            invoice("INV-2", "C1", "400.00", qb_invoice_id="131"),
            invoice("INV-3", "C1", "250.00"),  # linked only when the sync sees QuickBooks invoice 132
            invoice("INV-4", "C2", "600.00", qb_invoice_id="133"),
        ],
    )


cents = st.integers(min_value=1, max_value=50_000)


@st.composite
def payment_version(draw: st.DrawFn, qbo_id: str, customer: str, sync_token: int) -> dict[str, Any]:
    paid = draw(st.lists(st.sampled_from(INVOICES[customer]), min_size=0, max_size=2, unique=True))
    amounts = [draw(cents) for _ in paid]
    memo = draw(st.integers(min_value=0, max_value=sum(amounts))) if amounts else 0
    unapplied = draw(st.sampled_from([0, 0, draw(cents)]))
    if not paid and not unapplied:
        unapplied = draw(cents)
    lines = [link("Invoice", txn_id, amount / 100) for txn_id, amount in zip(paid, amounts, strict=True)]
    if memo:
        lines.append(link("CreditMemo", f"15{qbo_id[-1]}", memo / 100))
    total = (sum(amounts) - memo + unapplied) / 100
    day = 10 + sync_token
    payment = qbo_payment(
        qbo_id,
        lines,
        customer=customer,
        sync_token=str(sync_token),
        unapplied=unapplied / 100,
        total=total,
        txn_date=f"2026-10-{day:02d}",
    )
    if draw(st.integers(min_value=0, max_value=5)) == 0:
        return voided(payment, str(sync_token))
    return payment


@st.composite
def story(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Every QuickBooks change of one period: ("Invoice"|"Payment", entity) pairs flattened into entities."""
    entities: list[dict[str, Any]] = []
    posted = draw(st.lists(st.sampled_from(sorted(NUMBERS)), unique=True))
    for qbo_id in posted:
        customer = "59" if qbo_id == "133" else "58"
        entities.append({"type": "Invoice", "entity": qbo_invoice(qbo_id, NUMBERS[qbo_id], customer, total=1.0)})
    for qbo_id in ("160", "161", "162"):
        customer = draw(st.sampled_from(["58", "59"]))
        previous: dict[str, Any] | None = None
        for token in range(draw(st.integers(min_value=1, max_value=3))):
            if previous is not None and draw(st.booleans()):
                # The same amounts again: only the date (or nothing QuickBooks shows here) changed.
                day = draw(st.sampled_from([previous["TxnDate"], f"2026-10-{10 + token:02d}"]))
                payment = {**previous, "SyncToken": str(token), "TxnDate": day}
            else:
                payment = draw(payment_version(qbo_id, customer, token))
            entities.append({"type": "Payment", "entity": payment})
            previous = payment
        if draw(st.integers(min_value=0, max_value=4)) == 0:
            entities.append({"type": "Payment", "entity": deleted(qbo_id)})
    return entities


def as_feed(entities: list[dict[str, Any]]) -> dict[str, Any]:
    """A CDC response listing the entities in the given order (one QueryResponse group per entity)."""
    groups = [{item["type"]: [item["entity"]]} for item in entities]
    return {"CDCResponse": [{"QueryResponse": groups}], "time": "2026-10-14T12:00:00-07:00"}


def state_after(db: Database, *feeds: dict[str, Any]) -> dict[str, Any]:
    fresh(db)
    for feed in feeds:
        sync(db, feed)
    sync(db, cdc())  # a later, empty sync: nothing left to retry changes anything
    return ledger_state(db)


PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY_SETTINGS
@given(entities=story(), data=st.data())
def test_any_order_and_repetition_of_a_feed_gives_the_same_ledger(db, entities, data):
    expected = state_after(db, as_feed(entities))
    shuffled = data.draw(st.permutations(entities))
    repeated = data.draw(st.lists(st.sampled_from(entities), max_size=len(entities))) if entities else []
    assert state_after(db, as_feed([*shuffled, *repeated])) == expected


@PROPERTY_SETTINGS
@given(entities=story(), data=st.data())
def test_splitting_a_feed_into_files_sent_in_any_order_gives_the_same_ledger(db, entities, data):
    expected = state_after(db, as_feed(entities))
    files = data.draw(st.integers(min_value=1, max_value=4))
    assignment = [data.draw(st.integers(min_value=0, max_value=files - 1)) for _ in entities]
    batches = [[e for e, n in zip(entities, assignment, strict=True) if n == file] for file in range(files)]
    order = data.draw(st.permutations(batches))
    assert state_after(db, *(as_feed(batch) for batch in order)) == expected


@settings(PROPERTY_SETTINGS, max_examples=25)
@given(entities=story(), data=st.data())
def test_every_change_in_its_own_file_in_any_order_gives_the_same_ledger(db, entities, data):
    expected = state_after(db, as_feed(entities))
    order = data.draw(st.permutations(entities))
    assert state_after(db, *(as_feed([entity]) for entity in order)) == expected
