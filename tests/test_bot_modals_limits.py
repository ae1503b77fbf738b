"""Every Block Kit view the bot sends stays inside Slack's limits, on a ledger built to push them: a client name of
200 characters, 150 open invoices, 120 projects, 150 clients matching a typeahead, many requests and findings.

Checked twice: slack_sdk's view models (`View.to_dict()` raises on a limit they know) and Slack's documented limits
spelled out here (a modal's or home tab's 100 blocks, a title's 24 characters, an option's 75, 100 options...).
"""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.models.views import View

from bot.handlers import forms, home
from bot.handlers.context import Caller, Context, Services
from bot.render import forms as form_views
from ledger import approvals, operations
from ledger.approvals import WriteRequest
from ledger.scans import ScanOptions, run_scan
from tests.builders import client, credit, import_rows, invoice, payment
from tests.slack_standin import ADMIN, READER, bot_settings

LONG = "Acme " + "Very Long Partnership Name " * 7
LIMITS = {"modal": 100, "home": 100}


@pytest.fixture
def crowded(db):
    clients = [client("C1", LONG[:200])] + [client(f"C{n}", f"Acme Branch {n:03d}") for n in range(2, 152)]
    invoices = [invoice(f"INV-{n:04d}", "C1", total="100.00") for n in range(150)]
    invoices.append(invoice("INV-OVER", "C2", total="10.00"))
    projects = [
        {"project_id": f"P-{n:03d}-" + "X" * 50, "client_id": "C1", "name": "Project " + "Y" * 80} for n in range(120)
    ]
    import_rows(db, clients=clients, invoices=invoices, projects=projects,
                credits=[credit("CR-1", amount="100000.00"), credit("CR-2", "C2", "5.00")],
                payments=[payment("PAY-O", "INV-OVER", "check", "20.00")])  # fmt: skip
    for n in range(15):
        with db.write() as unit:
            approvals.open_request(unit, approvals.ISSUE, {"client": "C1", "amount": "5000.00", "reason": "R" * 500},
                                   "slack:U-OTHER", f"req-{n}", "C1")  # fmt: skip
    with db.write() as unit:
        for n in range(30):
            operations.apply_credit(unit, f"INV-{n:04d}", "1.00", None, WriteRequest("slack:U-ADMIN", f"a{n}"))
    run_scan(db, ScanOptions())
    return db


def context(db, slack, user: str = ADMIN) -> Context:
    return Context(Services(bot_settings(db, slack), db), Caller(user, "T", "C-BILLING", f"slack:{user}", f"k-{user}"))


def check_view(view: dict[str, Any]) -> None:
    View(**view).to_dict()  # slack_sdk's own validation
    assert 1 <= len(view["blocks"]) <= LIMITS[view["type"]]
    assert len(str(view.get("private_metadata") or "")) <= 3000
    if view["type"] == "modal":
        for key in ("title", "submit", "close"):
            assert len((view.get(key) or {}).get("text", "")) <= 24
    for block in view["blocks"]:
        check_block(block)


def check_block(block: dict[str, Any]) -> None:
    assert len(block.get("block_id", "")) <= 255
    if block["type"] == "section":
        assert len(block.get("text", {}).get("text", "")) <= 3000
        assert len(block.get("fields", [])) <= 10
        assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
    if block["type"] == "header":
        assert len(block["text"]["text"]) <= 150
    if block["type"] == "context":
        assert len(block["elements"]) <= 10
    if block["type"] == "actions":
        assert len(block["elements"]) <= 25
        for element in block["elements"]:
            assert len(element["text"]["text"]) <= 75 and len(element.get("value", "")) <= 2000
    if block["type"] == "input":
        assert len(block["label"]["text"]) <= 2000 and len(block.get("hint", {}).get("text", "")) <= 2000
        element = block["element"]
        assert len(element.get("placeholder", {}).get("text", "")) <= 150
        check_options(element.get("options", []))


def check_options(options: list[dict[str, Any]]) -> None:
    assert len(options) <= 100
    for option in options:
        assert len(option["text"]["text"]) <= 75 and len(option["value"]) <= 150


def test_the_apply_form_for_a_crowded_client_fits(crowded, slack):
    ctx = context(crowded, slack)
    view = forms.apply_form(ctx, "C-BILLING", "INV-0100")
    check_view(view)
    invoices = next(b for b in view["blocks"] if b.get("block_id") == "invoice")["element"]["options"]
    assert len(invoices) == 100
    assert len(next(b for b in view["blocks"] if b.get("block_id") == "project")["element"]["options"]) == 100


def test_every_form_and_notice_fits(crowded, slack):
    ctx = context(crowded, slack)
    check_view(forms.apply_form(ctx, None))
    check_view(forms.apply_form(ctx, None, "NOPE-1"))
    check_view(forms.apply_form_for_message(ctx, None, "about INV-0003 and INV-0004 " * 200))
    check_view(forms.issue_form(ctx, None))
    with crowded.read() as unit:
        request = approvals.pending_requests(unit, 1)[0]
    check_view(forms.review_form(context(crowded, slack, "U-ADMIN2"), str(request.id)))
    check_view(form_views.notice("A title longer than twenty-four", "x" * 5000))
    state = {"values": {"client": {"c": {"selected_option": {"value": "C1"}}}}}
    check_view(forms.refreshed_apply_form(ctx, form_views.FormContext(channel="C" * 4000), state))


def test_typeahead_answers_fit(crowded, slack):
    ctx = context(crowded, slack)
    for typed in ("", "a", "acme", "branch 1", LONG, "x" * 1000):
        check_options(forms.client_suggestions(ctx, typed)["options"])
    assert len(forms.client_suggestions(ctx, "acme")["options"]) == 100


@pytest.mark.parametrize("user", [ADMIN, READER])
def test_the_home_tab_fits_for_admins_and_everyone_else(crowded, slack, user):
    check_view(home.home_view(context(crowded, slack, user), notice="n" * 5000))


def test_the_reverse_form_for_a_crowded_client_fits(crowded, slack):
    with crowded.write() as unit:
        for n in range(30, 150):
            operations.apply_credit(unit, f"INV-{n:04d}", "2.50", None, WriteRequest("slack:U-ADMIN", f"r{n}"))
    ctx = context(crowded, slack)
    check_view(forms.reverse_form(ctx, "C-BILLING"))
    for chosen in (None, "1", "149", "999999", "x" * 500):
        values = {"client": {"c": {"selected_option": {"value": "C1"}}}}
        if chosen is not None:
            values["application"] = {"a": {"selected_option": {"value": chosen}}}
        view = forms.refreshed_reverse_form(ctx, form_views.FormContext(channel="C" * 4000), {"values": values})
        check_view(view)
        applications = next(b for b in view["blocks"] if b.get("block_id") == "application")["element"]
        assert len(applications["options"]) == 100 and applications["initial_option"] in applications["options"]
        assert next(b for b in view["blocks"] if b.get("block_id") == "amount")["element"]["initial_value"]


def test_review_shown_as_a_message_fits_slacks_message_limits(crowded, slack):
    from slack_sdk.models.blocks import Block

    with crowded.read() as unit:
        request = approvals.pending_requests(unit, 1)[0]
    reply = forms.review(context(crowded, slack, "U-ADMIN2"), str(request.id))
    assert reply.view is not None
    check_view(reply.view)
    assert 0 < len(reply.blocks) <= 50
    for block in reply.blocks:
        Block.parse(block).validate_json()
        check_block(block)
