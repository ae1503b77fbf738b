"""Settings from the environment or `.env` (pydantic-settings). Names are a fixed interface."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from faq.backends import DEFAULT_BACKEND, Backend, backend_name
from ledger.errors import DatabaseUnreachable, LedgerError
from ledger.thresholds import ApprovalThresholds

if TYPE_CHECKING:
    from ledger.db import Database
    from ledger.qbo.config import QBOConfig
    from ledger.rules import Rules, ScanOptions

DEFAULT_DATABASE_URL = "sqlite:///creditbot.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field(DEFAULT_DATABASE_URL, alias="DATABASE_URL")
    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")
    billing_admins: Annotated[frozenset[str], NoDecode] = Field(frozenset(), alias="CREDITBOT_BILLING_ADMINS")
    alert_channel: str | None = Field(None, alias="CREDITBOT_ALERT_CHANNEL")
    # "USD:1000,EUR:900,JPY:150000", or a bare "1000" for every currency in the client's own (ledger/approvals.py).
    approval_threshold: Annotated[ApprovalThresholds, NoDecode] = Field(
        default_factory=ApprovalThresholds, alias="CREDITBOT_APPROVAL_THRESHOLD"
    )
    duplicate_window_days: int = Field(7, alias="CREDITBOT_DUPLICATE_WINDOW_DAYS", ge=0)
    expiry_warning_days: int = Field(14, alias="CREDITBOT_EXPIRY_WARNING_DAYS", ge=0)
    scan_cron: str = Field("0 * * * *", alias="CREDITBOT_SCAN_CRON")
    # "static" (default) ships in the package; "hybrid" needs the optional embedding extra (faq/README.md) and
    # without it the FAQ answers with "tfidf".
    faq_backend: Backend = Field(DEFAULT_BACKEND, alias="CREDITBOT_FAQ_BACKEND")
    # QuickBooks Online (README, "QuickBooks Online sync"): the Intuit app's keys and where QuickBooks is.
    qbo_client_id: str = Field("", alias="QBO_CLIENT_ID")
    qbo_client_secret: SecretStr | None = Field(None, alias="QBO_CLIENT_SECRET")
    qbo_redirect_uri: str = Field("", alias="QBO_REDIRECT_URI")
    # sandbox, production, or the URL of an OpenID discovery document.
    qbo_environment: str = Field("sandbox", alias="QBO_ENVIRONMENT")
    # The /v3 base URL; empty: the environment's own.
    qbo_api_url: str = Field("", alias="QBO_API_URL")
    qbo_webhook_verifier_token: SecretStr | None = Field(None, alias="QBO_WEBHOOK_VERIFIER_TOKEN")
    # Encrypts the QuickBooks tokens stored in the database; changing it means connecting again.
    secret_key: SecretStr | None = Field(None, alias="CREDITBOT_SECRET_KEY")
    qbo_poll_cron: str = Field("*/15 * * * *", alias="CREDITBOT_QBO_POLL_CRON")
    # Slack's home tab is published again at most this often per person (views.publish is rate limited).
    home_refresh_seconds: float = Field(5.0, alias="CREDITBOT_HOME_REFRESH_SECONDS", ge=0)
    # How long a Slack Web API call may take before it is given up (and, where safe, retried).
    slack_timeout_seconds: float = Field(10.0, alias="CREDITBOT_SLACK_TIMEOUT_SECONDS", gt=0)

    @field_validator("billing_admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        # A comma- or space-separated list of Slack user ids: "U123,U456".
        if isinstance(value, str):
            return frozenset(part for part in value.replace(",", " ").split() if part)
        return value

    @field_validator("faq_backend", mode="before")
    @classmethod
    def _backend_in_lowercase(cls, value: object) -> object:
        return backend_name(value) if isinstance(value, str) else value

    @field_validator("approval_threshold", mode="before")
    @classmethod
    def _parse_thresholds(cls, value: object) -> object:
        if isinstance(value, str | int | Decimal):
            try:
                return ApprovalThresholds.parse(str(value))
            except LedgerError as invalid:
                raise ValueError(invalid.message) from None
        return value


def open_database(settings: Settings) -> Database:
    """The configured ledger with the configured rules: every front end opens it this way, so none skips a rule.

    A DATABASE_URL that is not a URL, or names a driver that is not installed, is DatabaseUnreachable here; a
    database that is down is found at the first connection (see `unreachable`)."""
    from ledger.db import Database

    try:
        return Database(settings.database_url, rules=ledger_rules(settings))
    except Exception as failed:
        problem = unreachable(failed, settings.database_url, opening=True)
        if problem is None:
            raise
        raise problem from None


def ledger_rules(settings: Settings) -> Rules:
    """The rules the ledger enforces on every write: approval thresholds, and the scans' options."""
    from ledger.rules import Rules

    return Rules(approval=settings.approval_threshold, scan=scan_options(settings))


# PostgreSQL's SQLSTATEs for "not reachable": connection exceptions (08), the server shutting down or starting
# (57P01-57P03), no such database (3D000) and refused credentials (28).
_UNREACHABLE_PREFIXES = ("08", "57P01", "57P02", "57P03", "3D000", "28")
# What SQLite says when the file cannot be opened (a missing folder, no permission) or is not a database.
_SQLITE_UNREACHABLE = ("unable to open database file", "file is not a database", "disk i/o error")


def unreachable(error: BaseException, database_url: str, opening: bool = False) -> DatabaseUnreachable | None:
    """`error` as DatabaseUnreachable when it means the database cannot be opened or reached, else None.

    `opening`: the error came from making the engine, where an ImportError is the driver's. The database is named
    by its URL with the password hidden; a URL that cannot be parsed is not shown at all (it may hold a password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, NoSuchModuleError, OperationalError

    try:
        url = make_url(database_url)
        shown = url.render_as_string(hide_password=True)
    except ArgumentError:
        if not opening and not isinstance(error, ArgumentError):
            return None  # the URL was never usable, so this error is about something else
        return DatabaseUnreachable(
            "in DATABASE_URL", "it is not a database URL (e.g. sqlite:///creditbot.db or postgresql+psycopg://host/db)"
        )
    if isinstance(error, NoSuchModuleError) or (opening and isinstance(error, ImportError)):
        why = f"no installed driver for “{url.drivername}”; use sqlite or postgresql+psycopg"
        return DatabaseUnreachable(shown, why)
    if opening and isinstance(error, ArgumentError | ValueError | TypeError):
        return DatabaseUnreachable(shown, f"the URL is not usable ({_first_line(error)})")
    if not isinstance(error, DBAPIError):
        return None
    why = _first_line(error.orig) if error.orig is not None else _first_line(error)
    if url.get_backend_name() == "sqlite":
        if not any(phrase in why.lower() for phrase in _SQLITE_UNREACHABLE):
            return None
        folder = Path(url.database or "").parent
        if url.database and not folder.is_dir():
            why = f"the folder {folder} does not exist"
        return DatabaseUnreachable(shown, why)
    sqlstate = getattr(error.orig, "sqlstate", None)
    # A connection that failed or broke has no SQLSTATE (psycopg's "connection failed", "server closed ...").
    if error.connection_invalidated or (sqlstate is None and isinstance(error, OperationalError | InterfaceError)):
        return DatabaseUnreachable(shown, why)
    if sqlstate is not None and sqlstate.startswith(_UNREACHABLE_PREFIXES):
        return DatabaseUnreachable(shown, why)
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]


def scan_options(settings: Settings) -> ScanOptions:
    """The scans' settings (the duplicate window), as the ledger's scans take them."""
    from ledger.rules import ScanOptions

    return ScanOptions(
        duplicate_window_days=settings.duplicate_window_days, expiry_warning_days=settings.expiry_warning_days
    )


def qbo_configured(settings: Settings) -> bool:
    """Whether this installation uses QuickBooks Online at all (QBO_CLIENT_ID is set)."""
    return bool(settings.qbo_client_id.strip())


def qbo_config(settings: Settings) -> QBOConfig:
    """The QuickBooks Online settings as the ledger takes them; QBONotConfigured names what is missing."""
    from ledger.qbo.config import QBOConfig

    def plain(value: SecretStr | None) -> str:
        return value.get_secret_value() if value is not None else ""

    return QBOConfig.build(
        client_id=settings.qbo_client_id,
        client_secret=plain(settings.qbo_client_secret),
        redirect_uri=settings.qbo_redirect_uri,
        environment=settings.qbo_environment,
        api_url=settings.qbo_api_url,
        secret_key=plain(settings.secret_key),
        webhook_verifier_token=plain(settings.qbo_webhook_verifier_token),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
