"""Reading QuickBooks responses: the shapes QuickBooks returns are read, anything else is refused with an error
naming the entity and field, and a refused feed writes nothing."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlmodel import select

from ledger.qbo import parse_feed, read_feed
from ledger.qbo.entities import QBODeleted, QBOInvoice, QBOPayment, latest_versions
from ledger.qbo.errors import QBOFeedError
from ledger.tables import QBTxn
from tests.builders import client, import_rows, invoice
from tests.qbo_payloads import cdc, deleted, ledger_state, link, memo_payment, qbo_invoice, qbo_payment, query, sync


def read(document: object):
    return read_feed(json.dumps(document), "feed.json")


def refused(document: object | str | bytes) -> str:
    text = document if isinstance(document, str | bytes) else json.dumps(document)
    with pytest.raises(QBOFeedError) as caught:
        read_feed(text, "feed.json")
    return caught.value.message


# --- what is read -----------------------------------------------------------------------------------------


def test_a_cdc_response_gives_typed_entities_with_exact_amounts():
    feed = read(
        cdc(Invoice=[qbo_invoice("130", "INV-1001", total=1234.56)], Payment=[memo_payment("160", "130", "150", 0.1)])
    )
    invoice_, payment = feed.entities
    assert isinstance(invoice_, QBOInvoice) and invoice_.TotalAmt == Decimal("1234.56")
    assert isinstance(payment, QBOPayment) and payment.linked("CreditMemo") == [("150", Decimal("0.1"))]
    assert payment.TotalAmt == 0 and not payment.is_voided


def test_deleted_entities_are_read_as_cdc_reports_them():
    feed = read(cdc(Payment=[deleted("979")]))
    assert feed.entities == [QBODeleted(entity_type="Payment", Id="979", MetaData=feed.entities[0].MetaData)]


def test_a_single_read_response_is_read_too():
    feed = read({"Payment": qbo_payment("125", [link("Invoice", "67", 25)]), "time": "2026-10-14T12:00:00-07:00"})
    assert [entity.key for entity in feed.entities] == [("Payment", "125")]


def test_other_entity_types_are_counted_and_left_alone():
    feed = read(cdc(Customer=[{"Id": "58"}, {"Id": "59"}], Invoice=[qbo_invoice("130", "INV-1")]))
    assert feed.other_entities == {"Customer": 2}
    assert len(feed.entities) == 1


def test_a_void_is_recognised_as_quickbooks_shows_it():
    payment = qbo_payment("125", [link("Invoice", "67", 25)])
    voided = {**payment, "SyncToken": "1", "TotalAmt": 0, "UnappliedAmt": 0, "PrivateNote": "Voided", "Line": []}
    assert read(query(Payment=[voided])).entities[0].is_voided
    zero_memo = memo_payment("126", "67", "70", 25)  # a $0 payment that is not a void
    assert not read(query(Payment=[zero_memo])).entities[0].is_voided


def test_the_newest_version_of_each_entity_wins_in_any_order():
    versions = [
        read(query(Payment=[qbo_payment("125", [link("Invoice", "67", a)], sync_token=s)])).entities[0]
        for s, a in (("2", 30), ("0", 10), ("1", 20))
    ]
    assert [v.SyncToken for v in latest_versions(versions)] == [2]
    gone = read(query(Payment=[deleted("125")])).entities[0]
    assert latest_versions([*versions, gone]) == [gone] == latest_versions([gone, *versions])


# --- what is refused --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "feed.json: is empty"),
        ("{not json", "feed.json: is not valid JSON (line 1, column 2"),
        ('{"CDCResponse": [{"QueryResponse": [{"Payment": [{"TotalAmt": NaN}]}]}]}', "contains NaN"),
        ("[1, 2]", "expected a JSON object"),
        ("[" * 100_000 + "]" * 100_000, "is nested too deeply"),
        (b"\xff\xfe{}", "is not UTF-8 text"),
        ('{"Invoices": []}', 'expected a "CDCResponse" or "QueryResponse" key'),
        ('{"CDCResponse": {}}', "CDCResponse must be a list"),
        ('{"QueryResponse": {"Payment": {"Id": "1"}}}', "QueryResponse.Payment: must be a list of entities"),
        ('{"Fault": {"Error": [{"Message": "Unauthorized"}]}}', "QuickBooks error response, not data (Unauthorized)"),
    ],
)
def test_a_malformed_document_is_refused_in_one_clear_line(text, expected):
    message = refused(text)
    assert expected in message
    assert message.endswith("Nothing was synced.")
    assert "\n" not in message


def test_a_bad_amount_names_the_entity_and_the_field():
    bad = qbo_payment("125", [link("Invoice", "67", 25)])
    bad["Line"][0]["Amount"] = "twenty-five"
    assert refused(query(Payment=[bad])) == (
        "QuickBooks Payment 125 (feed.json: QueryResponse.Payment[0]): Line[0].Amount is not a number "
        "(got 'twenty-five'). Nothing was synced."
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"TotalAmt": -5}, "TotalAmt must not be negative (got -5)"),
        ({"TotalAmt": 1e20}, "TotalAmt is larger than any amount creditbot accepts"),
        ({"SyncToken": "9" * 30}, "SyncToken is larger than QuickBooks uses"),
        ({"CustomerRef": None}, "CustomerRef must be an object"),
        ({"SyncToken": "x1"}, "SyncToken is not a whole number"),
        ({"TxnDate": "10/10/2026"}, "TxnDate is not a date (YYYY-MM-DD)"),
        ({"Line": [{"Amount": 5, "LinkedTxn": []}]}, "Line[0] links 0 transactions"),
        ({"TotalAmt": 99}, "TotalAmt 99 does not add up"),
        ({"Id": "12 34"}, "Id is not in the form QuickBooks uses"),
        ({"CurrencyRef": {"value": "dollars"}}, "CurrencyRef.value is not in the form QuickBooks uses"),
    ],
)
def test_a_payment_of_the_wrong_shape_is_refused(change, expected):
    payment = {**qbo_payment("125", [link("Invoice", "67", 25)]), **change}
    message = refused(cdc(Payment=[payment]))
    assert expected in message
    assert "Payment" in message


def test_an_invoice_without_a_create_time_is_refused():
    bad = qbo_invoice("130", "INV-1")
    del bad["MetaData"]["CreateTime"]
    assert "QuickBooks Invoice 130" in refused(cdc(Invoice=[bad]))
    assert "MetaData.CreateTime is missing" in refused(cdc(Invoice=[bad]))


def test_two_different_versions_with_one_sync_token_are_refused():
    one = qbo_payment("125", [link("Invoice", "67", 25)])
    other = qbo_payment("125", [link("Invoice", "67", 26)])
    with pytest.raises(QBOFeedError, match="appears twice with SyncToken 0 but different contents"):
        latest_versions(read(cdc(Payment=[one, other])).entities)


def test_parse_feed_takes_an_already_decoded_document():
    document = json.loads(json.dumps(cdc(Invoice=[qbo_invoice("130", "INV-1")])), parse_float=Decimal)
    assert parse_feed(document).entities[0].TotalAmt == Decimal("1000.0")


# --- nothing written --------------------------------------------------------------------------------------


def test_a_feed_refused_halfway_writes_nothing(db):
    import_rows(db, clients=[client("C1", qb_customer_id="58")], invoices=[invoice("INV-1001", "C1")])
    before = ledger_state(db)
    good = qbo_invoice("130", "INV-1001")
    bad = {**qbo_payment("160", [link("Invoice", "130", 10)]), "TotalAmt": "ten"}
    with pytest.raises(QBOFeedError):
        sync(db, cdc(Invoice=[good], Payment=[bad]))
    assert ledger_state(db) == before
    with db.read() as unit:
        session = unit.session
        assert session.exec(select(QBTxn)).all() == []
