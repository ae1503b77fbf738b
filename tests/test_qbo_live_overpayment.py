"""An overpayment made in QuickBooks (R6), applied in QuickBooks to one of the client's posted invoices from the
scan's alert: "Apply in QuickBooks…" lists the open posted invoices, a billing admin's click adds the line to the
QuickBooks payment once (double clicks included), and the poll brings it back as payment received in QuickBooks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk.models.blocks import ActionsBlock, SectionBlock

from bot.render.findings import apply_in_quickbooks_button, overpayment_button
from ledger.db import Database
from ledger.qbo.live import LiveQuickBooks
from ledger.qbo.poll import poll
from tests.builders import client, import_rows, invoice
from tests.qbo_live import connect, qbo_config, qbo_env
from tests.qbo_payloads import link, qbo_invoice, qbo_payment
from tests.qbo_standin import QBOStandIn
from tests.slack_standin import CHANNEL, READER, Message


@pytest.fixture
def qbo() -> Iterator[QBOStandIn]:
    with QBOStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def bot_env(qbo: QBOStandIn) -> dict[str, str]:
    return qbo_env(qbo)


@pytest.fixture
def live(db: Database, qbo: QBOStandIn) -> LiveQuickBooks:
    return LiveQuickBooks.open(qbo_config(qbo), db)


@pytest.fixture
def bot_ledger(db: Database, qbo: QBOStandIn, live: LiveQuickBooks) -> None:
    """Acme paid $620 in QuickBooks for INV-1002 ($500): $120 unapplied on payment 180; INV-1003 ($300) is open."""
    import_rows(
        db,
        clients=[client("C1", "Acme Legal", qb_customer_id="58")],
        invoices=[invoice("INV-1002", "C1", "500.00"), invoice("INV-1003", "C1", "300.00")],
    )
    qbo.put("Invoice", qbo_invoice("131", "INV-1002", total=500.0, Balance=0))
    qbo.put("Invoice", qbo_invoice("132", "INV-1003", total=300.0))
    qbo.put("Payment", qbo_payment("180", [link("Invoice", "131", 500.0)], unapplied=120.0))
    connect(live, qbo)
    poll(db, live.api)


def alert() -> Message:
    blocks = [
        SectionBlock(text="*QuickBooks overpayment not held as credit*: $120.00 on QuickBooks payment 180").to_dict(),
        ActionsBlock(
            block_id="scan_finding:7", elements=[overpayment_button("180"), apply_in_quickbooks_button("180")]
        ).to_dict(),
    ]
    return Message(blocks, "QuickBooks overpayment", "1700000200.000001", CHANNEL, ephemeral=False)


def test_the_overpayment_is_applied_in_quickbooks_once_and_comes_back(db, bot, qbo, live) -> None:
    offer = bot.click(alert(), "Apply in QuickBooks…")
    assert offer.buttons() == ["Apply in QuickBooks to INV-1003 ($120.00)"]
    done = bot.click(offer, "Apply in QuickBooks to INV-1003 ($120.00)")
    assert "Applied $120.00 of the overpayment on QuickBooks payment 180 to invoice INV-1003" in done.text
    bot.click_with(bot.click_body(offer, "Apply in QuickBooks to INV-1003 ($120.00)"), offer)
    payment = qbo.entities[("Payment", "180")]
    assert payment["UnappliedAmt"] == 0 and payment["SyncToken"] == "1", "one update, however often clicked"
    result = poll(db, live.api)
    recorded = [(c.invoice_number, c.kind, c.amount_minor) for c in result.summary.payments_recorded]
    assert ("INV-1003", "QBPayment", 12000) in recorded
    assert [(o.change, o.qb_payment_id) for o in result.summary.overpayments] == [("cleared", "180")]


def test_readers_may_not_apply_an_overpayment(bot, qbo) -> None:
    offer = bot.click(alert(), "Apply in QuickBooks…")
    refused = bot.click(offer, "Apply in QuickBooks to INV-1003 ($120.00)", user=READER)
    assert "only billing admins" in refused.text and qbo.entities[("Payment", "180")]["SyncToken"] == "0"
