"""Imports every module that defines tables, so `SQLModel.metadata` is complete (for Alembic and tests)."""

from ledger import models  # noqa: F401
from ledger.qbo import models as qbo_models  # noqa: F401
