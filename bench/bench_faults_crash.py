"""kill -9 of an import at random points: the ledger is untouched or complete, never partial (issue 19).

    python -m bench.bench_faults_crash                                   # 200k payments, 50 kill points (by hand)
    python -m bench.bench_faults_crash --payments 2000 --kills 3         # what CI runs (tests/test_faults_bench.py)
    python -m bench.bench_faults_crash --postgres postgresql+psycopg://postgres@127.0.0.1:5432/creditbot_bench_crash

For each database (SQLite, and PostgreSQL when --postgres names a creditbot_bench* database, dropped and made
again) it imports a synthetic ledger (bench/synthetic.py) once in a child process to learn the import's duration
(from the child's "ready" to its "done") and final row counts, then for each kill point: empties the ledger,
starts the import in a child process, sends SIGKILL after a random moment within the import's duration, and
checks that

- the database opens at the current schema,
- the row counts are those of an empty ledger or of the complete import (the import is one transaction),
- every running total equals the sum of its entries (`creditbot db check`),
- the next import finishes the job: complete row counts, consistent totals.

Prints one line per database and writes `crash.json` to --out. Any violated check exits 1.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import SQLModel

import ledger.tables  # noqa: F401  (every table on the metadata)
from bench.run import fresh_postgres
from bench.synthetic import write_ledger
from ledger.consistency import check_totals
from ledger.csv_import.loader import import_directory
from ledger.db import Database
from ledger.tables import Client, Credit, Invoice, Payment, Project

COUNTED = (Client, Project, Invoice, Credit, Payment)


def row_counts(db: Database) -> tuple[int, ...]:
    with db.engine.connect() as connection:
        return tuple(connection.execute(text(f'SELECT COUNT(*) FROM "{table.__tablename__}"')).scalar_one()
                     for table in COUNTED)  # fmt: skip


def consistent(db: Database) -> bool:
    with db.read() as unit:
        return check_totals(unit).ok


class Ledger:
    """One database to crash imports into, emptied before each kill point."""

    def __init__(self, url: str | None, folder: Path) -> None:
        if url is None:
            template = folder / "template.db"
            migrated = Database(f"sqlite:///{template}")
            migrated.upgrade()
            migrated.dispose()  # the last connection's close moves the WAL into the file that is copied
            self.template: Path | None = template
            self.path = folder / "crash.db"
            self.url = f"sqlite:///{self.path}"
        else:
            fresh_postgres(url)
            migrated = Database(url)
            migrated.upgrade()
            migrated.dispose()
            self.template, self.url = None, url
        self.name = "SQLite" if url is None else "PostgreSQL"

    def empty(self) -> None:
        if self.template is not None:
            for leftover in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                leftover.unlink(missing_ok=True)
            shutil.copy(self.template, self.path)
            return
        db = Database(self.url)
        tables = ", ".join(
            f'"{table.name}"' for table in SQLModel.metadata.sorted_tables if table.name != "alembic_version"
        )
        with db.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.dispose()


def crash_import(ledger_db: Ledger, csv: Path, kills: int, seed: int) -> dict[str, Any]:
    ledger_db.empty()
    duration = _child_import_seconds(ledger_db.url, csv)  # as the killed children run it: cold, in a new process
    reference = Database(ledger_db.url)
    complete = row_counts(reference)
    reference.dispose()
    empty = (0,) * len(COUNTED)
    rng = random.Random(seed)
    outcome = {"untouched": 0, "complete": 0, "partial": 0, "inconsistent": 0, "unopenable": 0, "not finished": 0}
    for _kill in range(kills):
        ledger_db.empty()
        child = _start_child(ledger_db.url, csv)
        assert child.stdout is not None
        child.stdout.readline()  # "ready": Python and the ledger are loaded; the import starts now
        time.sleep(rng.uniform(0, duration * 1.1))
        child.send_signal(signal.SIGKILL)
        child.wait()
        state = _after_crash(ledger_db.url, csv, empty, complete)
        outcome[state] += 1
        print(f"  {ledger_db.name} kill {_kill + 1}/{kills}: {state}", file=sys.stderr, flush=True)
    return {"database": ledger_db.name, "payments": complete[-1], "kills": kills,
            "import_s": round(duration, 3), **outcome}  # fmt: skip


def _child_import_seconds(url: str, csv: Path) -> float:
    child = _start_child(url, csv)
    assert child.stdout is not None
    child.stdout.readline()
    started = time.perf_counter()
    child.stdout.readline()  # "done"
    child.wait()
    return time.perf_counter() - started


def _start_child(url: str, csv: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bench.bench_faults_crash", "--child", url, str(csv)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip


def _after_crash(url: str, csv: Path, empty: tuple[int, ...], complete: tuple[int, ...]) -> str:
    db = Database(url)
    try:
        try:
            db.ensure_schema()
            counts = row_counts(db)
        except Exception:
            return "unopenable"
        if counts not in (empty, complete):
            return "partial"
        if not consistent(db):
            return "inconsistent"
        state = "untouched" if counts == empty else "complete"
        import_directory(db, csv)  # the next run finishes the job (or changes nothing)
        if row_counts(db) != complete or not consistent(db):
            return "not finished"
        return state
    finally:
        db.dispose()


def _child(url: str, csv: str) -> None:
    db = Database(url)
    print("ready", flush=True)
    import_directory(db, Path(csv))
    print("done", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=200_000)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--postgres", help="a creditbot_bench* database URL (dropped and created again)")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--child", nargs=2, metavar=("URL", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="creditbot-crash-") as scratch:
        folder = Path(scratch)
        write_ledger(folder / "csv", args.payments)
        for url in [None, args.postgres] if args.postgres else [None]:
            result = crash_import(Ledger(url, folder), folder / "csv", args.kills, args.seed)
            results.append(result)
            print(f"{result['database']}: {result['kills']} kills of a {args.payments:,}-payment import "
                  f"({result['import_s']} s): {result['untouched']} untouched, {result['complete']} complete, "
                  f"{result['partial']} partial, {result['inconsistent']} inconsistent, "
                  f"{result['unopenable']} unopenable, {result['not finished']} not finished", flush=True)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "crash.json").write_text(json.dumps({"results": results}, indent=2))
    bad = sum(r["partial"] + r["inconsistent"] + r["unopenable"] + r["not finished"] for r in results)
    if bad:
        raise SystemExit(f"{bad} kill point(s) left the ledger partial, inconsistent or unusable")


if __name__ == "__main__":
    main()
