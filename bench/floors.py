"""The floors the benchmarks compare against: the least work that does the same job, written plainly."""

from __future__ import annotations

import csv
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ledger.db import Database

# The import's tables with the same unique keys, and nothing else.
_FLOOR_SCHEMA = """
CREATE TABLE client (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, currency TEXT NOT NULL);
CREATE TABLE project (id TEXT PRIMARY KEY, client_id TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE credit (external_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, amount TEXT, issued_on TEXT, reason TEXT);
CREATE TABLE invoice (number TEXT PRIMARY KEY, client_id TEXT NOT NULL, issued_on TEXT, total TEXT);
CREATE TABLE payment (external_id TEXT PRIMARY KEY, invoice_number TEXT NOT NULL, kind TEXT, amount TEXT,
                      received_on TEXT);
"""
_FILES = (("clients.csv", "client"), ("projects.csv", "project"), ("credits.csv", "credit"),
          ("invoices.csv", "invoice"), ("payments.csv", "payment"))  # fmt: skip


def sqlite_executemany_import(directory: Path, database: Path) -> int:
    """stdlib csv + sqlite3 executemany of the same rows with the same unique keys, one transaction."""
    connection = sqlite3.connect(database, isolation_level=None)
    connection.executescript(_FLOOR_SCHEMA)
    rows = 0
    connection.execute("BEGIN")
    for file, table in _FILES:
        with (directory / file).open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            marks = ", ".join("?" for _ in header)
            # Streamed from the file, as the import streams: the floor's memory is the least the job needs.
            rows += connection.executemany(f"INSERT INTO {table} VALUES ({marks})", reader).rowcount
    connection.execute("COMMIT")
    connection.close()
    return rows


def postgres_copy_import(db: Database, directory: Path) -> int:
    """A plain COPY (psycopg) of the same rows into the same tables, one transaction: each file's columns as the
    table stores them (amounts in minor units, invoice numbers as ids), nothing checked or compared."""
    now = datetime.now(UTC)
    raw = db.engine.raw_connection()
    rows = 0
    try:
        cursor = raw.cursor()
        for file, table, columns, convert in _COPIES:
            with (directory / file).open(newline="", encoding="utf-8") as handle:
                lines = csv.reader(handle)
                next(lines)
                invoices = "SELECT number, id, client_id FROM invoice"
                ids = {row[0]: row[1:] for row in cursor.execute(invoices)} if table == "payment" else {}
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for line in lines:
                        copy.write_row(convert(line, now, ids))
                        rows += 1
        raw.commit()
    finally:
        raw.close()
    return rows


def _minor(amount: str) -> int:
    whole, _, cents = amount.partition(".")
    return int(whole) * 100 + int(cents.ljust(2, "0"))


_COPIES = (
    ("clients.csv", "client", "id, name, name_key, currency, credits_issued_minor, credits_applied_minor, created_at",
     lambda line, now, _ids: (line[0], line[1], line[1].lower(), line[2], 0, 0, now)),
    ("projects.csv", "project", "id, client_id, name", lambda line, _now, _ids: line),
    ("credits.csv", "credit", "external_id, client_id, amount_minor, issued_on, reason, created_by, created_at",
     lambda line, now, _ids: (line[0], line[1], _minor(line[2]), line[3], line[4], "import", now)),
    ("invoices.csv", "invoice", "number, client_id, issued_on, total_minor, created_at, cash_paid_minor, "
     "credits_applied_minor, qb_credit_memos_minor",
     lambda line, now, _ids: (line[0], line[1], line[2], _minor(line[3]), now, 0, 0, 0)),
    ("payments.csv", "payment", "external_id, invoice_id, client_id, kind, amount_minor, received_on, created_at, "
     "created_by",
     lambda line, _now, ids: (line[0], *ids[line[1]], line[2], _minor(line[3]), line[4], line[4], "import")),
)  # fmt: skip


if __name__ == "__main__":  # the whole-process floor: python -m bench.floors CSV_DIR DATABASE
    sqlite_executemany_import(Path(sys.argv[1]), Path(sys.argv[2]))
