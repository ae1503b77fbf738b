"""Import benchmarks (issue 14), each beside its floor in the same run:

    python -m bench.import_bench --payments 100000 [--postgres postgresql+psycopg://…/creditbot_bench]

| row | floor |
|---|---|
| import of 1,000 new payments into an N-payment ledger | the same export into a 10,000-payment ledger |
| `creditbot import` of N payments, whole process (start-up included) | a process doing csv + sqlite3 executemany |
| peak memory of that process (max RSS) | the same floor process's |
| PostgreSQL import of N payments | a plain COPY (psycopg) of the same rows into the same tables |

The next export repeats every client, project and credit (a billing system exports them whole) beside a month's
new invoices and payments (bench/synthetic.py `write_next_export`); its ledgers have a client per 100 payments,
so the repeated files grow with the ledger as they do in a real one. Figures are wall-clock: read the ratios.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.synthetic import Shape, write_ledger, write_next_export
from ledger.csv_import.loader import import_directory
from ledger.db import Database

ROOT = Path(__file__).resolve().parents[1]
NEW_PAYMENTS = 1_000
BASE_LEDGER = 10_000
PAYMENTS_PER_CLIENT = 100
RUNS = 5
# The command as a user runs it: the installed script, or the same entry point where it is not installed.
_SCRIPT = Path(sys.executable).with_name("creditbot")
_CREDITBOT = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from bot.cli import main; main()"]


def bench_new_payments(payments: int, folder: Path, runs: int = RUNS) -> dict[str, Any]:
    """Median seconds to import 1,000 new payments into a ledger of `payments`, and into one of 10,000: the two
    ledgers take turns, export after export, so the machine's load falls on both alike."""
    ledgers = [_grown_ledger(payments, folder / f"grow-{payments}"), _grown_ledger(BASE_LEDGER, folder / "grow-base")]
    seconds: list[list[float]] = [[], []]
    for run in range(runs):
        for (db, shape, ledger_folder), timings in zip(ledgers, seconds, strict=True):
            export = ledger_folder / f"next-{run}"
            write_next_export(export, shape, NEW_PAYMENTS, run + 1)
            started = time.perf_counter()
            import_directory(db, export)
            timings.append(time.perf_counter() - started)
    for db, _shape, _folder in ledgers:
        db.dispose()
    big, small = (statistics.median(timings) for timings in seconds)
    return {"path": f"import of {NEW_PAYMENTS:,} new payments", "payments": payments, "ours_s": big,
            "floor_s": small, "floor_label": f"the same into {BASE_LEDGER:,}", "ratio": big / small}  # fmt: skip


def _grown_ledger(payments: int, folder: Path) -> tuple[Database, Shape, Path]:
    """A SQLite ledger of `payments` payments, a client per 100, built through the import."""
    shape = write_ledger(folder / "ledger", payments, payments_per_client=PAYMENTS_PER_CLIENT)
    db = Database(f"sqlite:///{folder / 'ledger.db'}")
    db.ensure_schema()
    import_directory(db, folder / "ledger")
    return db, shape, folder


def bench_process(payments: int, folder: Path) -> list[dict[str, Any]]:
    """`creditbot import` of a new ledger as its own process, and the floor's process: wall time and peak memory."""
    csv_dir = _ledger_csv(folder, payments)
    floor = _process([sys.executable, "-m", "bench.floors", str(csv_dir), str(folder / "process-floor.db")])
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder / 'process.db'}"}
    ours = _process([*_CREDITBOT, "import", str(csv_dir)], env)
    return [
        {"path": "import, whole process", "payments": payments, "ours_s": ours[0], "floor_s": floor[0],
         "ours_cpu_s": ours[1], "floor_cpu_s": floor[1], "floor_label": "csv + sqlite3 executemany",
         "ratio": ours[0] / floor[0], "ratio_cpu": ours[1] / floor[1]},
        {"path": "import peak memory", "payments": payments, "ours_mib": ours[2], "floor_mib": floor[2],
         "floor_label": "csv + sqlite3 executemany", "ratio": ours[2] / floor[2]},
    ]  # fmt: skip


def _process(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user and system) and peak resident memory (MiB) of one child process.

    A small launcher starts it and reads its usage: Linux keeps a process's peak across fork and exec, so a child
    forked from this process (SQLAlchemy and the ledgers loaded) would report this process's memory as its own.
    """
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *command], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{done.stderr[-2000:]}")
    seconds, cpu, kib = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, cpu, kib / 1024


_LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
seconds = time.perf_counter() - started
if os.waitstatus_to_exitcode(status):
    sys.exit(f"exit status {os.waitstatus_to_exitcode(status)}")
print(json.dumps([seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss]))
"""


def bench_postgres(payments: int, folder: Path, url: str) -> dict[str, Any]:
    """The import into a fresh PostgreSQL database, beside a plain COPY of the same rows into a fresh one."""
    from bench.floors import postgres_copy_import
    from bench.run import fresh_postgres

    csv_dir = _ledger_csv(folder, payments)
    fresh_postgres(url)
    db = Database(url)
    db.upgrade()
    started = time.perf_counter()
    rows = postgres_copy_import(db, csv_dir)
    floor = time.perf_counter() - started
    db.dispose()
    fresh_postgres(url)
    db = Database(url)
    db.upgrade()
    started = time.perf_counter()
    import_directory(db, csv_dir)
    ours = time.perf_counter() - started
    db.dispose()
    return {"path": "import, PostgreSQL", "payments": payments, "rows": rows, "ours_s": ours, "floor_s": floor,
            "floor_label": "COPY of the same rows", "ratio": ours / floor}  # fmt: skip


def _ledger_csv(folder: Path, payments: int) -> Path:
    """The synthetic ledger's CSV files in `folder / "csv"` (bench.run's import bench has written them already)."""
    csv_dir = folder / "csv"
    if not (csv_dir / "payments.csv").exists():
        write_ledger(csv_dir, payments)
    return csv_dir


def measure(payments: int, folder: Path, postgres: str | None) -> list[dict[str, Any]]:
    rows = [bench_new_payments(payments, folder), *bench_process(payments, folder)]
    if postgres:
        rows.append(bench_postgres(payments, folder, postgres))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=BASE_LEDGER)
    parser.add_argument("--postgres", help="a bench PostgreSQL URL (a database named creditbot_bench*: recreated)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="creditbot-import-bench-") as tmp:
        results = measure(args.payments, Path(tmp), args.postgres)
    writer = csv.writer(sys.stdout, delimiter="|")
    for row in results:
        writer.writerow([row["path"], row["payments"], _figure(row, "ours"), _figure(row, "floor"),
                         row["floor_label"], f"{row['ratio']:.2f}x"])  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _figure(row: dict[str, Any], who: str) -> str:
    if f"{who}_mib" in row:
        return f"{row[f'{who}_mib']:.0f} MiB"
    cpu = f" ({row[f'{who}_cpu_s']:.2f} s CPU)" if f"{who}_cpu_s" in row else ""
    return f"{row[f'{who}_s']:.3f} s{cpu}"


if __name__ == "__main__":
    main()
