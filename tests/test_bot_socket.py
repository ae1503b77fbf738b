"""Socket Mode: the same app over a WebSocket (slack_bolt's websocket-client adapter), driven by a stand-in for
Slack's Socket Mode endpoint. Replies travel back inside the envelopes' acknowledgements."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from bot.slack.socket import socket_mode_handler
from ledger import reads
from tests.builders import simple_ledger
from tests.slack_standin import BotUnderTest, Message, SocketModeStandIn, bot_settings


@pytest.fixture
def socket_mode(db, slack):
    """The bot connected in Socket Mode to a stand-in endpoint; yields the endpoint."""
    simple_ledger(db)
    with SocketModeStandIn() as endpoint:
        slack.socket_url = endpoint.url
        settings = bot_settings(db, slack, SLACK_APP_TOKEN="xapp-test", SLACK_SIGNING_SECRET="")
        handler = socket_mode_handler(settings, db)
        handler.connect()
        try:
            yield endpoint
        finally:
            handler.close()


def payload_of(form_body: str) -> dict:
    fields = dict(urllib.parse.parse_qsl(form_body))
    return json.loads(fields["payload"]) if "payload" in fields else fields


def test_a_slash_command_is_answered_in_the_acknowledgement(db, slack, socket_mode):
    bodies = BotUnderTest("socket-mode", slack)
    command = payload_of(bodies.slash_body("apply INV-1 100"))
    socket_mode.send({"envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": True,
                      "payload": command})  # fmt: skip
    ack = socket_mode.ack_for("env-1")
    assert ack["payload"]["response_type"] == "ephemeral"
    assert "Applied $100.00 of Client C1's credit to invoice INV-1" in ack["payload"]["text"]
    with db.read() as unit:
        assert reads.client_balance(unit, "C1").available_credit_minor == 40000

    applied = Message(ack["payload"]["blocks"], ack["payload"]["text"], ts="1700000200.000001")
    click = payload_of(bodies.click_body(applied, "Undo"))
    socket_mode.send({"envelope_id": "env-2", "type": "interactive", "accepts_response_payload": False,
                      "payload": click})  # fmt: skip
    socket_mode.ack_for("env-2")
    name = click["response_url"].rsplit("/", 1)[1]
    [undone] = slack.wait_for(lambda: slack.responses(name))
    assert undone.body["replace_original"] is True
    assert "Undone by <@U-ADMIN>" in json.dumps(undone.body["blocks"])
    with db.read() as unit:
        assert reads.client_balance(unit, "C1").available_credit_minor == 50000
