"""The replies' Block Kit is valid Block Kit (checked with slack_sdk's block models) and stays within Slack's
limits whatever the ledger holds; the app manifest declares what the bot uses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from slack_sdk.models.blocks import Block

from bot.handlers import builtin, registry
from bot.handlers.context import Caller, Context, Services
from bot.settings import Settings
from ledger.demo import load_demo
from tests.builders import client, credit, import_rows, invoice, payment

MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"


def context(db, user: str = "U-ADMIN", key: str = "k", **settings: str) -> Context:
    values = {"DATABASE_URL": "sqlite://", "CREDITBOT_BILLING_ADMINS": "U-ADMIN", **settings}
    caller = Caller(user, "T", "C", f"slack:{user}", key)
    builtin.install()
    return Context(Services(Settings(_env_file=None, **values), db), caller)


def assert_valid_block_kit(blocks: list[dict]) -> None:
    assert 0 < len(blocks) <= 50
    for block in blocks:
        Block.parse(block).validate_json()  # raises SlackObjectFormationError on a broken block
        if block["type"] == "actions":
            action_ids = [element["action_id"] for element in block["elements"]]
            assert len(action_ids) == len(set(action_ids))


@pytest.fixture
def demo(db):
    load_demo(db)
    return db


LINES = [
    "help", "help issue", "balance acme", "balance C-DUN", "balance Acme Legl", "invoice INV-1001", "invoice INV-2001",
    "history acme", "history INV-2001", "tips", "ask how do I apply a credit", "ask credits and quickbooks",
    "apply INV-1002 100", "issue acme 10 goodwill", "reverse 2", "frobnicate", "apply INV-2001 5", "issue acme 5,0 x",
    # issue 17
    "reverse 2 1", "move 2 INV-1002 1", "refund acme 1 --reason x", "write-off acme 1 --reason x", "credits",
    "credits acme --kind applied", "apply-all acme --dry-run", "apply-all acme", "help transfer",
]  # fmt: skip


@pytest.mark.parametrize("line", LINES)
def test_every_reply_is_valid_block_kit(demo, line):
    reply = registry.run_line(context(demo, key=f"k-{line}"), line)
    assert_valid_block_kit(reply.blocks)
    assert reply.text


def test_button_replies_and_approval_requests_are_valid_block_kit(demo):
    applied = registry.run_line(context(demo, key="k1"), "apply INV-1002 100")
    undo = next(b for b in applied.blocks if b["type"] == "actions")["elements"][0]
    assert_valid_block_kit(registry.run_action(context(demo, key="k2"), undo["action_id"], undo["value"]).blocks)
    asked = registry.run_line(context(demo, key="k3", CREDITBOT_APPROVAL_THRESHOLD="5"), "issue acme 10 big")
    [announcement] = asked.announcements
    assert_valid_block_kit(announcement.blocks)
    approved = registry.run_action(context(demo, "U-LEAD", "k4", CREDITBOT_BILLING_ADMINS="U-ADMIN,U-LEAD"),
                                   "approve_request", "1")  # fmt: skip
    assert_valid_block_kit(approved.blocks)


def test_huge_names_reasons_and_histories_stay_within_slacks_limits(db):
    name = ("Very Long Client Name " * 20)[:200]  # the longest name the ledger keeps
    import_rows(
        db,
        clients=[client("C1", name)],
        invoices=[invoice(f"INV-{n}", total="100.00") for n in range(40)],
        credits=[credit("CR-1", amount="1000.00", reason="r" * 3000)],
        payments=[payment(f"P{n}", "INV-1", "AccountCredit", "0.01") for n in range(60)],
    )
    ctx = context(db, key="k-big")
    for line in ("balance C1", "invoice INV-1", "history C1", f"issue C1 1 {'why ' * 900}"):
        assert_valid_block_kit(registry.run_line(ctx, line).blocks)


def mrkdwn_texts(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "mrkdwn" else []
        return own + [text for value in node.values() for text in mrkdwn_texts(value)]
    if isinstance(node, list):
        return [text for item in node for text in mrkdwn_texts(item)]
    return []


def test_text_people_typed_cannot_inject_markup(db):
    """Mentions and links in names or reasons stay text in mrkdwn (plain_text headers show them as typed)."""
    import_rows(db, clients=[client("C1", "Smith <@U123> & <!channel>")])
    texts = "\n".join(mrkdwn_texts(registry.run_line(context(db), "balance C1").blocks))
    assert "<@U123>" not in texts and "<!channel>" not in texts
    assert "Smith &lt;@U123&gt; &amp; &lt;!channel&gt;" in texts
    reason = registry.run_line(context(db, key="k2"), "issue C1 5 thanks <!here>")
    assert "<!here>" not in "\n".join(mrkdwn_texts(reason.blocks))


def test_the_manifest_declares_the_command_scopes_events_and_interactivity():
    manifest = yaml.safe_load(MANIFEST.read_text())
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/credit" and command["url"].endswith("/slack/events")
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "app_mentions:read", "im:history"} <= scopes
    # Alert recovery reads the billing channel's history (conversations.history), public or private.
    assert {"channels:history", "groups:history"} <= scopes
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {"app_mention", "message.im", "app_home_opened"}
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith("/slack/events")
