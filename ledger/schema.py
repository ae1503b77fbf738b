"""Imports every module that defines tables, so `SQLModel.metadata` is complete (for Alembic and tests)."""

from ledger import models  # noqa: F401
