"""Alerts reach the billing channel exactly once: through 500s, 429s, dropped connections, crashes, and two
alerting scans at once. Slack is a local stand-in that misbehaves on demand (tests/slack_standin.py)."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.jobs.alerts import METADATA_EVENT, AlertsNotConfigured, alert_client, post_pending_alerts
from bot.settings import Settings
from ledger import operations, scans
from ledger.approvals import WriteRequest
from ledger.db import Database
from ledger.demo import load_demo
from ledger.scans import ScanOptions
from ledger.tables import ScanFinding, utcnow
from tests.builders import client, credit, import_rows, invoice, payment
from tests.slack_standin import SlackStandIn

CHANNEL = "C-ALERTS"


def settings_for(slack: SlackStandIn, **overrides) -> Settings:
    values = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": slack.api_url,
        "CREDITBOT_ALERT_CHANNEL": CHANNEL,
        **overrides,
    }
    return Settings(_env_file=None, **values)


def post(db: Database, slack: SlackStandIn):
    settings = settings_for(slack)
    return post_pending_alerts(db, settings, alert_client(settings, backoff_factor=0.01))


def finding_ids_in(message) -> list[int]:
    contexts = [block for block in message.blocks if block["type"] == "context"]
    text = " ".join(element["text"] for block in contexts for element in block["elements"])
    return [int(number) for number in re.findall(r"finding #(\d+)", text)]


def alerted(slack: SlackStandIn) -> list[int]:
    """Every finding id in every message in the channel (a repeat would show twice)."""
    return sorted(finding_id for message in slack.posted for finding_id in finding_ids_in(message))


def stored_alerts(db: Database) -> dict[int, tuple[str, str | None]]:
    with db.read() as unit:
        session = unit.session
        return {row.id: (row.alert_state, row.alert_ts) for row in session.exec(select(ScanFinding))}


def many_duplicates(db: Database, invoices: int) -> None:
    """`invoices` invoices with a duplicated credit each: as many findings."""
    numbers = [f"INV-{n}" for n in range(invoices)]
    import_rows(
        db,
        clients=[client("C1")],
        invoices=[invoice(number) for number in numbers],
        credits=[credit("CR-1", amount="100000.00")],
        payments=[
            payment(f"P-{number}-{copy}", number, "AccountCredit", "10.00", received_on=f"2026-10-0{copy + 1}")
            for number in numbers
            for copy in range(2)
        ],
    )


# --- the message --------------------------------------------------------------------------------------------


def test_new_findings_go_out_once_in_one_summary_message(db, slack):
    load_demo(db)
    report = scans.run_scan(db)
    sent = post(db, slack)

    assert (sent.posted, len(slack.posted)) == (2, 1)
    [message] = slack.posted
    assert message.channel == CHANNEL and message.metadata["event_type"] == METADATA_EVENT
    assert sorted(finding_ids_in(message)) == sorted(report.opened)
    text = str(message.blocks)
    for expected in ("INV-1003", "Acme Legal LLP", "C-ACME", "$600.00", "What to do", "INV-2001", "Birch"):
        assert expected in text
    assert "finding-duplicate-credit" in text and "finding-post-sync-edit" in text
    buttons = [e["text"]["text"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert sorted(buttons) == ["Acknowledge", "Acknowledge", "Reverse duplicate"]
    assert {state for state, _ts in stored_alerts(db).values()} == {"posted"}
    assert {ts for _state, ts in stored_alerts(db).values()} == {message.ts}

    scans.run_scan(db)
    assert post(db, slack).posted == 0
    assert len(slack.posted) == 1


def test_a_big_backlog_goes_out_in_messages_within_slacks_block_limit(db, slack):
    many_duplicates(db, 40)
    scans.run_scan(db)
    assert post(db, slack).posted == 40
    assert [len(m.blocks) <= 50 for m in slack.posted] == [True, True, True]
    assert alerted(slack) == sorted(stored_alerts(db))


# --- Slack failing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [("500",), ("503", "500"), ("429",), ("429", "429"), ("drop",), ("drop", "500", "429")],
    ids=["500", "503+500", "429", "429x2", "dropped", "mixed"],
)
def test_slack_errors_are_retried_and_the_alert_is_posted_once(db, slack, faults):
    load_demo(db)
    scans.run_scan(db)
    slack.fail_next("chat.postMessage", *faults)
    sent = post(db, slack)
    assert (sent.posted, sent.failed) == (2, None)
    # Slack marks an answer's call done just after sending it: wait for that, not only for the client's return.
    calls = slack.wait_for(lambda: slack.api_calls("chat.postMessage"), len(faults) + 1)
    outcomes = [call.outcome for call in calls]
    assert outcomes == [*("dropped" if fault == "drop" else "refused" for fault in faults), "answered"]
    assert len(slack.posted) == 1 and alerted(slack) == sorted(stored_alerts(db))


def test_an_answer_lost_after_slack_posted_does_not_leave_two_messages(db, slack):
    load_demo(db)
    scans.run_scan(db)
    slack.fail_next("chat.postMessage", "post-then-drop")
    sent = post(db, slack)
    assert sent.posted == 2
    assert len(slack.posted) == 1, "the copy posted by the retry is deleted"
    assert {ts for _state, ts in stored_alerts(db).values()} == {slack.posted[0].ts}


def test_what_still_fails_stays_pending_and_goes_out_with_the_next_run(db, slack):
    load_demo(db)
    scans.run_scan(db)
    slack.fail_next("chat.postMessage", "500", "500", "500", "500")  # one attempt and three retries
    first = post(db, slack)
    assert first.posted == 0 and "500" in first.failed
    assert slack.posted == [] and {state for state, _ in stored_alerts(db).values()} == {"pending"}

    second = post(db, slack)
    assert (second.posted, second.failed) == (2, None)
    assert len(slack.posted) == 1 and alerted(slack) == sorted(stored_alerts(db))


def test_a_post_that_reached_slack_before_a_crash_is_recorded_not_repeated(db, slack):
    load_demo(db)
    scans.run_scan(db)
    # A poster claims the alerts, posts them and dies before recording the ts (its claim is now old).
    crashed_at = utcnow() - timedelta(minutes=20)
    batch = scans.claim_alerts(db, now=crashed_at)
    scans.mark_attempt(db, batch.claim, batch.ids, now=crashed_at)
    client = alert_client(settings_for(slack))
    client.chat_postMessage(
        channel=CHANNEL, text="alert", metadata={"event_type": METADATA_EVENT, "event_payload": {"claim": batch.claim}}
    )

    sent = post(db, slack)
    assert (sent.posted, sent.recovered) == (0, 2)
    assert len(slack.posted) == 1
    assert {ts for _state, ts in stored_alerts(db).values()} == {slack.posted[0].ts}


def test_a_poster_that_died_before_posting_is_taken_over_after_the_lease(db, slack):
    load_demo(db)
    scans.run_scan(db)
    crashed_at = utcnow() - timedelta(minutes=20)
    batch = scans.claim_alerts(db, now=crashed_at)
    scans.mark_attempt(db, batch.claim, batch.ids, now=crashed_at)

    assert post(db, slack).posted == 2
    assert len(slack.posted) == 1


def test_a_live_claim_is_not_taken_over(db, slack):
    load_demo(db)
    scans.run_scan(db)
    batch = scans.claim_alerts(db)  # another poster is posting right now
    assert post(db, slack).posted == 0
    assert slack.posted == [] and batch is not None


def test_two_alerting_scans_at_once_post_every_finding_once(db, slack):
    many_duplicates(db, 50)
    slack.fail_next("chat.postMessage", "500", "429", "drop")
    url = db.url.render_as_string(hide_password=False)
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def alerting_scan() -> None:
        own = Database(url)
        try:
            barrier.wait()
            scans.run_scan(own)
            post(own, slack)
        except BaseException as failure:  # reported below
            errors.append(failure)
        finally:
            own.dispose()

    threads = [threading.Thread(target=alerting_scan) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    post(db, slack)  # whatever a failure left pending
    assert alerted(slack) == sorted(stored_alerts(db)) and len(alerted(slack)) == 50
    assert {state for state, _ in stored_alerts(db).values()} == {"posted"}


# --- what gets alerted --------------------------------------------------------------------------------------


def test_an_acknowledged_finding_is_not_alerted(db, slack):
    load_demo(db)
    report = scans.run_scan(db)
    db.transact(scans.acknowledge, report.opened[0], "slack:U-ANN")
    post(db, slack)
    assert alerted(slack) == report.opened[1:]


def test_a_finding_that_disappears_is_closed_and_alerted_again_when_it_comes_back(db, slack):
    import_rows(
        db,
        clients=[client("C1")],
        invoices=[invoice("INV-1"), invoice("INV-2")],
        credits=[credit("CR-1", amount="100.00")],
        payments=[payment("P1", "INV-1", "AccountCredit", "80.00"), payment("P2", "INV-2", "AccountCredit", "80.00")],
    )
    [first] = scans.run_scan(db).opened
    post(db, slack)
    db.transact(operations.issue_credit, "C1", "60.00", "promised", WriteRequest("test", "k1"))
    with db.read() as unit:  # the credit resolved the over-application: the write itself closed the finding
        assert unit.session.exec(select(ScanFinding.state).where(ScanFinding.id == first)).one() == "closed"
    assert scans.run_scan(db).closed == 0  # and the scan agrees, closing nothing more
    import_rows(db, clients=[client("C1")], payments=[payment("P3", "INV-2", "AccountCredit", "5.00")])
    [again] = scans.run_scan(db).opened
    post(db, slack)

    assert again != first
    assert alerted(slack) == [first, again] and len(slack.posted) == 2
    with db.read() as unit:
        session = unit.session
        rows = {row.id: row for row in session.exec(select(ScanFinding))}
    assert (rows[first].state, rows[first].occurrence) == ("closed", 1)
    assert (rows[again].state, rows[again].occurrence, rows[again].fingerprint) == ("open", 2, rows[first].fingerprint)


def test_a_finding_fixed_before_its_alert_went_out_is_not_alerted(db, slack):
    load_demo(db)
    report = scans.run_scan(db, ScanOptions())
    with db.read() as unit:
        duplicate = next(f for f in scans.open_findings(unit) if f.kind.value == "duplicate_credit")
    db.transact(operations.reverse_application, duplicate.payment_ids[1], WriteRequest("test", "undo"))
    scans.run_scan(db)
    post(db, slack)
    assert alerted(slack) == [i for i in report.opened if i != duplicate.id]


def test_alerting_without_a_channel_is_refused_and_the_findings_wait(db, slack):
    load_demo(db)
    scans.run_scan(db)
    with pytest.raises(AlertsNotConfigured, match="CREDITBOT_ALERT_CHANNEL"):
        post_pending_alerts(db, settings_for(slack, CREDITBOT_ALERT_CHANNEL=""))
    assert {state for state, _ in stored_alerts(db).values()} == {"pending"}
