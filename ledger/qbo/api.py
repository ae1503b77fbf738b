"""QuickBooks Online's v3 API over HTTP: requests with urllib3's Retry for 429 and 5xx.

- Retries back off exponentially and honour `Retry-After`. POSTs are retried too: every POST creditbot sends
  carries a `requestid`, which QuickBooks uses to carry a request out once however often it arrives.
- A 401 refreshes the access token (`Connection.refresh`, the locked read-refresh-write) and tries again, up to
  three more times.
- A Fault is a `QuickBooksRefused` quoting QuickBooks' Message and Detail; no answer, or a 429/5xx that outlasted the
  retries, is `QuickBooksUnavailable`. JSON numbers are read as Decimal, never float.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3 import exceptions as urllib3_exceptions
from urllib3.util.retry import Retry

from ledger.qbo.config import MINOR_VERSION, QBOConfig
from ledger.qbo.connection import Connection
from ledger.qbo.errors import QuickBooksRefused, QuickBooksUnavailable

_RETRIED_STATUSES = (429, 500, 502, 503, 504)
# A 401 refreshes and tries again; several instances refreshing at once may each see the other's token expire.
_AUTH_ATTEMPTS = 4
# The segment of an entity's URL: /company/{realm}/invoice/{id}.
ENTITY_PATHS = {"Invoice": "invoice", "Payment": "payment", "CreditMemo": "creditmemo"}


class QBOApi:
    def __init__(self, config: QBOConfig, connection: Connection) -> None:
        self.config, self.connection = config, connection
        self.session = requests.Session()
        retry = Retry(
            total=config.retries,
            connect=config.retries,
            read=config.retries,
            status=config.retries,
            backoff_factor=config.backoff_s,
            status_forcelist=_RETRIED_STATUSES,
            allowed_methods=None,  # every POST carries a requestid (see the module docstring)
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    # --- the calls creditbot makes -----------------------------------------------------------------------

    def cdc(self, entities: tuple[str, ...], changed_since: str) -> dict[str, Any]:
        params = {"entities": ",".join(entities), "changedSince": changed_since}
        return self.request("GET", "cdc", "read QuickBooks' changes (change data capture)", params=params)

    def query(self, sql: str, doing: str = "query QuickBooks") -> dict[str, Any]:
        return self.request("GET", "query", doing, params={"query": sql})

    def read(self, entity_type: str, qbo_id: str) -> dict[str, Any]:
        path = f"{ENTITY_PATHS[entity_type]}/{quote(qbo_id, safe='')}"
        return self.request("GET", path, f"read QuickBooks {entity_type} {qbo_id}")

    def create_payment(self, body: dict[str, Any], request_id: str, doing: str) -> dict[str, Any]:
        return self.request("POST", "payment", doing, params={"requestid": request_id}, body=body)

    # --- HTTP --------------------------------------------------------------------------------------------

    def request(
        self, method: str, path: str, doing: str, params: dict[str, str] | None = None, body: Any = None
    ) -> dict[str, Any]:
        token = self.connection.access_token()
        for attempt in range(1, _AUTH_ATTEMPTS + 1):
            url = f"{self.config.api_url}/company/{quote(token.realm_id, safe='')}/{path}"
            try:
                response = self.session.request(
                    method,
                    url,
                    params={**(params or {}), "minorversion": MINOR_VERSION},
                    data=None if body is None else json.dumps(body, default=str),
                    headers={
                        "Authorization": f"Bearer {token.token}",
                        "Accept": "application/json",
                        "Content-Type": "application/json" if body is not None else "text/plain",
                    },
                    timeout=self.config.timeout_s,
                )
            except requests.RequestException as unreachable:
                raise QuickBooksUnavailable(doing, _why(unreachable)) from None
            if response.status_code == 401 and attempt < _AUTH_ATTEMPTS:
                token = self.connection.refresh(token.version)
                continue
            return _answer(response, doing)
        raise AssertionError("unreachable")


def _answer(response: requests.Response, doing: str) -> dict[str, Any]:
    try:
        document = json.loads(response.content or b"{}", parse_float=Decimal)
    except ValueError:
        document = None
    status = response.status_code
    if status in _RETRIED_STATUSES:
        raise QuickBooksUnavailable(doing, f"HTTP {status} after retrying")
    if status >= 400 or not isinstance(document, dict) or "Fault" in document:
        if not isinstance(document, dict) or "Fault" not in document:
            if status < 400:
                raise QuickBooksUnavailable(doing, f"HTTP {status} with an answer that is not QuickBooks JSON")
            raise QuickBooksRefused(doing, [(f"HTTP {status}", "")], status)
        raise QuickBooksRefused(doing, fault_errors(document["Fault"]), status)
    return document


def fault_errors(fault: Any) -> list[tuple[str, str]]:
    """(Message, Detail) of each error in a QuickBooks Fault."""
    errors = fault.get("Error") if isinstance(fault, dict) else None
    found = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            found.append((str(error.get("Message", "")).strip()[:300], str(error.get("Detail", "")).strip()[:500]))
    return found or [(str(fault.get("type", "Fault")) if isinstance(fault, dict) else "Fault", "")]


def _why(failure: requests.RequestException) -> str:
    # A read timeout that outlasted the retries comes as a ConnectionError wrapping urllib3's MaxRetryError.
    reason = getattr(failure.args[0], "reason", None) if failure.args else None
    if isinstance(reason, urllib3_exceptions.NewConnectionError):  # urllib3 counts it as a connect timeout
        return "it could not be reached"
    if isinstance(failure, requests.Timeout) or isinstance(reason, urllib3_exceptions.TimeoutError):
        return "it timed out"
    if isinstance(failure, requests.exceptions.RetryError):
        return "it kept answering with errors"
    if isinstance(failure, requests.ConnectionError):
        return "it could not be reached"
    return f"{type(failure).__name__}"
