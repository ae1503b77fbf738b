"""Every hot path against its floor, at several ledger sizes, in one command.

    python -m bench.run                                   # 10k, 100k and 1M payments (by hand; takes a while)
    python -m bench.run --sizes 2000                      # what CI runs, to keep the suite working
    python -m bench.run --postgres postgresql+psycopg://postgres@127.0.0.1:5432/creditbot_bench

For each size it builds a deterministic ledger (bench/synthetic.py) through the CSV import and measures, each
beside its floor in the same run:

| path | floor |
|---|---|
| import (rows/s) | stdlib csv + sqlite3 executemany of the same rows with the same unique keys |
| import of 1,000 new payments (s) | the same export into a 10,000-payment ledger (bench/import_bench.py) |
| `creditbot import`, whole process (s) and peak memory (MiB) | a process doing the csv + sqlite3 floor |
| PostgreSQL import (s, with --postgres) | a plain COPY through psycopg of the same rows into the same tables |
| apply credit (ops/s, 1 and 8 writers) | the same SQL statements issued raw, one short transaction each |
| `/credit balance` over HTTP (p50/p99) | a bare Bolt app acking a static reply, same server |
| `/credit balance NAME` by exact name and by part of a name over HTTP, 10k and 100k clients (p50) | by client id |
| full scan (s) | plain SQL doing the same grouping |
| incremental scan after 1k payments (s) | the full scan |
| FAQ question (ms) | none (target under 5 ms) |
| `creditbot balance C1`, whole process (s) | a plain sqlite3 script running the same reads (bench/startup_bench.py) |
| warm `creditbot faq QUESTION`, whole process (s), once | `python -c "import numpy"` (target: 0.5 s) |
| `creditbot serve` memory, 4 workers (PSS MiB), once, at the largest size | a bare Bolt app, same gunicorn set-up |

Writes `report.md`, `results.json` and `scaling.png` (cost against ledger size, log-log) to --out
(default bench/results/). Figures are wall-clock on the machine that runs it: read the ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import import_bench
from bench.faq_bench import bench_faq
from bench.ledger_bench import bench_apply, bench_import
from bench.startup_bench import bench_balance, bench_faq_call, bench_serve_memory

ROOT = Path(__file__).resolve().parents[1]
# HTTP requests per server, concurrency and repeat (bench/bot_latency.py runs 3 repeats): enough for a p99 at the
# sizes people read; the CI size only keeps the suite working, so it stays quick.
REQUESTS = 2000
CI_REQUESTS = 300
CI_SIZE = 10_000
# Issue 7's targets: creditbot's cost at most this multiple of its floor (incremental: this share of the full scan).
# The most specific prefix first: issue 14 asks 1,000 new payments into a large ledger to cost at most 1.5x the same
# into a 10k ledger, the import's process, memory and PostgreSQL COPY rows to stay within 2x their floors, and a
# balance by name within 1.2x the same by id.
TARGETS = {"import of": 1.5, "import": 2.0, "apply": 2.0, "balance by": 1.2, "balance": 2.0, "full scan": 3.0}
TARGETS |= {"incremental": 0.05}
# Issue 14's: whole processes beside their floors (the warm FAQ call's target is in seconds, in its row).
TARGETS |= {"creditbot balance": 2.5, "creditbot serve": 2.0}
# Issue 14: lookups by name at realistic client counts (named clients added to the smallest size's ledger), beside
# the same request by id; CI's size only keeps the path working, at a few hundred clients.
CLIENT_COUNTS = (10_000, 100_000)
CI_CLIENT_COUNTS = (500,)


def measure_size(
    payments: int,
    folder: Path,
    postgres: str | None,
    requests: int,
    startup: bool = False,
    client_counts: tuple[int, ...] = (),
) -> list[dict[str, Any]]:
    """Every row at one ledger size; `startup`: also the once-per-run rows (serve memory, the warm FAQ call);
    `client_counts`: the lookups by name at those client counts."""
    rows = [{**bench_import(payments, folder), "payments": payments}]
    rows += import_bench.measure(payments, folder, postgres)
    ledger_url = f"sqlite:///{folder / 'import.db'}"
    for result in bench_apply(ledger_url, "SQLite", folder):
        rows.append({**result, "payments": payments})
    if postgres:
        # The PostgreSQL import row (import_bench) left the same ledger there, so apply runs beside N payments too.
        for result in bench_apply(postgres, "PostgreSQL", folder):
            rows.append({**result, "payments": payments})
    rows += _balance_over_http(ledger_url, payments, folder, requests)
    rows += _scans(payments, folder)
    repeats = 9 if payments >= CI_SIZE else 3  # fresh processes each, alternating with their floors
    rows.append({**bench_balance(folder / "import.db", "C1", repeats), "payments": payments})
    if startup:
        rows.append({**bench_serve_memory(ledger_url, requests=min(requests, 200)), "payments": payments})
        rows.append({**bench_faq_call(repeats), "payments": payments})
    # Last: the named clients these add would change the figures above.
    for url, label in [(ledger_url, "SQLite")] + ([(postgres, "PostgreSQL")] if postgres else []):
        for count in client_counts:
            rows += _lookups_over_http(url, label, payments, count, folder, requests)
    return rows


def fresh_postgres(url: str) -> None:
    """Drop and create the bench database; only one named creditbot_bench*, so nothing else is ever dropped."""
    target = make_url(url)
    if not (target.database or "").startswith("creditbot_bench"):
        raise SystemExit("--postgres must name a database called creditbot_bench...; it is dropped and recreated")
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def _balance_over_http(url: str, payments: int, folder: Path, requests: int) -> list[dict[str, Any]]:
    out = folder / "latency.json"
    _run([sys.executable, str(ROOT / "bench" / "bot_latency.py"), "--database-url", url, "--reuse",
          "--requests", str(requests), "--json", str(out)])  # fmt: skip
    figures = json.loads(out.read_text())["results"]
    rows = []
    for concurrency, result in figures.items():
        bare, bot = result["bare"], result["creditbot"]
        rows.append(
            {
                "path": f"balance over HTTP ({concurrency} concurrent)",
                "payments": payments,
                "ours_p50_ms": bot["p50_ms"],
                "ours_p99_ms": bot["p99_ms"],
                "floor_p50_ms": bare["p50_ms"],
                "floor_p99_ms": bare["p99_ms"],
                "ratio": bot["p50_ms"] / bare["p50_ms"],
                "ratio_p99": bot["p99_ms"] / bare["p99_ms"],
                "ratio_p99_repeats": [repeat["ratio_p99"]["creditbot"] for repeat in result["repeats"]],
            }
        )
    return rows


def _lookups_over_http(
    url: str, label: str, payments: int, clients: int, folder: Path, requests: int
) -> list[dict[str, Any]]:
    """`/credit balance` by exact name and by part of a name beside by id, the ledger brought to `clients` named
    clients (bench/bot_latency.py --lookup)."""
    out = folder / "lookup.json"
    _run([sys.executable, str(ROOT / "bench" / "bot_latency.py"), "--database-url", url, "--reuse", "--lookup",
          "--named-clients", str(clients), "--concurrency", "1", "--requests", str(max(40, requests // 4)),
          "--json", str(out)])  # fmt: skip
    result = json.loads(out.read_text())["results"]["1"]
    floor = result["id"]
    return [
        {
            "path": f"balance by {how} over HTTP ({clients:,} clients, {label})",
            "payments": payments,
            "ours_p50_ms": result[kind]["p50_ms"],
            "ours_p99_ms": result[kind]["p99_ms"],
            "floor_p50_ms": floor["p50_ms"],
            "floor_p99_ms": floor["p99_ms"],
            "ratio": result[kind]["p50_ms"] / floor["p50_ms"],
            "ratio_p99": result[kind]["p99_ms"] / floor["p99_ms"],
            "ratio_p99_repeats": [repeat["ratio_p99"][kind] for repeat in result["repeats"]],
        }
        for kind, how in (("name", "exact name"), ("part", "part of a name"))
    ]


def _scans(payments: int, folder: Path) -> list[dict[str, Any]]:
    out = folder / "scan.json"
    _run([sys.executable, str(ROOT / "bench" / "scan_bench.py"), "--payments", str(payments), "--runs", "1",
          "--json", str(out)])  # fmt: skip
    figures = json.loads(out.read_text())
    return [
        {"path": "full scan", "payments": payments, "ours_s": figures["full_s"], "floor_s": figures["plain_s"],
         "ratio": figures["full_s"] / figures["plain_s"]},
        {"path": "incremental scan (1k new payments)", "payments": payments, "ours_s": figures["incremental_s"],
         "floor_s": figures["full_s"], "ratio": figures["incremental_s"] / figures["full_s"]},
    ]  # fmt: skip


def _run(command: list[str]) -> None:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[1:3])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def markdown(results: list[dict[str, Any]], faq: dict[str, Any]) -> str:
    lines = [
        "| payments | path | creditbot | floor | ratio (creditbot / floor) | target |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for row in results:
        lines.append(
            f"| {row['payments']:,} | {row['path']} | {_ours(row)} | {_floor(row)} | {_ratio(row)} | {_target(row)} |"
        )
    met = "met" if faq["p50_ms"] < faq["target_ms"] else "missed"
    lines.append(
        f"| — | FAQ question ({faq['questions']} questions) | p50 {faq['p50_ms']:.2f} ms, p99 {faq['p99_ms']:.2f} ms"
        f" | — | — | < {faq['target_ms']:.0f} ms: {met} |"
    )
    return "\n".join(lines)


def _ours(row: dict[str, Any]) -> str:
    if "ours_mib" in row:
        return f"{row['ours_mib']:.0f} MiB"
    if "ours_cpu_s" in row:
        return f"{row['ours_s']:.3f} s ({row['ours_cpu_s']:.3f} s CPU)"
    if "ours_rows_per_s" in row:
        return f"{row['ours_rows_per_s']:,.0f} rows/s"
    if "ours_ops_per_s" in row:
        return f"{row['ours_ops_per_s']:,.0f} ops/s"
    if "ours_p50_ms" in row:
        return f"p50 {row['ours_p50_ms']:.2f} ms, p99 {row['ours_p99_ms']:.2f} ms"
    if "ours_mib" in row:
        return f"{row['ours_mib']:.0f} MiB"
    cpu = f" ({row['ours_cpu_s']:.2f} s CPU)" if "ours_cpu_s" in row else ""
    return f"{row['ours_s']:.3f} s{cpu}"


def _floor(row: dict[str, Any]) -> str:
    if "floor_mib" in row:
        return f"{row['floor_mib']:.0f} MiB"
    if "python_s" in row:
        return f"{row['floor_s']:.3f} s ({row['floor_cpu_s']:.3f} s CPU; python -c pass {row['python_s']:.3f} s)"
    if "floor_rows_per_s" in row:
        return f"{row['floor_rows_per_s']:,.0f} rows/s"
    if "floor_ops_per_s" in row:
        return f"{row['floor_ops_per_s']:,.0f} ops/s"
    if "floor_p50_ms" in row:
        return f"p50 {row['floor_p50_ms']:.2f} ms, p99 {row['floor_p99_ms']:.2f} ms"
    label = f" ({row['floor_label']})" if "floor_label" in row else ""
    if "floor_mib" in row:
        return f"{row['floor_mib']:.0f} MiB{label}"
    cpu = f", {row['floor_cpu_s']:.2f} s CPU" if "floor_cpu_s" in row else ""
    return f"{row['floor_s']:.3f} s{label}{cpu}"


def _ratio(row: dict[str, Any]) -> str:
    if row["path"].startswith("incremental"):
        return f"{100 * row['ratio']:.1f}% of full"
    extra = f" ({row['ratio_cpu']:.2f}x in CPU time)" if "ratio_cpu" in row else ""
    if "ratio_p99" in row:
        repeats = row["ratio_p99_repeats"]
        extra = f" (p99 {row['ratio_p99']:.2f}x; {min(repeats):.2f}x to {max(repeats):.2f}x over repeats)"
    return f"{row['ratio']:.2f}x{extra}"


def _target(row: dict[str, Any]) -> str:
    if "target_s" in row:
        return f"≤ {row['target_s']:g} s: {'met' if row['ours_s'] <= row['target_s'] else 'missed'}"
    limit = next(value for prefix, value in TARGETS.items() if row["path"].startswith(prefix))
    met = "met" if row["ratio"] <= limit else "missed"
    return f"< {100 * limit:.0f}%: {met}" if row["path"].startswith("incremental") else f"≤ {limit:g}x: {met}"


def _cost(row: dict[str, Any]) -> tuple[float, float]:
    """Seconds per unit of work (row, op, request or scan) for creditbot and its floor, for the plot (memory: MiB)."""
    if "ours_mib" in row:
        return row["ours_mib"], row["floor_mib"]
    if "ours_rows_per_s" in row:
        return 1 / row["ours_rows_per_s"], 1 / row["floor_rows_per_s"]
    if "ours_ops_per_s" in row:
        return 1 / row["ours_ops_per_s"], 1 / row["floor_ops_per_s"]
    if "ours_p50_ms" in row:
        return row["ours_p50_ms"] / 1000, row["floor_p50_ms"] / 1000
    if "ours_mib" in row:
        return row["ours_mib"], row["floor_mib"]
    return row["ours_s"], row["floor_s"]


def plot(results: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    paths = sorted({row["path"] for row in results})
    columns = 3
    rows_needed = (len(paths) + columns - 1) // columns
    figure, axes = plt.subplots(rows_needed, columns, figsize=(5 * columns, 3.6 * rows_needed), squeeze=False)
    for axis, name in zip(axes.flat, paths, strict=False):
        points = sorted((row["payments"], *_cost(row)) for row in results if row["path"] == name)
        sizes = [p[0] for p in points]
        axis.plot(sizes, [p[1] for p in points], "o-", label="creditbot")
        axis.plot(sizes, [p[2] for p in points], "s--", label="floor")
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("payments in the ledger")
        axis.set_ylabel("seconds per unit")
        axis.legend(fontsize=8)
    for axis in list(axes.flat)[len(paths) :]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="ledger sizes in payments, comma-separated")
    parser.add_argument("--postgres", help="a PostgreSQL URL to bench apply on too (a bench database: it is written)")
    parser.add_argument("--requests", type=int, help=f"HTTP requests per server, concurrency and repeat (default "
                        f"{REQUESTS:,}; {CI_REQUESTS} below {CI_SIZE:,} payments)")  # fmt: skip
    counts = ",".join(map(str, CLIENT_COUNTS))
    parser.add_argument("--clients", help=f"named client counts for the lookups by name (default {counts}; "
                        f"{CI_CLIENT_COUNTS[0]} below {CI_SIZE:,} payments)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    sizes = [int(s) for s in args.sizes.split(",")]
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix=f"creditbot-bench-{size}-") as tmp:
            requests = args.requests or (REQUESTS if size >= CI_SIZE else CI_REQUESTS)
            counts = CLIENT_COUNTS if size >= CI_SIZE else CI_CLIENT_COUNTS
            if args.clients:
                counts = tuple(int(count) for count in args.clients.split(","))
            lookups = counts if size == sizes[0] else ()  # once, on the smallest ledger: the client count is the axis
            results += measure_size(size, Path(tmp), args.postgres, requests, size == max(sizes), lookups)
    faq = bench_faq()
    report = markdown(results, faq)
    (args.out / "report.md").write_text(report + "\n")
    (args.out / "results.json").write_text(json.dumps({"results": results, "faq": faq}, indent=2))
    plotted = plot(results, args.out / "scaling.png")
    print(report)
    print(f"\nWrote {args.out / 'report.md'}, {args.out / 'results.json'}"
          + (f" and {args.out / 'scaling.png'}" if plotted else " (no plot: pip install matplotlib)"))  # fmt: skip


if __name__ == "__main__":
    main()
