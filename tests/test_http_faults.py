"""The stand-ins' faults (tests/http_faults.py), as each service documents them: Slack's and Intuit's error bodies
and limits for a 429 or a 5xx, a connection closed unanswered, one fault per request in order, and a service down."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from tests.qbo_standin import CLIENT_ID, CLIENT_SECRET, QBOStandIn
from tests.slack_standin import SlackStandIn

REDIRECT = "https://creditbot.example.com/qbo/callback"


def answer(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    """Status, JSON body and headers of one request (an HTTP error is an answer too)."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers.items())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read()), dict(refused.headers.items())


@pytest.fixture
def qbo() -> Iterator[QBOStandIn]:
    with QBOStandIn() as stand_in:
        yield stand_in


def access_token(qbo: QBOStandIn) -> str:
    """An access token got as creditbot gets one: the admin's Connect, then the code exchanged at the token URL."""
    query = {"client_id": CLIENT_ID, "response_type": "code", "scope": "com.intuit.quickbooks.accounting",
             "redirect_uri": REDIRECT, "state": "s"}  # fmt: skip
    landing = qbo.authorize(f"{qbo.url}/connect/oauth2?{urllib.parse.urlencode(query)}")
    code = urllib.parse.parse_qs(urllib.parse.urlparse(landing).query)["code"][0]
    form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    status, token, _ = answer(f"{qbo.url}/oauth2/v1/tokens/bearer", form.encode(), {"Authorization": f"Basic {basic}"})
    assert status == 200, token
    return token["access_token"]


def read_invoice(qbo: QBOStandIn, token: str) -> tuple[int, dict, dict]:
    return answer(f"{qbo.api_url}/company/{qbo.realm}/invoice/1", headers={"Authorization": f"Bearer {token}"})


def test_slack_answers_each_queued_fault_of_a_method_once_in_order_as_slack_documents_it(slack: SlackStandIn):
    slack.fail_next("chat.postMessage", "429", "503", "drop")
    slack.retry_after = "7"
    post = f"{slack.api_url}chat.postMessage"
    body = urllib.parse.urlencode({"channel": "C-BILLING", "text": "hello"}).encode()
    assert answer(f"{slack.api_url}auth.test", b"")[1]["ok"], "another method meets none of them"
    status, rate_limited, headers = answer(post, body)
    assert (status, rate_limited, headers["Retry-After"]) == (429, {"ok": False, "error": "ratelimited"}, "7")
    assert answer(post, body)[:2] == (503, {"ok": False, "error": "fatal_error"})
    with pytest.raises((http.client.RemoteDisconnected, urllib.error.URLError)):
        answer(post, body)
    assert slack.posted == [], "nothing was posted by the failed requests"
    assert answer(post, body)[1]["ok"] and len(slack.posted) == 1


def test_slack_keeps_each_call_as_received_and_marks_what_came_of_it(slack: SlackStandIn):
    slack.fail_next("chat.postMessage", "drop", "500", "post-then-drop", "slow")
    slack.slow_seconds = 0.5
    post = f"{slack.api_url}chat.postMessage"
    body = urllib.parse.urlencode({"channel": "C-BILLING", "text": "hello"}).encode()
    for _ in ("drop", "500", "post-then-drop"):
        with contextlib.suppress(http.client.RemoteDisconnected, urllib.error.URLError):
            answer(post, body)
    late = threading.Thread(target=answer, args=(post, body))
    late.start()
    deadline = time.monotonic() + 10  # a bound on waiting, not a measurement
    while len(slack.api_calls("chat.postMessage")) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert slack.api_calls("chat.postMessage")[-1].outcome == "pending", "received, its answer not sent yet"
    calls = slack.wait_for(lambda: slack.api_calls("chat.postMessage"), 4)  # once Slack is done with each
    late.join()
    assert [call.outcome for call in calls] == ["dropped", "refused", "lost", "answered"]
    assert [call.carried_out for call in calls] == [False, False, True, True] and len(slack.posted) == 2


def test_quickbooks_answers_each_queued_fault_once_in_order_as_intuit_documents_it(qbo: QBOStandIn):
    token = access_token(qbo)
    qbo.fail_next(429, "drop", 503, 429)
    status, throttled, headers = read_invoice(qbo, token)
    assert status == 429 and headers["Retry-After"] == "0"
    assert throttled["Fault"]["Error"][0]["code"] == "3001" and throttled["Fault"]["type"] == "SERVICE"
    with pytest.raises((http.client.RemoteDisconnected, urllib.error.URLError)):
        read_invoice(qbo, token)
    status, failed, _ = read_invoice(qbo, token)
    assert status == 503 and failed["Fault"]["type"] == "SystemFault"
    assert read_invoice(qbo, "at-unknown")[0] == 401, "an unknown token is refused before any limit"
    qbo.retry_after = None  # Intuit documents the 429, not a Retry-After header
    status, _, headers = read_invoice(qbo, token)
    assert status == 429 and "Retry-After" not in headers
    assert read_invoice(qbo, token)[0] == 400 and len(qbo.faults) == 0  # Object Not Found: every fault was met


def test_a_service_that_is_down_refuses_connections_and_comes_back_on_its_port(qbo: QBOStandIn, slack: SlackStandIn):
    for stand_in, path in ((qbo, "/.well-known/openid-configuration"), (slack, "/api/auth.test")):
        url = stand_in.url
        with stand_in.down(), pytest.raises(urllib.error.URLError):
            answer(url + path, b"" if stand_in is slack else None)
        assert stand_in.url == url and answer(url + path, b"" if stand_in is slack else None)[0] == 200


def test_a_fault_neither_service_knows_is_refused_when_queued(qbo: QBOStandIn, slack: SlackStandIn):
    with pytest.raises(AssertionError, match="no such fault"):
        slack.fail_next("chat.postMessage", "timeout")
    with pytest.raises(AssertionError, match="no such fault"):
        qbo.fail_next(404)
