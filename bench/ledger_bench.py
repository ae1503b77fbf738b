"""Ledger benchmark: CSV import rows/s and apply-credit ops/s, each beside its floor, as ratios.

    python -m bench.ledger_bench --payments 100000 [--postgres URL] [--json out.json]

- import: `creditbot import` of a synthetic ledger into a new SQLite file, against stdlib csv + sqlite3
  executemany of the same rows with the same unique keys in one transaction (bench/floors.py).
- apply: `apply_credit` with 1 and 8 concurrent writers, against the same SQL statements issued raw through the
  driver in one short transaction each (lock the wallet through the invoice's number, lock the invoice, check the
  key, insert the payment, update both totals, insert history and key). On SQLite and, with --postgres, on
  PostgreSQL.
Figures are wall-clock on this machine; compare the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.floors import sqlite_executemany_import
from bench.synthetic import write_ledger
from ledger import operations
from ledger.approvals import WriteRequest
from ledger.csv_import.loader import import_directory
from ledger.db import Database

APPLY_CLIENTS = 64
APPLY_OPS = 800


def bench_import(payments: int, folder: Path) -> dict[str, Any]:
    csv_dir = folder / "csv"
    write_ledger(csv_dir, payments)
    started = time.perf_counter()
    rows = sqlite_executemany_import(csv_dir, folder / "floor.db")
    floor = time.perf_counter() - started
    db = Database(f"sqlite:///{folder / 'import.db'}")
    db.ensure_schema()
    started = time.perf_counter()
    import_directory(db, csv_dir)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    import_directory(db, csv_dir)  # the same files again: must change nothing
    again = time.perf_counter() - started
    db.dispose()
    return {
        "path": "import",
        "rows": rows,
        "ours_rows_per_s": rows / ours,
        "floor_rows_per_s": rows / floor,
        "ratio": ours / floor,
        "reimport_rows_per_s": rows / again,
    }


def _apply_ledger(db: Database, folder: Path) -> None:
    """APPLY_CLIENTS clients with plenty of credit and invoices, for writers to hit in parallel."""
    csv_dir = folder / f"apply-{uuid.uuid4().hex[:6]}"
    csv_dir.mkdir()
    (csv_dir / "clients.csv").write_text(
        "client_id,name\n" + "".join(f"A{c},Apply client {c}\n" for c in range(APPLY_CLIENTS))
    )
    (csv_dir / "credits.csv").write_text(
        "credit_id,client_id,amount,issued_on\n"
        + "".join(f"AC{c},A{c},1000000.00,2026-01-01\n" for c in range(APPLY_CLIENTS))
    )
    (csv_dir / "invoices.csv").write_text(
        "invoice_number,client_id,issued_on,total\n"
        + "".join(f"AI-{c}-{i},A{c},2026-01-01,1000000.00\n" for c in range(APPLY_CLIENTS) for i in range(4))
    )
    import_directory(db, csv_dir)


def _run_writers(writers: int, op: Callable[[int, int], None]) -> float:
    per_writer = APPLY_OPS // writers
    start = threading.Barrier(writers + 1)

    def work(writer: int) -> None:
        start.wait()
        for n in range(per_writer):
            op(writer, n)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return per_writer * writers / (time.perf_counter() - began)


def bench_apply(url: str, label: str, folder: Path) -> list[dict[str, Any]]:
    db = Database(url)
    db.upgrade()  # a bench database: bring it to the current schema, whatever it had
    _apply_ledger(db, folder)
    results = []
    for writers in (1, 8):
        run = uuid.uuid4().hex[:8]

        def ours(writer: int, n: int, run: str = run) -> None:
            number = f"AI-{(writer * 7 + n) % APPLY_CLIENTS}-{n % 4}"
            db.transact(
                operations.apply_credit, number, "0.01", None, WriteRequest("bench", f"bench:{run}:{writer}:{n}")
            )

        def floor(writer: int, n: int, run: str = run) -> None:
            number = f"AI-{(writer * 7 + n) % APPLY_CLIENTS}-{n % 4}"
            _raw_apply(db, number, f"floor:{run}:{writer}:{n}")

        ours_ops = _run_writers(writers, ours)
        floor_ops = _run_writers(writers, floor)
        results.append(
            {
                "path": f"apply ({label}, {writers} writer{'s' if writers > 1 else ''})",
                "ours_ops_per_s": ours_ops,
                "floor_ops_per_s": floor_ops,
                "ratio": floor_ops / ours_ops,
            }
        )
    db.dispose()
    return results


# What the floor writes where creditbot writes computed values (JSON, the request's hash): the same shape, built once.
_FLOOR_BEFORE = '{"available_credit": "999999.99", "balance_due": "999999.99"}'
_FLOOR_AFTER = '{"available_credit": "999999.98", "balance_due": "999999.98", "credit_applied": "0.01"}'
_FLOOR_HASH = "0" * 64  # a sha256 in hex, as creditbot stores
_FLOOR_RESULT = json.dumps(
    {"application_id": 1, "invoice_number": "AI-0-0", "client_id": "A0", "client_name": "Apply client 0",
     "currency": "USD", "amount_minor": 1, "project_id": None, "available_before_minor": 99999999,
     "available_after_minor": 99999998, "balance_due_before_minor": 99999999, "balance_due_after_minor": 99999998}
)  # fmt: skip


def _raw_apply(db: Database, number: str, key: str) -> None:
    """The same statements apply_credit issues, written by hand, through the raw driver connection.

    Lock the client through the invoice's number, lock the invoice, look up the key, insert the payment (returning
    its id), move both totals, insert the history entry and the key.
    """
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        mark = "?" if db.is_sqlite else "%s"
        lock_client = "" if db.is_sqlite else " FOR NO KEY UPDATE OF client"
        lock_invoice = "" if db.is_sqlite else " FOR NO KEY UPDATE"
        if db.is_sqlite:
            cursor.execute("BEGIN IMMEDIATE")
        cursor.execute(
            "SELECT invoice.id, client.id, client.name, client.currency, client.credits_issued_minor, "
            "client.credits_applied_minor FROM invoice JOIN client ON client.id = invoice.client_id "
            f"WHERE invoice.number = {mark}{lock_client}",
            (number,),
        )
        invoice_id, client_id, _, _, issued, applied = cursor.fetchone()
        cursor.execute(
            "SELECT number, total_minor, cash_paid_minor, credits_applied_minor, qb_credit_memos_minor, "
            f"posted_to_qb_at FROM invoice WHERE id = {mark}{lock_invoice}",
            (invoice_id,),
        )
        _, total, cash, credits, memos, posted_at = cursor.fetchone()
        cursor.execute(f"SELECT operation, request_hash, result FROM idempotency_key WHERE key = {mark}", (key,))
        assert cursor.fetchone() is None and posted_at is None
        assert issued - applied >= 1 and total - cash - credits - memos >= 1
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        cursor.execute(
            "INSERT INTO payment (invoice_id, client_id, kind, amount_minor, received_on, created_at, project_id, "
            f"created_by) VALUES ({mark}, {mark}, 'AccountCredit', 1, {mark}, {mark}, NULL, 'floor') RETURNING id",
            (invoice_id, client_id, now[:10], now),
        )
        payment_id = cursor.fetchone()[0]
        cursor.execute(f"UPDATE client SET credits_applied_minor = credits_applied_minor + 1 WHERE id = {mark}",
                       (client_id,))  # fmt: skip
        cursor.execute(f"UPDATE invoice SET credits_applied_minor = credits_applied_minor + 1 WHERE id = {mark}",
                       (invoice_id,))  # fmt: skip
        cursor.execute(
            "INSERT INTO history (at, actor, action, outcome, client_id, invoice_id, subject, before, after, detail) "
            f"VALUES ({mark}, 'floor', 'apply_credit', 'done', {mark}, {mark}, {mark}, {mark}, {mark}, '')",
            (now, client_id, invoice_id, f"payment:{payment_id}", _FLOOR_BEFORE, _FLOOR_AFTER),
        )
        cursor.execute(
            "INSERT INTO idempotency_key (key, operation, request_hash, result, created_at) "
            f"VALUES ({mark}, 'apply_credit', {mark}, {mark}, {mark})",
            (key, _FLOOR_HASH, _FLOOR_RESULT, now),
        )
        raw.commit()
    finally:
        raw.close()


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| path | creditbot | floor | ratio (creditbot cost / floor cost) |", "|---|---|---|---|"]
    for row in results:
        if row["path"] == "import":
            lines.append(
                f"| import ({row['rows']:,} rows) | {row['ours_rows_per_s']:,.0f} rows/s | "
                f"{row['floor_rows_per_s']:,.0f} rows/s | {row['ratio']:.2f}x |"
            )
        else:
            lines.append(
                f"| {row['path']} | {row['ours_ops_per_s']:,.0f} ops/s | {row['floor_ops_per_s']:,.0f} ops/s | "
                f"{row['ratio']:.2f}x |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL (postgresql+psycopg://...) to bench apply on too")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="creditbot-bench-") as tmp:
        folder = Path(tmp)
        results = [bench_import(args.payments, folder)]
        results += bench_apply(f"sqlite:///{folder / 'apply.db'}", "SQLite", folder)
        if args.postgres:
            results += bench_apply(args.postgres, "PostgreSQL", folder)
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
