"""The **Enter as client credit** button over signed HTTP requests: billing admins only, once per QuickBooks payment,
a double click carried out once, and the alert redrawn without the button for everyone."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, SectionBlock
from sqlmodel import select

from bot.render.findings import ENTER_OVERPAYMENT_ACTION, overpayment_button
from ledger.tables import Credit, HistoryEntry
from tests.builders import available
from tests.qbo_payloads import cdc, link, load_overpaid_client, qbo_payment, sync
from tests.slack_standin import ADMIN, CHANNEL, OTHER_ADMIN, READER, Message


@pytest.fixture
def bot_ledger(db):
    """Acme overpaid $120.00 in QuickBooks (payment 180) and has $50.00 of credit here."""
    load_overpaid_client(db)


def alert(ts: str = "1700000200.000001") -> Message:
    """A channel alert carrying the button beside another one, as the scans' alert would."""
    blocks = [
        SectionBlock(text="*QuickBooks overpayment not held as credit*: $120.00 on QuickBooks payment 180").to_dict(),
        ActionsBlock(
            block_id="scan_finding:7",
            elements=[
                ButtonElement(text="Acknowledge", action_id="scan_acknowledge", value="7"),
                overpayment_button("180"),
            ],
        ).to_dict(),
    ]
    return Message(blocks, "QuickBooks overpayment", ts, CHANNEL, ephemeral=False)


def click(bot, shown: Message, user: str = ADMIN) -> str:
    """The click body Slack sends for a button on a channel message (which carries the message itself)."""
    body = bot.click_body(shown, "Enter as client credit", user)
    payload = json.loads(dict(urllib.parse.parse_qsl(body))["payload"])
    payload["message"] = {"type": "message", "ts": shown.ts, "text": shown.text, "blocks": shown.blocks}
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def answers(bot, body: str, count: int) -> list[dict]:
    name = json.loads(dict(urllib.parse.parse_qsl(body))["payload"])["response_url"].rsplit("/", 1)[1]
    assert bot.post(body).status == 200
    return [call.body for call in bot.slack.wait_for(lambda: bot.slack.responses(name), count)]


def test_the_button_is_built_for_the_alert():
    button = overpayment_button("180").to_dict()
    assert (button["action_id"], button["value"], button["text"]["text"]) == (
        ENTER_OVERPAYMENT_ACTION,
        "180",
        "Enter as client credit",
    )
    assert "only once" in button["confirm"]["text"]["text"]


def test_an_admin_enters_the_overpayment_and_the_alert_loses_the_button(db, bot):
    redrawn, told = answers(bot, click(bot, alert()), 2)

    assert redrawn["replace_original"] is True
    shown = Message(redrawn["blocks"], redrawn["text"])
    assert shown.buttons() == ["Acknowledge"]
    assert f"Entered as client credit #2 ($120.00) by <@{ADMIN}>" in shown.all_text
    assert told["response_type"] == "ephemeral" and told["replace_original"] is False
    assert "Entered the $120.00 overpayment on QuickBooks payment 180 as client credit for Acme Legal" in told["text"]
    assert "$50.00 → $170.00" in told["text"]
    assert available(db) == 17000
    with db.read() as unit:
        session = unit.session
        assert session.exec(select(Credit).where(Credit.qb_payment_id == "180")).one().created_by == f"slack:{ADMIN}"


def test_a_double_click_enters_it_once(db, bot):
    body = click(bot, alert())
    answers(bot, body, 2)
    again = answers(bot, body, 3)[-1]
    assert "Already done with this request" in again["text"]
    assert available(db) == 17000


def test_a_second_attempt_from_another_message_is_refused(db, bot):
    answers(bot, click(bot, alert("1700000200.000001")), 2)
    (refused,) = answers(bot, click(bot, alert("1700000300.000001"), user=OTHER_ADMIN), 1)
    assert "was already entered as client credit #2" in refused["text"]
    assert refused.get("replace_original") is False
    assert available(db) == 17000


def test_only_billing_admins_may_enter_it(db, bot):
    (refused,) = answers(bot, click(bot, alert(), user=READER), 1)
    assert "only billing admins can enter QuickBooks overpayments as client credit" in refused["text"]
    assert available(db) == 5000
    with db.read() as unit:
        session = unit.session
        entry = session.exec(select(HistoryEntry).where(HistoryEntry.outcome == "refused")).one()
    assert (entry.action, entry.client_id, entry.actor) == ("enter_qb_overpayment", "C1", f"slack:{READER}")


def test_an_overpayment_quickbooks_no_longer_shows_is_refused(db, bot):
    sync(db, cdc(Payment=[qbo_payment("180", [link("Invoice", "131", 500.00)], sync_token="1")]))
    (refused,) = answers(bot, click(bot, alert()), 1)
    assert "QuickBooks payment 180 shows no overpayment here" in refused["text"]
    assert available(db) == 5000
