"""Letting days pass for expiry in tests: every stored expiry date moves back by the same number of days.

The ledger reads today's date from the clock; moving the expiry dates (credit.expires_on, client.next_expiry_on)
back by N days is, for expiry, the same as N days passing, and needs no clock in the ledger."""

from __future__ import annotations

from datetime import date, timedelta

from ledger.db import Database


def days_pass(db: Database, days: int) -> None:
    with db.write() as unit:
        session = unit.connection
        for table, key, column in (("credit", "id", "expires_on"), ("client", "id", "next_expiry_on")):
            rows = session.exec_driver_sql(f"SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL").all()
            mark = "?" if unit.is_sqlite else "%s"
            for row_id, day in rows:
                moved = (date.fromisoformat(day) if isinstance(day, str) else day) - timedelta(days=days)
                session.exec_driver_sql(
                    f"UPDATE {table} SET {column} = {mark} WHERE {key} = {mark}", (unit.day(moved), row_id)
                )
