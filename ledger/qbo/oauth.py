"""Intuit's OAuth 2.0 authorization-code flow, through Intuit's own client (intuit-oauth).

`IntuitOAuth` wraps one `intuitlib.client.AuthClient`, which reads the OAuth endpoints from the discovery document
of QBO_ENVIRONMENT (`sandbox`, `production`, or a discovery URL) once. The client keeps tokens on itself, so calls
are serialized by a lock and the tokens are cleared after each call: nothing here keeps or logs a token.

Failures come out as: `InvalidGrant` (the refresh token or code is spent, revoked or expired: only a new
connection helps), `QBOAuthorizationFailed` (another refusal) or `QuickBooksUnavailable` (no answer, or 5xx).
A refresh is never retried after its request was sent: Intuit may have rotated the token already.

What Intuit documents about a refresh token after a refresh (the ground for connection.py's refresh window):
- Use the refresh token from the most recent token-endpoint answer; previous refresh tokens expire 24 hours after
  a new one is received (Intuit's oauth-jsclient README, https://github.com/intuit/oauth-jsclient#refresh-access_token).
- The value changes about every 24-26 hours, not necessarily at each refresh (Intuit staff in
  https://github.com/intuit/oauth-jsclient/issues/74 and https://github.com/IntuitDeveloper/oauth2-nodejs/issues/2).
- A refresh token's rolling 100-day life is now capped at five years, reported in `x_refresh_token_expires_in`
  (https://blogs.a.intuit.com/2025/11/12/important-changes-to-refresh-token-policy).
Intuit does not document what a refresh with a previous token answers, only that it keeps working for 24 hours.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ledger.qbo.config import QBOConfig
from ledger.qbo.errors import QBOAuthorizationFailed, QuickBooksUnavailable


class InvalidGrant(Exception):
    """Intuit answered `invalid_grant`: the grant (refresh token or code) can never be used again."""


@dataclass(frozen=True, repr=False)
class TokenGrant:
    access_token: str
    refresh_token: str
    expires_in_s: int
    refresh_expires_in_s: int | None

    def __repr__(self) -> str:  # never show a token, even in a traceback's locals
        return f"TokenGrant(expires_in_s={self.expires_in_s}, refresh_expires_in_s={self.refresh_expires_in_s})"


class IntuitOAuth:
    def __init__(self, config: QBOConfig) -> None:
        self._config = config
        self._client: AuthClient | None = None
        self._lock = threading.Lock()

    def authorization_url(self, state: str) -> str:
        with self._lock:
            return self._auth_client("start connecting to QuickBooks").get_authorization_url(
                [Scopes.ACCOUNTING], state_token=state
            )

    def exchange(self, code: str, realm_id: str) -> TokenGrant:
        return self._call("finish connecting to QuickBooks", lambda client: client.get_bearer_token(code, realm_id))

    def refresh(self, refresh_token: str) -> TokenGrant:
        return self._call("refresh the QuickBooks sign-in", lambda client: client.refresh(refresh_token))

    def revoke(self, token: str) -> None:
        self._call("disconnect from QuickBooks", lambda client: client.revoke(token), grant=False)

    # ---------------------------------------------------------------------------------------------------

    def _call(self, doing: str, request: Any, grant: bool = True) -> Any:
        with self._lock:
            client = self._auth_client(doing)
            try:
                request(client)
                return _grant(client, doing) if grant else None
            except AuthClientError as refused:
                raise _refusal(refused, doing) from None
            except requests.RequestException as unreachable:
                raise QuickBooksUnavailable(doing, type(unreachable).__name__) from None
            finally:
                client.access_token = client.refresh_token = client.id_token = None

    def _auth_client(self, doing: str) -> AuthClient:
        if self._client is None:
            config = self._config
            try:
                self._client = _DiscoveringClient(
                    config.client_id, config.client_secret, config.redirect_uri, config.environment, config.timeout_s
                )
            except AuthClientError as refused:
                raise QuickBooksUnavailable(
                    doing, f"the discovery document answered HTTP {refused.status_code}"
                ) from None
            except requests.RequestException as unreachable:
                raise QuickBooksUnavailable(
                    doing, f"cannot read the discovery document ({type(unreachable).__name__})"
                ) from None
        return self._client


class _DiscoveringClient(AuthClient):
    """AuthClient whose session retries what is safe to retry (GETs; connections never made) and times out."""

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str, environment: str, timeout_s: float):
        self._timeout_s = timeout_s
        super().__init__(client_id, client_secret, redirect_uri, environment)  # reads the discovery document
        # POSTs are retried only when the connection was never made (`connect`): a sent refresh may have rotated.
        retry = Retry(total=3, connect=3, read=0, status=3, backoff_factor=0.3, status_forcelist=(500, 502, 503, 504))
        self.mount("https://", HTTPAdapter(max_retries=retry))
        self.mount("http://", HTTPAdapter(max_retries=retry))

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout_s)
        return super().request(method, url, **kwargs)


def _grant(client: AuthClient, doing: str) -> TokenGrant:
    if not client.access_token or not client.refresh_token:
        raise QBOAuthorizationFailed("Intuit's answer carried no tokens")
    hard = client.x_refresh_token_expires_in
    return TokenGrant(
        client.access_token, client.refresh_token, int(client.expires_in or 3600), int(hard) if hard else None
    )


def _refusal(refused: AuthClientError, doing: str) -> Exception:
    if refused.status_code >= 500:
        return QuickBooksUnavailable(doing, f"HTTP {refused.status_code}")
    try:
        error = refused.response.json().get("error", "")
    except ValueError:
        error = ""
    if error == "invalid_grant":
        return InvalidGrant()
    return QBOAuthorizationFailed(f"Intuit refused it ({error or f'HTTP {refused.status_code}'})")
