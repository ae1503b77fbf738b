"""A local stand-in for QuickBooks Online, speaking Intuit's documented OAuth 2.0 and v3 JSON over real HTTP.

OAuth (what intuit-oauth reads from the discovery document at /.well-known/openid-configuration):
- GET /connect/oauth2 answers like Intuit after the admin clicked Connect: a 302 to the redirect URI with
  `code`, `state` and `realmId` (`authorize(url)` gives the landing URL a browser would show).
- POST /oauth2/v1/tokens/bearer (client_secret_basic): `authorization_code` and `refresh_token` grants. Refresh
  tokens rotate: each refresh spends the one it used (stricter than Intuit, whose value changes every 24-26 hours).
  As Intuit documents (intuit/oauth-jsclient README: previous refresh tokens expire 24 hours after you receive a
  new one), a spent token (one with a `spent_at`) still refreshes for `refresh_grace_s` (24 h) after it was spent;
  after that, or when revoked (`revoke_refresh_token`) or unknown, it is `invalid_grant`. Every refresh with a
  spent one is counted in `reused_refresh_tokens` (what the locked refresh must prevent between live instances).
- POST /v2/oauth2/tokens/revoke revokes a refresh token and its access tokens.
v3 under /v3/company/{realm}/: cdc (30-day refusal, at most 1,000 objects per type, oldest first), query (SELECT
with WHERE on MetaData.LastUpdatedTime or CustomerRef, ORDERBY, STARTPOSITION/MAXRESULTS), entity reads, and
payment create with `requestid` idempotency. Errors are Intuit's Fault bodies; an expired or unknown access token
is a 401; an access token lasts `access_uses` API calls, or until every `expire_every`-th call expires all
issued so far (then 401, as if it had expired); `fail_next` queues (tests/http_faults.py) 429 (ThrottleExceeded,
with Retry-After when `retry_after` is set), 5xx answers (a SystemFault), "drop" (the connection closed unanswered,
nothing done) and "slow" (carried out, answered `slow_seconds` later); `down()` refuses connections. Intuit
documents the 429 and its advice to wait before retrying, not a Retry-After header: `retry_after = None` answers
without one.
`webhook(...)` builds a signed notification body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from tests.http_faults import FaultyHandler, FaultyService

CLIENT_ID, CLIENT_SECRET = "qbo-test-client", "qbo-test-secret"
REALM = "9341453050012345"
VERIFIER_TOKEN = "qbo-test-verifier-token"
_PATHS = {"invoice": "Invoice", "payment": "Payment", "creditmemo": "CreditMemo"}
# What `fail_next` can make an API request meet (tests/http_faults.py): Intuit's documented 429 and 5xx answers, and
# what the connection does.
FAULTS = (429, 500, 502, 503, 504, "drop", "slow")


def fault(message: str, detail: str, code: str, kind: str = "ValidationFault") -> dict[str, Any]:
    return {
        "Fault": {"Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}], "type": kind},
        "time": _now_text(),
    }


def _now_text(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds")


class QBOStandIn(FaultyService):
    def __init__(self, realm: str = REALM, access_uses: int | None = None, expire_every: int | None = None) -> None:
        super().__init__(_handler_for(self), FAULTS)
        self.realm = realm
        self.access_uses = access_uses
        # Every `expire_every`-th API call, every access token issued so far expires (as if their hour had passed).
        self.expire_every = expire_every
        self._api_calls = 0
        self.requests = 0  # every HTTP request, OAuth and discovery included
        self.latency = 0.0  # seconds each answer takes (a real QuickBooks' round trip)
        self.lock = threading.RLock()
        self.codes: dict[str, tuple[str, str]] = {}
        self._issued_refresh_tokens: set[str] = set()
        self._revoked_refresh_tokens: set[str] = set()
        self.access_tokens: dict[str, list[Any]] = {}  # token -> [uses left or None, refresh token it came with]
        self.reused_refresh_tokens = 0
        self.refreshes = 0
        self.refresh_grace_s = 24 * 3600.0  # how long a spent refresh token still refreshes (Intuit: 24 hours)
        # Refresh token -> when a refresh spent it (time.monotonic()): a token is spent exactly when it is here.
        self.spent_at: dict[str, float] = {}
        # When set, a refresh's answer is held (the token already rotated) until the event is set: a test kills the
        # client in the window between QuickBooks' answer and the ledger's store.
        self.refresh_answer_gate: threading.Event | None = None
        self.entities: dict[tuple[str, str], dict[str, Any]] = {}
        self.deleted: dict[tuple[str, str], str] = {}
        self.payments_by_request: dict[str, dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self._next_id = 5000

    def __enter__(self) -> QBOStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    @property
    def api_url(self) -> str:
        return f"{self.url}/v3"

    # --- what a test does to QuickBooks ---------------------------------------------------------------

    def put(self, entity_type: str, entity: dict[str, Any], updated: datetime | None = None) -> dict[str, Any]:
        """Create or change an entity as a QuickBooks user would (SyncToken and LastUpdatedTime move on)."""
        with self.lock:
            key = (entity_type, str(entity["Id"]))
            before = self.entities.get(key)
            stored = json.loads(json.dumps(entity, default=str))
            stored["SyncToken"] = str(int(before["SyncToken"]) + 1) if before else str(stored.get("SyncToken", "0"))
            meta = dict(stored.get("MetaData") or {})
            meta.setdefault("CreateTime", _now_text(updated))
            meta["LastUpdatedTime"] = _now_text(updated)
            stored["MetaData"] = meta
            self.entities[key] = stored
            return stored

    def delete(self, entity_type: str, qbo_id: str) -> None:
        with self.lock:
            self.entities.pop((entity_type, qbo_id), None)
            self.deleted[(entity_type, qbo_id)] = _now_text()

    def fail_next(self, *statuses: int | str) -> None:
        """The next API requests meet these (`FAULTS`): an HTTP status (429 ThrottleExceeded, 5xx with a Fault),
        "drop" or "slow" (see the module docstring)."""
        self.faults.extend(statuses)

    @property
    def refresh_tokens(self) -> Mapping[str, str]:
        """Every refresh token issued, by state: "live", "spent" (it has a `spent_at`) or "revoked"; a snapshot,
        read-only (`revoke_refresh_token` revokes one)."""
        with self.lock:
            return MappingProxyType({token: self._refresh_state(token) for token in self._issued_refresh_tokens})

    def revoke_refresh_token(self, token: str) -> None:
        """The connection ended in QuickBooks (the app disconnected there): the token never refreshes again."""
        with self.lock:
            if token in self._issued_refresh_tokens:
                self._revoked_refresh_tokens.add(token)

    def _refresh_state(self, token: str) -> str | None:
        if token not in self._issued_refresh_tokens:
            return None
        if token in self._revoked_refresh_tokens:
            return "revoked"
        return "spent" if token in self.spent_at else "live"

    def expire_access_tokens(self) -> None:
        with self.lock:
            for entry in self.access_tokens.values():
                entry[0] = 0

    def authorize(self, url: str) -> str:
        """The URL the browser lands on after the admin connects (what Intuit's redirect carries)."""
        query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
        assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
        assert "com.intuit.quickbooks.accounting" in query["scope"].split()
        code = secrets.token_urlsafe(12)
        with self.lock:
            self.codes[code] = (query["redirect_uri"], self.realm)
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state'], 'realmId': self.realm})}"

    def webhook(self, *changes: tuple[str, str, str], realm: str | None = None) -> tuple[bytes, str]:
        """A notification body for (entity, id, operation) changes and its `intuit-signature`."""
        entities = [
            {"name": name, "id": qbo_id, "operation": operation, "lastUpdated": _now_text()}
            for name, qbo_id, operation in changes
        ]
        body = json.dumps(
            {"eventNotifications": [{"realmId": realm or self.realm, "dataChangeEvent": {"entities": entities}}]}
        ).encode()
        return body, base64.b64encode(hmac.new(VERIFIER_TOKEN.encode(), body, hashlib.sha256).digest()).decode()

    def payments(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e for (kind, _), e in self.entities.items() if kind == "Payment"]

    # --- OAuth --------------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": "https://oauth.platform.intuit.com/op/v1",
            "authorization_endpoint": f"{self.url}/connect/oauth2",
            "token_endpoint": f"{self.url}/oauth2/v1/tokens/bearer",
            "userinfo_endpoint": f"{self.url}/v1/openid_connect/userinfo",
            "revocation_endpoint": f"{self.url}/v2/oauth2/tokens/revoke",
            "jwks_uri": f"{self.url}/op/v1/jwks",
            "response_types_supported": ["code"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if authorization != expected:
            return 401, {"error": "invalid_client"}
        with self.lock:
            grant = form.get("grant_type")
            if grant == "authorization_code":
                found = self.codes.pop(form.get("code", ""), None)
                if found is None or found[0] != form.get("redirect_uri"):
                    return 400, {"error": "invalid_grant"}
                return 200, self._issue()
            if grant == "refresh_token":
                token = form.get("refresh_token", "")
                state = self._refresh_state(token)
                self.reused_refresh_tokens += state == "spent"
                if state != "live" and not (state == "spent" and self._in_grace(token)):
                    return 400, {"error": "invalid_grant"}
                if state == "live":
                    self.spent_at[token] = time.monotonic()
                self.refreshes += 1
                return 200, self._issue()
            return 400, {"error": "unsupported_grant_type"}

    def _in_grace(self, token: str) -> bool:
        return time.monotonic() - self.spent_at[token] < self.refresh_grace_s

    def revoke(self, body: dict[str, Any]) -> int:
        with self.lock:
            token = str(body.get("token", ""))
            self.revoke_refresh_token(token)
            for access, entry in list(self.access_tokens.items()):
                if token in (access, entry[1]):
                    del self.access_tokens[access]
            return 200

    def _issue(self) -> dict[str, Any]:
        access, refresh = "at-" + secrets.token_urlsafe(16), "rt-" + secrets.token_urlsafe(16)
        self._issued_refresh_tokens.add(refresh)
        self.access_tokens[access] = [self.access_uses, refresh]
        return {
            "token_type": "bearer",
            "access_token": access,
            "expires_in": 3600,
            "refresh_token": refresh,
            "x_refresh_token_expires_in": 8726400,
        }

    # --- v3 -----------------------------------------------------------------------------------------

    def api(self, method: str, path: str, query: dict[str, str], body: Any, bearer: str) -> tuple[int, Any, dict]:
        match = re.fullmatch(r"/v3/company/([^/]+)/(.+)", path)
        if match is None:
            return 404, fault("Unsupported Operation", f"No such path {path}", "500"), {}
        with self.lock:
            self.calls[match.group(2).split("/")[0]] += 1
            self._api_calls += 1
            if self.expire_every and self._api_calls % self.expire_every == 0:
                self.expire_access_tokens()
            entry = self.access_tokens.get(bearer)
            if entry is None or entry[0] == 0:
                return 401, fault("message=AuthenticationFailed; errorCode=003200; statusCode=401",
                                  "Token expired or invalid", "3200", "AUTHENTICATION"), {}  # fmt: skip
            if entry[0] is not None:
                entry[0] -= 1
            status = self.faults.take(transport=False)  # met once the token is accepted, as Intuit's limits are
            if status == 429:
                throttled = fault("message=ThrottleExceeded; errorCode=003001; statusCode=429",
                                  "The request limit was reached.", "3001", "SERVICE")  # fmt: skip
                return 429, throttled, self.retry_after_header()
            if status is not None:
                return int(status), fault("An application error has occurred", "Service unavailable", "10000",
                                          "SystemFault"), {}  # fmt: skip
            if match.group(1) != self.realm:
                return 403, fault("Authorization Failure", "Wrong company", "003100", "AuthorizationFault"), {}
            rest = match.group(2)
            if rest == "cdc" and method == "GET":
                return self._cdc(query)
            if rest == "query" and method == "GET":
                return self._query(query.get("query", ""))
            if rest == "payment" and method == "POST":
                return self._create_payment(query.get("requestid"), body)
            parts = rest.split("/")
            if len(parts) == 2 and parts[0] in _PATHS and method == "GET":
                entity = self.entities.get((_PATHS[parts[0]], parts[1]))
                if entity is None:
                    return 400, fault("Object Not Found", "Object Not Found : Something you're trying to use has "
                                      "been made inactive. Check the fields with accounts.", "610"), {}  # fmt: skip
                return 200, {_PATHS[parts[0]]: entity, "time": _now_text()}, {}
            return 400, fault("Unsupported Operation", f"Operation {method} {rest} is not supported.", "500"), {}

    def _cdc(self, query: dict[str, str]) -> tuple[int, Any, dict]:
        since = datetime.fromisoformat(query["changedSince"])
        if since < datetime.now(UTC) - timedelta(days=30):
            return 400, fault("Invalid Request", "changedSince cannot be more than 30 days in the past", "4001"), {}
        groups = []
        for entity_type in query["entities"].split(","):
            changed = self._changed(entity_type, since)[:1000]
            groups.append({entity_type: changed, "startPosition": 1, "maxResults": len(changed)})
        return 200, {"CDCResponse": [{"QueryResponse": groups}], "time": _now_text()}, {}

    def _changed(self, entity_type: str, since: datetime) -> list[dict[str, Any]]:
        found = [
            (datetime.fromisoformat(e["MetaData"]["LastUpdatedTime"]), e)
            for (kind, _), e in self.entities.items()
            if kind == entity_type
        ]
        found += [
            (datetime.fromisoformat(at), {"status": "Deleted", "Id": qbo_id, "MetaData": {"LastUpdatedTime": at}})
            for (kind, qbo_id), at in self.deleted.items()
            if kind == entity_type
        ]
        return [e for at, e in sorted(found, key=lambda pair: pair[0]) if at >= since]

    def _query(self, sql: str) -> tuple[int, Any, dict]:
        match = re.fullmatch(
            r"SELECT \* FROM (\w+)(?: WHERE (.+?))?(?: ORDERBY [\w.]+)?(?: STARTPOSITION (\d+))?(?: MAXRESULTS (\d+))?",
            sql.strip(),
        )
        if match is None:
            return 400, fault("QueryParserError", f"Encountered an error parsing: {sql[:80]}", "4000"), {}
        entity_type, where, start, most = match.groups()
        rows = [e for (kind, _), e in self.entities.items() if kind == entity_type]
        if where:
            condition = re.fullmatch(r"([\w.]+) (>=|>|=) '([^']*)'", where.strip())
            if condition is None:
                return 400, fault("QueryParserError", f"Unsupported WHERE: {where[:80]}", "4000"), {}
            field, op, value = condition.groups()
            if field == "MetaData.LastUpdatedTime":
                since = datetime.fromisoformat(value)
                rows = [e for e in self._changed(entity_type, since) if e.get("status") != "Deleted"]
                if op == ">":
                    rows = [e for e in rows if datetime.fromisoformat(e["MetaData"]["LastUpdatedTime"]) > since]
            elif field == "CustomerRef":
                rows = [e for e in rows if e.get("CustomerRef", {}).get("value") == value]
        first, size = int(start or 1), int(most or 100)
        page = rows[first - 1 : first - 1 + size]
        answer: dict[str, Any] = {"startPosition": first, "maxResults": len(page)} if page else {}
        if page:
            answer[entity_type] = page
        return 200, {"QueryResponse": answer, "time": _now_text()}, {}

    def _create_payment(self, request_id: str | None, body: dict[str, Any]) -> tuple[int, Any, dict]:
        if request_id and request_id in self.payments_by_request:
            return 200, {"Payment": self.payments_by_request[request_id], "time": _now_text()}, {}
        if body.get("Id"):
            return _update_payment(self, request_id, body)
        links = {}
        for line in body.get("Line", []):
            txn = line["LinkedTxn"][0]
            links[txn["TxnType"]] = (txn["TxnId"], Decimal(str(line["Amount"])))
        invoice = self.entities.get(("Invoice", links.get("Invoice", ("", 0))[0]))
        memo = self.entities.get(("CreditMemo", links.get("CreditMemo", ("", 0))[0]))
        if invoice is None or memo is None:
            return 400, fault("Object Not Found", "Object Not Found : the linked transaction does not exist", "610"), {}
        amount = links["Invoice"][1]
        if Decimal(str(memo.get("RemainingCredit", 0))) < amount:
            return 400, fault("Invalid Amount", f"The amount applied from credit memo {memo['Id']} is more than "
                              "its remaining credit.", "6000"), {}  # fmt: skip
        if Decimal(str(invoice.get("Balance", 0))) < amount:
            return 400, fault("Invalid Amount", "The payment amount is more than the invoice's open balance.",
                              "6000"), {}  # fmt: skip
        self._next_id += 1
        payment = {
            "Id": str(self._next_id),
            "SyncToken": "0",
            "domain": "QBO",
            "CustomerRef": body["CustomerRef"],
            "TxnDate": body.get("TxnDate") or datetime.now(UTC).date().isoformat(),
            "TotalAmt": 0,
            "UnappliedAmt": 0,
            "PrivateNote": body.get("PrivateNote", ""),
            "Line": [{"Amount": float(amount), "LinkedTxn": line["LinkedTxn"]} for line in body["Line"]],
        }
        stored = self.put("Payment", payment)
        self.put("CreditMemo", {**memo, "RemainingCredit": float(Decimal(str(memo["RemainingCredit"])) - amount)})
        self.put("Invoice", {**invoice, "Balance": float(Decimal(str(invoice["Balance"])) - amount)})
        if request_id:
            self.payments_by_request[request_id] = stored
        return 200, {"Payment": stored, "time": _now_text()}, {}


def _invoice_amounts(lines: list[dict[str, Any]], txn_type: str) -> Counter[str]:
    amounts: Counter[str] = Counter()
    for line in lines:
        txn = (line.get("LinkedTxn") or [{}])[0]
        if txn.get("TxnType") == txn_type:
            amounts[txn["TxnId"]] += Decimal(str(line["Amount"]))  # type: ignore[assignment]
    return amounts


def _update_payment(stand_in: QBOStandIn, request_id: str | None, body: dict[str, Any]) -> tuple[int, Any, dict]:
    """A sparse update of a payment's lines at its SyncToken (how unapplied money is applied to an invoice)."""
    existing = stand_in.entities.get(("Payment", str(body["Id"])))
    if existing is None:
        return 400, fault("Object Not Found", "Object Not Found : the payment does not exist", "610"), {}
    if str(body.get("SyncToken")) != existing["SyncToken"]:
        return 400, fault("Stale Object Error", "You and another user were working on the same thing.", "5010"), {}
    before, after = _invoice_amounts(existing["Line"], "Invoice"), _invoice_amounts(body["Line"], "Invoice")
    memos = sum(_invoice_amounts(body["Line"], "CreditMemo").values(), Decimal(0))
    unapplied = Decimal(str(existing["TotalAmt"])) - sum(after.values(), Decimal(0)) + memos
    if unapplied < 0:
        return 400, fault("Invalid Amount", "The amount applied is more than the payment's unapplied amount.",
                          "6000"), {}  # fmt: skip
    for qbo_id in set(before) | set(after):
        invoice = stand_in.entities.get(("Invoice", qbo_id))
        if invoice is not None and after[qbo_id] != before[qbo_id]:
            balance = Decimal(str(invoice.get("Balance", 0))) - (after[qbo_id] - before[qbo_id])
            stand_in.put("Invoice", {**invoice, "Balance": float(balance)})
    lines = [{"Amount": float(Decimal(str(line["Amount"]))), "LinkedTxn": line["LinkedTxn"]} for line in body["Line"]]
    stored = stand_in.put("Payment", {**existing, "Line": lines, "UnappliedAmt": float(unapplied)})
    if request_id:
        stand_in.payments_by_request[request_id] = stored
    return 200, {"Payment": stored, "time": _now_text()}, {}


def _handler_for(stand_in: QBOStandIn) -> type[FaultyHandler]:
    class Handler(FaultyHandler):
        service = stand_in

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def _handle(self, method: str) -> None:
            with stand_in.lock:
                stand_in.requests += 1
            if self.unreachable():
                return
            parsed = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if parsed.path == "/.well-known/openid-configuration":
                return self._send(200, stand_in.discovery())
            if parsed.path == "/oauth2/v1/tokens/bearer":
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                answer = stand_in.token(form, self.headers.get("Authorization", ""))
                if stand_in.refresh_answer_gate is not None and form.get("grant_type") == "refresh_token":
                    stand_in.refresh_answer_gate.wait(60)  # the token is rotated; the answer waits to be let out
                return self._send(*answer)
            if parsed.path == "/v2/oauth2/tokens/revoke":
                return self._send(stand_in.revoke(json.loads(raw or "{}")), {})
            bearer = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            body = json.loads(raw) if raw and method == "POST" else None
            transport = stand_in.faults.take(transport=True)
            if self.hung_up_before(transport):
                return
            status, answer, headers = stand_in.api(method, parsed.path, query, body, bearer)
            if self.hung_up_after(transport):
                return
            return self._send(status, answer, headers)

        def _send(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(answer, default=str).encode()
            if stand_in.latency:
                time.sleep(stand_in.latency)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
