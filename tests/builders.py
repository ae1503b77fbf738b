"""Building ledgers for tests through the real CSV import (no hand-made rows, no mocks), reading them back, and
racing callers on one ledger."""

from __future__ import annotations

import csv
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlmodel import func, select

from ledger import reads
from ledger.csv_import.loader import ImportSummary, import_directory
from ledger.db import Database


def write_csv(directory: Path, name: str, rows: list[dict[str, Any]], fieldnames: list[str] | None = None) -> None:
    """Rows as a CSV file; the columns are `fieldnames` (empty cells where a row has none) or every row's keys."""
    columns: list[str] = list(fieldnames or ())
    for row in rows:
        columns.extend(column for column in row if column not in columns)
    with (directory / name).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def import_rows(db: Database, **tables: list[dict[str, Any]]) -> ImportSummary:
    """Import tables given as keyword arguments: clients=[...], invoices=[...], credits=[...], payments=[...]."""
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        for name, rows in tables.items():
            if rows:
                write_csv(directory, f"{name}.csv", rows)
        return import_directory(db, directory)


def client(client_id: str = "C1", name: str | None = None, currency: str = "USD", **extra: Any) -> dict[str, Any]:
    return {"client_id": client_id, "name": name or f"Client {client_id}", "currency": currency, **extra}


def invoice(number: str, client_id: str = "C1", total: str = "1000.00", **extra: Any) -> dict[str, Any]:
    return {"invoice_number": number, "client_id": client_id, "issued_on": "2026-10-01", "total": total, **extra}


def credit(credit_id: str, client_id: str = "C1", amount: str = "100.00", **extra: Any) -> dict[str, Any]:
    return {"credit_id": credit_id, "client_id": client_id, "amount": amount, "issued_on": "2026-10-02", **extra}


def payment(payment_id: str, number: str, kind: str = "check", amount: str = "100.00", **extra: Any) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "invoice_number": number,
        "type": kind,
        "amount": amount,
        "received_on": "2026-10-03",
        **extra,
    }


def simple_ledger(db: Database, credit_amount: str = "500.00", total: str = "1000.00") -> None:
    """One USD client "C1" (Client C1) with one project, credit `credit_amount`, and an open invoice INV-1."""
    import_rows(
        db,
        clients=[client("C1")],
        projects=[{"project_id": "P1", "client_id": "C1", "name": "Project One"}],
        invoices=[invoice("INV-1", total=total)],
        credits=[credit("CR-1", amount=credit_amount)],
    )


def empty(db: Database) -> None:
    """Delete every row, ids starting again from 1 (hypothesis runs many examples on one test's database)."""
    from sqlmodel import SQLModel

    tables = [f'"{table.name}"' for table in reversed(SQLModel.metadata.sorted_tables)]
    with db.engine.begin() as connection:
        if not db.is_sqlite:
            connection.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            return
        for table in tables:
            connection.exec_driver_sql(f"DELETE FROM {table}")


def available(db: Database, client_id: str = "C1") -> int:
    """The client's available credit, in minor units, as the ledger reads it."""
    with db.read() as unit:
        return reads.client_balance(unit, client_id).available_credit_minor


def due(db: Database, number: str) -> int:
    """An invoice's balance due in minor units, as the ledger's own read reports it."""
    with db.read() as unit:
        return reads.invoice_detail(unit, number).summary.balance_due_minor


def view_block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    """The block of a Slack view with this block_id."""
    return next(block for block in view["blocks"] if block.get("block_id") == block_id)


def row_counts(db: Database, *tables: Any) -> tuple[int, ...]:
    """How many rows each of `tables` (SQLModel classes) holds, read in one transaction."""
    with db.read() as unit:
        return tuple(unit.session.exec(select(func.count()).select_from(table)).one() for table in tables)


def race(db: Database, work: Callable[[Database, int], object], workers: int) -> list[object]:
    """Run `work(own_db, n)` for n in range(workers) in threads released at once, each with its own connection pool
    (like a process of its own); return what each returned or raised, in the order they finished."""
    outcomes: list[object] = []
    lock = threading.Lock()
    start = threading.Barrier(workers)

    def worker(n: int) -> None:
        own = Database(db.url.render_as_string(hide_password=False))
        start.wait()
        try:
            outcome = work(own, n)
        except Exception as failed:  # every outcome is checked by the caller
            outcome = failed
        finally:
            own.dispose()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
