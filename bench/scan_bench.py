"""Scan benchmark: a full scan against plain SQL doing the same groupings, and an incremental scan after 1,000
new payments against the full scan.

    python bench/scan_bench.py                          # 20,000 payments on a temporary SQLite file (CI size)
    python bench/scan_bench.py --payments 1000000       # by hand
    python bench/scan_bench.py --payments 100000 --url postgresql+psycopg://postgres@127.0.0.1:5432/creditbot_bench

The ledger is built through the real CSV import from deterministic CSV files (a fixed seed): clients, invoices
(some posted to QuickBooks, a few edited after posting by a second export), credits, and payments of every kind,
with a few planted mistakes of each finding kind. A PostgreSQL database named in --url must be called
creditbot_bench*; it is dropped and created afresh.

Targets (issue 4): full scan within 3x of the plain SQL; incremental after 1,000 new payments under 5% of full.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger import scans
from ledger.csv_import.loader import import_directory
from ledger.db import Database

console = Console(highlight=False, width=140)
START = date(2025, 1, 1)
AMOUNTS = [5000, 10000, 25000, 50000, 100000]  # minor units
CASH_KINDS = ["check", "ach", "wire", "card", "cash"]

# The groupings the detectors do, as one would write them by hand, with no scan machinery around them.
PLAIN_SQL = {
    "duplicate groups": """
        SELECT p.invoice_id, p.amount_minor, COUNT(*) FROM payment p
        WHERE p.kind = 'AccountCredit' AND NOT EXISTS (SELECT 1 FROM reversal r WHERE r.payment_id = p.id)
        GROUP BY p.invoice_id, p.amount_minor HAVING COUNT(*) > 1""",
    "credit applied per client": """
        SELECT a.client_id, a.applied, COALESCE(i.issued, 0) FROM
          (SELECT p.client_id, SUM(p.amount_minor) AS applied FROM payment p
           WHERE p.kind = 'AccountCredit' AND NOT EXISTS (SELECT 1 FROM reversal r WHERE r.payment_id = p.id)
           GROUP BY p.client_id) a
        LEFT JOIN (SELECT client_id, SUM(amount_minor) AS issued FROM credit GROUP BY client_id) i
          ON i.client_id = a.client_id
        WHERE a.applied > COALESCE(i.issued, 0)""",
    "paid per invoice": """
        SELECT i.id, i.total_minor, paid.total FROM
          (SELECT p.invoice_id, SUM(p.amount_minor) AS total FROM payment p
           WHERE NOT EXISTS (SELECT 1 FROM reversal r WHERE r.payment_id = p.id) GROUP BY p.invoice_id) paid
        JOIN invoice i ON i.id = paid.invoice_id WHERE paid.total > i.total_minor""",
    "edits after posting": """
        SELECT h.id FROM history h JOIN invoice i ON i.id = h.invoice_id
        WHERE h.action = 'import_edit' AND i.posted_to_qb_at IS NOT NULL AND h.at > i.posted_to_qb_at
        UNION ALL SELECT i.id FROM invoice i WHERE i.updated_at > i.posted_to_qb_at
        UNION ALL SELECT p.id FROM payment p JOIN invoice i ON i.id = p.invoice_id
        WHERE p.updated_at > i.posted_to_qb_at""",
    "credits after posting": """
        SELECT p.id FROM payment p JOIN invoice i ON i.id = p.invoice_id
        WHERE p.kind = 'AccountCredit' AND p.created_at > i.posted_to_qb_at
          AND NOT EXISTS (SELECT 1 FROM reversal r WHERE r.payment_id = p.id)""",
    "QuickBooks overpayments": """
        SELECT o.qb_payment_id FROM qb_overpayment o
        WHERE o.amount_minor > 0 AND NOT EXISTS (SELECT 1 FROM credit c WHERE c.qb_payment_id = o.qb_payment_id)""",
}


# --- the ledger ---------------------------------------------------------------------------------------------


def money(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def stamp(day: date, hour: int = 9) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00Z"


class LedgerWriter:
    """Deterministic CSV exports of a ledger with `payments` payments (about four per invoice)."""

    def __init__(self, payments: int, seed: int = 4) -> None:
        self.random = random.Random(seed)
        self.payments = payments
        self.client_count = max(5, payments // 100)
        self.invoice_count = max(10, payments // 4)
        self.invoices: list[tuple[str, str, date, date | None]] = []  # number, client, issued, posted
        self.next_payment = 0

    def write_initial(self, folder: Path) -> None:
        rng = self.random
        clients = [(f"C{n}", f"Client {n}") for n in range(self.client_count)]
        applied: dict[str, int] = {client_id: 0 for client_id, _ in clients}
        invoice_rows, payment_rows = [], []
        per_invoice = [1] * self.invoice_count
        for _ in range(self.payments - self.invoice_count):
            per_invoice[rng.randrange(self.invoice_count)] += 1
        for n, count in enumerate(per_invoice):
            client_id = clients[rng.randrange(len(clients))][0]
            issued = START + timedelta(days=rng.randrange(300))
            # Most invoices are posted after their payments came in; 1% before (credits after posting).
            posted = None
            if rng.random() < 0.5:
                posted = issued + timedelta(days=2 if rng.random() < 0.01 else 90)
            number = f"INV-{n}"
            self.invoices.append((number, client_id, issued, posted))
            paid = 0
            for _ in range(count):
                row = self.payment_row(number, client_id, issued, posted)
                paid += row["_minor"]
                if row["type"] == "AccountCredit":
                    applied[client_id] += row["_minor"]
                payment_rows.append(row)
            # 0.2% of invoices are overpaid (negative balance); the rest owe something or nothing.
            total = paid - 100 if rng.random() < 0.002 else paid + rng.choice([0, 0, 10000, 50000])
            invoice_rows.append(self.invoice_row(number, client_id, issued, posted, total))
        credit_rows = []
        for client_id, minor in applied.items():
            # 1% of clients have had more credit applied than issued.
            issued_minor = max(100, minor - 5000) if rng.random() < 0.01 else minor + 100000
            credit = {"credit_id": f"CR-{client_id}", "client_id": client_id, "amount": money(issued_minor)}
            credit_rows.append({**credit, "issued_on": START.isoformat(), "reason": "bench"})
        write(folder, "clients.csv", [{"client_id": c, "name": name} for c, name in clients])
        write(folder, "invoices.csv", invoice_rows)
        write(folder, "credits.csv", credit_rows)
        write(folder, "payments.csv", payment_rows)

    def payment_row(self, number: str, client_id: str, issued: date, posted: date | None) -> dict[str, str]:
        rng = self.random
        roll = rng.random()
        kind = "AccountCredit" if roll < 0.3 else ("QBCreditMemo" if roll < 0.35 else rng.choice(CASH_KINDS))
        minor = rng.choice(AMOUNTS)
        received = issued + timedelta(days=rng.randrange(60))
        updated = ""
        if posted is not None and rng.random() < 0.001:
            updated = stamp(posted + timedelta(days=5), 15)  # edited in the billing system after posting
        self.next_payment += 1
        return {
            "payment_id": f"PAY-{self.next_payment}",
            "invoice_number": number,
            "type": kind,
            "amount": money(minor),
            "received_on": received.isoformat(),
            "created_at": stamp(received),
            "updated_at": updated,
            "_minor": minor,  # type: ignore[dict-item]
        }

    def invoice_row(
        self, number: str, client_id: str, issued: date, posted: date | None, total: int, updated: str = ""
    ) -> dict[str, str]:
        return {
            "invoice_number": number,
            "client_id": client_id,
            "issued_on": issued.isoformat(),
            "total": money(total),
            "posted_to_qb_at": stamp(posted) if posted else "",
            "updated_at": updated,
        }

    def write_edits(self, folder: Path, totals: dict[str, int]) -> None:
        """A second export: 0.5% of posted invoices had their total raised after posting."""
        clear(folder)
        rows = []
        for number, client_id, issued, posted in self.invoices:
            if posted is not None and self.random.random() < 0.005:
                new_total = totals[number] + 20000
                rows.append(self.invoice_row(number, client_id, issued, posted, new_total, stamp(posted, 16)))
        write(folder, "clients.csv", [{"client_id": f"C{n}", "name": f"Client {n}"} for n in range(self.client_count)])
        write(folder, "invoices.csv", rows)

    def write_new_payments(self, folder: Path, count: int) -> None:
        """The next export: `count` new payments, on a month's new invoices (about four payments each)."""
        clear(folder)
        clients = [f"C{n}" for n in range(self.client_count)]
        invoice_rows, payment_rows = [], []
        issued = START + timedelta(days=330)
        for start in range(0, count, 4):
            number = f"INV-{len(self.invoices)}"
            client_id = clients[self.random.randrange(len(clients))]
            self.invoices.append((number, client_id, issued, None))
            rows = [self.payment_row(number, client_id, issued, None) for _ in range(min(4, count - start))]
            paid = sum(int(row["_minor"]) for row in rows)
            invoice_rows.append(self.invoice_row(number, client_id, issued, None, paid + 50000))
            payment_rows.extend(rows)
        write(folder, "clients.csv", [{"client_id": c, "name": f"Client {c[1:]}"} for c in clients])
        write(folder, "invoices.csv", invoice_rows)
        write(folder, "payments.csv", payment_rows)


def clear(folder: Path) -> None:
    for stale in folder.glob("*.csv"):
        stale.unlink()


def write(folder: Path, name: str, rows: list[dict[str, object]]) -> None:
    columns = [column for column in rows[0] if not column.startswith("_")] if rows else ["client_id", "name"]
    with (folder / name).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def invoice_totals(db: Database) -> dict[str, int]:
    with db.engine.connect() as connection:
        return dict(connection.execute(text("SELECT number, total_minor FROM invoice")).all())


# --- timing -------------------------------------------------------------------------------------------------


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_of(runs: int, action: Callable[[], object]) -> float:
    return statistics.median(timed(action) for _ in range(runs))


def plain_sql(db: Database) -> None:
    with db.engine.connect() as connection:
        for query in PLAIN_SQL.values():
            connection.execute(text(query)).all()


def fresh_database(url: str | None, folder: Path) -> Database:
    if url is None:
        return Database(f"sqlite:///{folder / 'bench.db'}")
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        name = parsed.database or ""
        if not name.startswith("creditbot_bench"):
            raise SystemExit(f"--url must name a database called creditbot_bench…, not {name!r}: it is dropped.")
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    return Database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=20_000)
    parser.add_argument("--new", type=int, default=1_000, help="payments added before the incremental scan")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", default=None, help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="creditbot-bench-") as workdir:
        folder = Path(workdir)
        db = fresh_database(args.url, folder)
        db.upgrade()
        writer = LedgerWriter(args.payments)
        exports = folder / "export"
        exports.mkdir()
        console.print(f"Building a ledger of {args.payments:,} payments on {db.url.get_backend_name()} …")
        writer.write_initial(exports)
        build = timed(lambda: import_directory(db, exports))
        writer.write_edits(exports, invoice_totals(db))
        import_directory(db, exports)
        if db.url.get_backend_name() != "sqlite":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))
        console.print(f"  imported in {build:.1f} s")

        first_full = timed(lambda: scans.run_scan(db, full=True))
        with db.read() as unit:
            found = scans.open_findings(unit)
        plain = median_of(args.runs, lambda: plain_sql(db))
        full = median_of(args.runs, lambda: scans.run_scan(db, full=True))
        unchanged = median_of(args.runs, lambda: scans.run_scan(db))
        increments, imports = [], []
        for _ in range(args.runs):
            writer.write_new_payments(exports, args.new)
            imports.append(timed(lambda: import_directory(db, exports)))
            increments.append(timed(lambda: scans.run_scan(db)))
        incremental = statistics.median(increments)
        assert_incremental_agrees(db)
        report(args, db, found, plain, first_full, full, unchanged, incremental, statistics.median(imports))
        if args.json:
            figures = {"payments": args.payments, "new_payments": args.new, "plain_s": plain, "full_s": full,
                       "incremental_s": incremental, "unchanged_s": unchanged, "findings": len(found)}  # fmt: skip
            args.json.write_text(json.dumps(figures, indent=2))
        db.dispose()


def assert_incremental_agrees(db: Database) -> None:
    with db.read() as unit:
        stored = {f.fingerprint for f in scans.open_findings(unit)}
    if stored != {f.fingerprint for f in scans.evaluate_all(db)}:
        raise SystemExit("incremental and full scans disagree: a bug")


def report(args, db, found, plain, first_full, full, unchanged, incremental, import_time) -> None:  # type: ignore[no-untyped-def]
    kinds: dict[str, int] = {}
    for finding in found:
        kinds[finding.kind.value] = kinds.get(finding.kind.value, 0) + 1
    table = Table(
        title=f"Scan benchmark · {args.payments:,} payments · {db.url.get_backend_name()} · median of {args.runs}",
        title_justify="left",
    )
    for column in ("measure", "seconds", "vs plain SQL", "vs full scan", "target"):
        table.add_column(column, justify="left" if column in ("measure", "target") else "right")
    table.add_row("plain SQL, the same groupings", f"{plain:.3f}", "1.00x", "", "")
    table.add_row("full scan, first (stores findings)", f"{first_full:.3f}", f"{first_full / plain:.2f}x", "", "")
    ok = "ok" if full <= 3 * plain else "MISSED"
    table.add_row("full scan (--full)", f"{full:.3f}", f"{full / plain:.2f}x", "100%", f"≤ 3x plain: {ok}")
    table.add_row("incremental, nothing changed", f"{unchanged:.3f}", "", f"{100 * unchanged / full:.2f}%", "")
    ok = "ok" if incremental < 0.05 * full else "MISSED"
    share = f"{100 * incremental / full:.2f}%"
    table.add_row(
        f"incremental after {args.new:,} new payments", f"{incremental:.3f}", "", share, f"< 5% of full: {ok}"
    )
    table.add_row(f"(import of those {args.new:,} payments)", f"{import_time:.3f}", "", "", "not part of the scan")
    console.print(table)
    console.print("Findings: " + ", ".join(f"{kind} {count:,}" for kind, count in sorted(kinds.items())))


if __name__ == "__main__":
    main()
