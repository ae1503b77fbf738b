"""Reports, the home tab and the client typeahead at size, each beside its floor.

    python -m bench.bench_reports                                  # small: 20,000 payments, 10,000 extra clients
    python -m bench.bench_reports --payments 1000000 --clients 100000
    python -m bench.bench_reports --database-url postgresql+psycopg://postgres@127.0.0.1/bench_reports ...

- report: `applied --by client` and `applied --by month` (ledger.reports, rows streamed) against a plain SQL
  `SELECT client_id, count(*), sum(amount_minor) FROM payment WHERE kind = 'AccountCredit' GROUP BY 1` (by month: the
  same GROUP BY month) on the same driver connection, fetched whole: the ratio should stay under 2. The list of
  every application (one row each) is written to CSV as it streams; its peak Python memory (tracemalloc) shows it
  does not grow with the rows.
- home: `bot.handlers.home.home_view` (every read and the Block Kit view) p50/p99, for a billing admin.
- typeahead: `forms.client_suggestions` p50/p99 over parts of client names (3 to 8 letters, and 1 to 2).
Figures are wall-clock on this machine; compare the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from bench.synthetic import KINDS, WORDS, add_named_clients, write_ledger
from ledger import reports
from ledger.csv_import.loader import import_directory
from ledger.db import Database
from ledger.reports import ReportRequest
from ledger.unit import statement

# The floors: the same grouping, plainly, over the payment table alone (no names, no reversals, no currencies).
_FLOORS = {
    "client": "SELECT client_id, count(*), sum(amount_minor) FROM payment WHERE kind = 'AccountCredit' GROUP BY 1",
    "month": "SELECT {month}, count(*), sum(amount_minor) FROM payment WHERE kind = 'AccountCredit' GROUP BY 1",
}


def build(db: Database, payments: int, clients: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        write_ledger(Path(folder), payments)
        import_directory(db, Path(folder))
    add_named_clients(db, 0, clients)
    if not db.is_sqlite:  # the payments' statistics too, as autovacuum would after a bulk load
        with db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()


def timed(work: Callable[[], object], runs: int) -> list[float]:
    spent = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        spent.append(time.perf_counter() - started)
    return spent


def best(work: Callable[[], object], runs: int = 5) -> float:
    return min(timed(work, runs))


def percentiles(spent: list[float]) -> str:
    ordered = sorted(spent)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms · p99 {p99 * 1000:.2f} ms ({len(ordered)} runs)"


def bench(db: Database) -> None:
    def floor(by: str) -> Callable[[], None]:
        month = "substr(received_on, 1, 7)" if db.is_sqlite else "to_char(received_on, 'YYYY-MM')"
        sql = statement(_FLOORS[by].format(month=month))

        def run() -> None:
            with db.read() as unit:
                unit.rows(sql)

        return run

    def report(by: str | None) -> Callable[[], None]:
        def run() -> None:
            with db.read() as unit:
                for _ in reports.report(unit, ReportRequest("applied", by=by)).rows:
                    pass

        return run

    for by in ("client", "month"):
        # Alternated, best of 7 each: the machine's load moves both the same way.
        floor_s, ours = float("inf"), float("inf")
        for _ in range(7):
            floor_s = min(floor_s, best(floor(by), 1))
            ours = min(ours, best(report(by), 1))
        print(f"report applied --by {by:<6} {ours * 1000:9.1f} ms · GROUP BY floor {floor_s * 1000:.1f} ms · "
              f"ratio {ours / floor_s:.2f}")  # fmt: skip

    from bot.handlers.reports import write_csv

    def each_to_csv() -> reports.Summary:
        with db.read() as unit:
            counted, summary = reports.summarize(reports.report(unit, ReportRequest("applied")))
            write_csv(counted, _Discard())
        return summary

    started = time.perf_counter()
    summary = each_to_csv()
    spent = time.perf_counter() - started
    tracemalloc.start()  # a second run, traced: tracemalloc slows every allocation, so it is not timed
    each_to_csv()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"report applied (each)     {summary.rows:,} rows to CSV in {spent:.2f} s · peak Python memory "
          f"{peak / 1e6:.1f} MB")  # fmt: skip

    from bot.handlers import forms
    from bot.handlers.context import Caller, Context, Services
    from bot.handlers.home import home_view
    from bot.settings import Settings

    settings = Settings(_env_file=None, DATABASE_URL=db.url.render_as_string(hide_password=False),
                        CREDITBOT_BILLING_ADMINS="U-ADMIN")  # fmt: skip
    ctx = Context(Services(settings, db), Caller("U-ADMIN", "T", None, "slack:U-ADMIN", "bench"))
    home_view(ctx)
    print(f"home tab (admin)          {percentiles(timed(lambda: home_view(ctx), 50))}")
    rng = random.Random(11)
    parts = []
    for _ in range(300):
        word = rng.choice(WORDS + KINDS).lower()
        parts.append(word[: rng.randint(3, len(word))] if rng.random() < 0.8 else word[: rng.randint(1, 2)])
    queries = iter(parts * 2)
    forms.client_suggestions(ctx, "acme")
    print(f"client typeahead          {percentiles(timed(lambda: forms.client_suggestions(ctx, next(queries)), 300))}")


class _Discard(io.TextIOBase):
    """A text sink that keeps nothing (the CSV's cost without the file system's)."""

    def write(self, text: str) -> int:
        return len(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=10_000, help="extra clients for the typeahead")
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file in a temporary folder")
    parser.add_argument("--reuse", action="store_true", help="measure the database as it is (no build)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(args.database_url or f"sqlite:///{Path(folder) / 'reports.db'}")
        db.upgrade()
        if not args.reuse:
            started = time.perf_counter()
            build(db, args.payments, args.clients)
            print(f"built {args.payments:,} payments and {args.clients:,} extra clients in "
                  f"{time.perf_counter() - started:.0f} s on {db.url.get_backend_name()}")  # fmt: skip
        bench(db)
        db.dispose()


if __name__ == "__main__":
    main()
