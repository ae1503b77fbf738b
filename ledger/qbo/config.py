"""How creditbot reaches QuickBooks Online: the app's keys, the environment and the API's base URL.

The bot builds one `QBOConfig` from its settings (`bot.settings.qbo_config`); nothing here reads the environment.
`environment` is `sandbox`, `production`, or the URL of an OpenID discovery document (how a test points creditbot
at a local stand-in); Intuit's OAuth client reads the OAuth endpoints from that document.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.qbo.errors import QBONotConfigured

SCOPE = "com.intuit.quickbooks.accounting"
API_URLS = {
    "sandbox": "https://sandbox-quickbooks.api.intuit.com/v3",
    "production": "https://quickbooks.api.intuit.com/v3",
}
# Intuit's current API minor version: responses carry the fields the sync reads.
MINOR_VERSION = "75"


@dataclass(frozen=True)
class QBOConfig:
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    environment: str
    api_url: str
    secret_key: str = field(repr=False)
    webhook_verifier_token: str = field(default="", repr=False)
    # HTTP: seconds per request, retries of 429/5xx (Retry-After honoured), first backoff in seconds.
    timeout_s: float = 30.0
    retries: int = 4
    backoff_s: float = 0.5

    @classmethod
    def build(
        cls,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        environment: str,
        api_url: str,
        secret_key: str,
        webhook_verifier_token: str = "",
        **http: float,
    ) -> QBOConfig:
        """The configuration, or QBONotConfigured naming every missing setting."""
        environment = environment.strip()
        if environment.lower() in ("sandbox", "production"):
            environment = environment.lower()
        api_url = (api_url.strip() or API_URLS.get(environment, "")).rstrip("/")
        values = {
            "QBO_CLIENT_ID": client_id,
            "QBO_CLIENT_SECRET": client_secret,
            "QBO_REDIRECT_URI": redirect_uri,
            "QBO_ENVIRONMENT": environment,
            "QBO_API_URL": api_url,
            "CREDITBOT_SECRET_KEY": secret_key,
        }
        missing = [name for name, value in values.items() if not value.strip()]
        if missing:
            raise QBONotConfigured(missing)
        return cls(
            client_id.strip(),
            client_secret.strip(),
            redirect_uri.strip(),
            environment,
            api_url,
            secret_key.strip(),
            webhook_verifier_token.strip(),
            **http,  # type: ignore[arg-type]
        )
