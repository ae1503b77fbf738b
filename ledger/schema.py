"""Imports every module that defines tables, so `SQLModel.metadata` is complete (for Alembic and tests)."""

import ledger.requests  # noqa: F401  (pending approvals)
from ledger import models  # noqa: F401
from ledger.qbo import models as qbo_models  # noqa: F401
from ledger.scans import models as scan_models  # noqa: F401
