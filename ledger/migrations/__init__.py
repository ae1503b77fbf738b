"""Alembic migrations. `HEAD` is the revision this code needs: a command checks a database against it without
loading Alembic (tests/test_ledger_schema.py checks that it is Alembic's one head)."""

HEAD = "0014_credit_expiry_index"
