"""The alert's buttons, clicked in Slack (signed requests to the running bot): Acknowledge and Reverse duplicate.

Reverse duplicate is for billing admins, idempotent, refused on invoices posted to QuickBooks with the ledger's
own message; Acknowledge records who and stops the alert. The alert message is redrawn for everyone.
"""

from __future__ import annotations

from sqlmodel import select

from bot.jobs.alerts import post_pending_alerts
from bot.render.findings import scan_reply_blocks
from bot.settings import scan_options
from ledger import scans
from ledger.demo import load_demo
from ledger.tables import HistoryEntry, Payment, Reversal, ScanFinding
from tests.builders import client, credit, import_rows, invoice, payment
from tests.slack_standin import ADMIN, CHANNEL, OTHER_ADMIN, READER, Message, bot_settings, running_bot


def alert_in_channel(db, slack) -> Message:
    """Scan, post the alert as the scheduled run does, and return the message people see in the channel."""
    scans.run_scan(db)
    post_pending_alerts(db, bot_settings(db, slack, CREDITBOT_ALERT_CHANNEL=CHANNEL))
    call = slack.api_calls("chat.postMessage")[-1]
    with db.read() as unit:
        session = unit.session
        ts = session.exec(select(ScanFinding.alert_ts).where(ScanFinding.alert_ts.is_not(None))).first()
    return Message(call.body["blocks"], call.body["text"], ts, CHANNEL, ephemeral=False)


def answers(slack, message: Message, count: int) -> list[Message]:
    calls = slack.wait_for(lambda: slack.responses(message.response_url_name), count)
    return [Message(c.body.get("blocks", []), c.body.get("text", ""), message.ts, message.channel) for c in calls]


def reversed_payments(db) -> list[str]:
    with db.read() as unit:
        session = unit.session
        query = select(Payment.external_id).join(Reversal, Reversal.payment_id == Payment.id).order_by(Payment.id)
        return list(session.exec(query))


def test_reverse_duplicate_keeps_the_first_application_and_redraws_the_alert(db, slack):
    load_demo(db)
    with running_bot(db, slack) as bot:
        alert = alert_in_channel(db, slack)
        redrawn = bot.click(alert, "Reverse duplicate", user=ADMIN)

        assert reversed_payments(db) == ["PAY-5"]
        assert "Fixed: no longer found in the ledger" in redrawn.all_text  # the reversal settled it
        assert redrawn.buttons() == ["Acknowledge"], "only the other finding still has buttons"
        [_, told] = answers(slack, redrawn, 2)
        assert "$600.00 is back in Acme Legal LLP's credit" in told.all_text

        # Another admin clicks the same button on a stale copy of the message: nothing more is reversed.
        again = bot.click(alert, "Reverse duplicate", user=OTHER_ADMIN)
        [_, told_again] = answers(slack, again, 2)
        assert "Already done" in told_again.all_text
        assert reversed_payments(db) == ["PAY-5"]

    assert [f.kind.value for f in open_after_scan(db)] == ["post_sync_edit"]


def test_reverse_duplicate_is_for_billing_admins_only(db, slack):
    load_demo(db)
    with running_bot(db, slack) as bot:
        alert = alert_in_channel(db, slack)
        refused = bot.click(alert, "Reverse duplicate", user=READER)
    assert "only billing admins can reverse duplicate credits" in refused.all_text
    assert reversed_payments(db) == []
    with db.read() as unit:
        session = unit.session
        refusal = session.exec(select(HistoryEntry).where(HistoryEntry.outcome == "refused")).one()
    assert refusal.action == "reverse_duplicate" and READER in refusal.detail


def test_reverse_duplicate_on_a_posted_invoice_is_refused_with_the_quickbooks_message(db, slack):
    import_rows(
        db,
        clients=[client("C1", "Acme Legal")],
        invoices=[invoice("INV-9", posted_to_qb_at="2026-10-01T09:00:00Z", qb_invoice_id="Q9")],
        credits=[credit("CR-1", amount="500.00")],
        payments=[
            payment(
                "P1", "INV-9", "AccountCredit", "100.00", received_on="2026-09-20", created_at="2026-09-20T09:00:00Z"
            ),
            payment(
                "P2", "INV-9", "AccountCredit", "100.00", received_on="2026-09-22", created_at="2026-09-22T09:00:00Z"
            ),
        ],
    )
    with running_bot(db, slack) as bot:
        alert = alert_in_channel(db, slack)
        refused = bot.click(alert, "Reverse duplicate", user=ADMIN)
    assert "Invoice INV-9 was posted to QuickBooks on 2026-10-01 09:00 UTC" in refused.all_text
    assert "managed in QuickBooks only" in refused.all_text
    assert reversed_payments(db) == []


def test_acknowledge_records_who_and_the_finding_is_not_alerted_again(db, slack):
    load_demo(db)
    with running_bot(db, slack) as bot:
        alert = alert_in_channel(db, slack)
        refused = bot.click(alert, "Acknowledge", user=READER)
        assert "only billing admins can acknowledge findings" in refused.all_text, "silencing a money alert"
        redrawn = bot.click(alert, "Acknowledge", user=ADMIN)
        assert "Acknowledged by <@U-ADMIN>" in redrawn.all_text
        twice = bot.click(alert, "Acknowledge", user=OTHER_ADMIN)
        assert twice.all_text.count("Acknowledged by <@U-ADMIN>") == 1, "the first acknowledgement is kept"

    with db.read() as unit:
        session = unit.session
        acknowledged = session.exec(select(ScanFinding).where(ScanFinding.acknowledged_by.is_not(None))).one()
    assert (acknowledged.acknowledged_by, acknowledged.state) == ("slack:U-ADMIN", "acknowledged")
    still_open = {f.id: f.acknowledged_by for f in open_after_scan(db)}
    assert still_open[acknowledged.id] == "slack:U-ADMIN", "still listed while it is true, marked as seen"
    assert post_pending_alerts(db, bot_settings(db, slack, CREDITBOT_ALERT_CHANNEL=CHANNEL)).posted == 0


def test_the_scan_reply_carries_the_same_buttons(db, slack):
    load_demo(db)
    settings = bot_settings(db, slack)
    report = scans.run_scan(db, scan_options(settings))
    with db.read() as unit:
        reply = Message(scan_reply_blocks(scans.open_findings(unit), opened=len(report.opened)), ephemeral=True)
    assert "Scan done: 2 open findings, 2 new" in reply.all_text
    with running_bot(db, slack) as bot:
        redrawn = bot.click(reply, "Acknowledge", user=ADMIN)
    assert "Acknowledged by <@U-ADMIN>" in redrawn.all_text
    assert "Scan done: 2 open findings" in redrawn.all_text


def test_slash_credit_scan_answers_with_the_findings(db, slack):
    load_demo(db)
    with running_bot(db, slack) as bot:
        working = bot.slash("scan")
        [answer] = answers(slack, working, 1)
    assert "Scan done: 2 open findings" in answer.all_text
    assert "INV-1003" in answer.all_text and "finding-post-sync-edit" in answer.all_text


def open_after_scan(db) -> list[scans.StoredFinding]:
    scans.run_scan(db)
    with db.read() as unit:
        return scans.open_findings(unit)


def test_invoice_replies_show_the_open_findings_on_the_invoice(db, slack):
    load_demo(db)
    scans.run_scan(db)
    with running_bot(db, slack) as bot:
        reply = bot.slash("invoice INV-1003")
    assert "Duplicate credit: The same credit of $600.00 was applied 2 times to invoice INV-1003" in reply.all_text


def test_a_stale_duplicate_finding_reverses_nothing(db, slack):
    load_demo(db)
    with running_bot(db, slack) as bot:
        alert = alert_in_channel(db, slack)
        # Before anyone clicks, the billing system corrects PAY-5's amount: the alert is now out of date.
        from ledger.demo import PAYMENTS

        fixed = next(row for row in PAYMENTS if row[0] == "PAY-5")
        import_rows(
            db,
            clients=[client("C-ACME", "Acme Legal LLP")],
            payments=[
                payment("PAY-5", "INV-1003", "AccountCredit", "60.00", received_on=fixed[4], project_id=fixed[7])
            ],
        )
        refused = bot.click(alert, "Reverse duplicate", user=ADMIN)
    assert "no longer matches the ledger" in refused.all_text
    assert reversed_payments(db) == []
