"""Settings from the environment or `.env` (pydantic-settings). Names are a fixed interface."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from faq.answering import DEFAULT_BACKEND, Backend, backend_name
from ledger.approvals import ApprovalThresholds
from ledger.errors import LedgerError

if TYPE_CHECKING:
    from ledger.db import Database
    from ledger.scans.detectors import ScanOptions

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
    scan_cron: str = Field("0 * * * *", alias="CREDITBOT_SCAN_CRON")
    # "static" (default) ships in the package; "hybrid" needs the optional embedding extra (faq/README.md) and
    # without it the FAQ answers with "tfidf".
    faq_backend: Backend = Field(DEFAULT_BACKEND, alias="CREDITBOT_FAQ_BACKEND")

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
    """The configured ledger with the configured rules: every front end opens it this way, so none skips a rule."""
    from ledger.db import Database
    from ledger.rules import Rules

    return Database(settings.database_url, rules=Rules(approval=settings.approval_threshold))


def scan_options(settings: Settings) -> ScanOptions:
    """The scans' settings (the duplicate window), as the ledger's scans take them."""
    from ledger.scans.detectors import ScanOptions

    return ScanOptions(duplicate_window_days=settings.duplicate_window_days)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
