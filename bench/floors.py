"""The floors the benchmarks compare against: the least work that does the same job, written plainly."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

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
            data = list(reader)
            connection.executemany(f"INSERT INTO {table} VALUES ({marks})", data)
            rows += len(data)
    connection.execute("COMMIT")
    connection.close()
    return rows
