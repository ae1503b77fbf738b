"""The App Home tab: published on app_home_opened, what admins and everyone else see, its buttons, and refreshes
that follow changes without passing Slack's views.publish rate limit."""

from __future__ import annotations

import pytest

from bot.handlers.home import HomeRefresher
from ledger import operations, scans
from ledger.approvals import WriteRequest
from ledger.scans import ScanOptions, run_scan
from tests.builders import client, credit, import_rows, invoice, payment
from tests.slack_standin import CHANNEL, OTHER_ADMIN, READER, running_bot


@pytest.fixture
def bot_ledger(db):
    import_rows(
        db,
        clients=[client("C1", "Acme Legal LLP"), client("C2", "Northwind Tax")],
        invoices=[invoice("INV-1"), invoice("INV-2", "C2", total="100.00")],
        credits=[credit("CR-1", amount="500.00"), credit("CR-2", "C2", "80.00")],
        payments=[payment("PAY-1", "INV-2", "check", "150.00")],  # overpaid: a negative balance finding
    )
    run_scan(db, ScanOptions())


@pytest.fixture
def bot_env():
    return {"CREDITBOT_HOME_REFRESH_SECONDS": "0"}


def texts(view: dict) -> str:
    return str(view["blocks"])


def buttons(view: dict) -> list[str]:
    return [e["text"]["text"] for b in view["blocks"] if b.get("type") == "actions" for e in b["elements"]]


def test_opening_the_home_tab_publishes_it_for_an_admin(bot, slack):
    bot.open_home()
    home = bot.home()
    assert home["type"] == "home"
    shown = texts(home)
    assert "Most unapplied credit" in shown and "Acme Legal LLP" in shown and "$500.00" in shown
    assert "Live findings" in shown and "QuickBooks" in shown
    assert {"Apply a credit", "Issue a credit"} <= set(buttons(home))


def test_everyone_else_sees_the_read_only_part(bot):
    bot.open_home(READER)
    home = bot.home(READER)
    assert "Most unapplied credit" in texts(home)
    assert buttons(home) == []
    assert "Waiting for approval" not in texts(home)


def test_the_home_tab_shows_the_last_credit_actions_and_who_did_them(bot, db):
    bot.slash("apply INV-1 100")
    bot.open_home()
    home = bot.home()
    assert "<@U-ADMIN> · apply credit" in texts(home)


def test_a_write_refreshes_the_tab_of_who_has_it_open(bot, slack):
    bot.open_home(READER)
    bot.home(READER)
    bot.slash("apply INV-1 100")
    home = bot.home(READER, count=2)
    assert "$400.00" in texts(home)


def test_approving_from_the_home_tab(slack, db, bot_ledger):
    settings = {"CREDITBOT_APPROVAL_THRESHOLD": "50", "CREDITBOT_ALERT_CHANNEL": CHANNEL,
                "CREDITBOT_HOME_REFRESH_SECONDS": "0"}  # fmt: skip
    with running_bot(db, slack, **settings) as bot:
        bot.slash("apply INV-1 100")
        bot.open_home(OTHER_ADMIN)
        home = bot.home(OTHER_ADMIN)
        assert "Waiting for approval* (1)" in texts(home)
        bot.click_in_view(home, "approve_request", user=OTHER_ADMIN)
        after = bot.home(OTHER_ADMIN, count=2)
        assert "Approved" in texts(after) and "Waiting for approval* (0)" in texts(after)


def test_the_apply_button_on_the_home_tab_opens_the_form(bot, slack):
    bot.open_home()
    trigger = bot.click_in_view(bot.home(), "Apply a credit")
    [opened] = slack.wait_for(lambda: slack.api_calls("views.open"))
    assert opened.body["trigger_id"] == trigger


def test_the_refresher_publishes_at_most_once_per_interval_per_person():
    now = [100.0]
    marker = [1]
    published: list[str] = []
    refresher = HomeRefresher(
        lambda user, _: published.append(user), lambda: marker[0], interval=5, clock=lambda: now[0]
    )
    assert refresher.opened("U1") and published == ["U1"]
    assert not refresher.opened("U1")  # opened again, nothing changed: not published again
    marker[0] = 2
    assert refresher.refresh_due() == ([], 5.0)  # changed, but published this very moment
    now[0] += 5
    assert refresher.refresh_due() == (["U1"], None)
    assert refresher.refresh_due() == ([], None)  # nothing changed since
    assert published == ["U1", "U1"]


def test_a_scan_or_sync_changes_what_the_refresher_watches(db, bot_ledger):
    from bot.handlers.context import Caller, Context, Services
    from bot.handlers.home import changes_marker
    from tests.slack_standin import SlackStandIn, bot_settings

    with SlackStandIn() as slack:
        ctx = Context(Services(bot_settings(db, slack), db), Caller("U", "T", None, "slack:U", "k"))
        before = changes_marker(ctx)
        with db.write() as unit:
            operations.issue_credit(unit, "C2", "1.00", "goodwill", WriteRequest("test", "x"))
        after_write = changes_marker(ctx)
        assert after_write != before
        with db.write() as unit:
            finding = scans.open_findings(unit)[0]
            scans.acknowledge(unit, finding.id, "slack:U-ADMIN")
        after_acknowledging = changes_marker(ctx)
        assert after_acknowledging != after_write
        overpaid = {
            "invoices": [invoice("INV-3", "C2", total="10.00")],
            "payments": [payment("P3", "INV-3", "ach", "20.00")],
        }
        import_rows(db, clients=[client("C2", "Northwind Tax")], **overpaid)
        run_scan(db, ScanOptions())  # a scan that opens a finding changes it too
        assert changes_marker(ctx) != after_acknowledging


def test_views_publish_past_slacks_rate_limit_is_retried_then_given_up_quietly(bot, slack):
    slack.views.publish_limit_per_minute = 1
    bot.open_home(READER)
    bot.home(READER)
    bot.open_home()
    calls = slack.wait_for(lambda: slack.api_calls("views.publish"), 3)  # refused, retried once after Retry-After
    assert [c.body["user_id"] for c in calls] == [READER, "U-ADMIN", "U-ADMIN"]
    assert [c.outcome for c in calls] == ["answered", "refused", "refused"]  # 429 ratelimited, then again
    assert "U-ADMIN" not in slack.views.homes


def test_the_manifest_declares_the_home_tab_shortcuts_options_url_and_file_scope():
    from pathlib import Path

    import yaml

    from bot.slack.listeners import forms

    manifest = yaml.safe_load((Path(__file__).resolve().parents[1] / "manifest.yml").read_text())
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    shortcuts = {(s["callback_id"], s["type"]) for s in manifest["features"]["shortcuts"]}
    assert shortcuts == {
        (forms.APPLY_SHORTCUT, "global"),
        (forms.ISSUE_SHORTCUT, "global"),
        (forms.APPLY_MESSAGE_SHORTCUT, "message"),
    }
    assert manifest["settings"]["interactivity"]["message_menu_options_url"].endswith("/slack/events")
    assert "files:write" in manifest["oauth_config"]["scopes"]["bot"]
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]


def test_credit_expiring_within_the_warning_days_is_on_the_home_tab(bot, db):
    from datetime import timedelta

    from ledger.tables import utcnow

    soon = (utcnow().date() + timedelta(days=3)).isoformat()
    later = (utcnow().date() + timedelta(days=90)).isoformat()
    db.transact(operations.issue_credit, "C2", "40.00", "retainer", WriteRequest("t", "x1"), expires_on=soon)
    db.transact(operations.issue_credit, "C1", "70.00", "goodwill", WriteRequest("t", "x2"), expires_on=later)
    bot.open_home()
    shown = texts(bot.home())
    assert "Credit expiring soon" in shown and f"Northwind Tax (`C2`) · $40.00 on {soon}" in shown
    assert later not in shown
