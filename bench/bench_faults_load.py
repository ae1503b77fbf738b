"""Two `creditbot serve` instances on one PostgreSQL, 32 concurrent signed `/credit apply` on a few wallets
(issue 19, "prove" 3): 0 over-applications, 0 duplicate writes, no error reaching a person; p99 beside one instance.

    python -m bench.bench_faults_load --postgres postgresql+psycopg://postgres@127.0.0.1:5432/creditbot_bench_load
    python -m bench.bench_faults_load --postgres ... --requests 60 --concurrency 8     # what CI runs

Each request applies a small amount to a random invoice of one of 4 clients, whose credit runs out part way
through (so refusals for insufficient credit are part of the run). A fifth of the requests are sent again, with
the same trigger_id, to the other instance: a Slack retry that lands elsewhere, which must be carried out once.
Afterwards: no client's applied credit exceeds its issued credit, every running total equals its entries, the
number of credit applications equals the number of "Applied" answers, and no answer is an apology or a 5xx.
Writes `load.json` to --out. A violated check exits 1.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text

from bench.bot_latency import free_port, server
from bench.run import fresh_postgres
from ledger.consistency import check_totals
from ledger.csv_import.loader import import_directory
from ledger.db import Database
from tests.slack_standin import SIGNING_SECRET, SlackStandIn

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "U-LOAD"
CLIENTS, INVOICES_PER_CLIENT, CREDIT, TOTAL = 4, 50, "300.00", "100.00"
APOLOGY = "something went wrong"


def build_ledger(url: str, folder: Path) -> list[str]:
    fresh_postgres(url)
    db = Database(url)
    db.upgrade()
    rows = {
        "clients.csv": (["client_id", "name"], [[f"L{c}", f"Load client {c}"] for c in range(CLIENTS)]),
        "credits.csv": (["credit_id", "client_id", "amount", "issued_on"],
                        [[f"LCR{c}", f"L{c}", CREDIT, "2026-01-01"] for c in range(CLIENTS)]),
        "invoices.csv": (["invoice_number", "client_id", "issued_on", "total"],
                         [[f"LINV-{c}-{i}", f"L{c}", "2026-02-01", TOTAL]
                          for c in range(CLIENTS) for i in range(INVOICES_PER_CLIENT)]),
    }  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    for name, (header, body) in rows.items():
        with (folder / name).open("w", newline="") as handle:
            csv.writer(handle).writerows([header, *body])
    import_directory(db, folder)
    db.dispose()
    return [f"LINV-{c}-{i}" for c in range(CLIENTS) for i in range(INVOICES_PER_CLIENT)]


class Sender:
    def __init__(self, slack: SlackStandIn) -> None:
        self.slack, self.verifier = slack, SignatureVerifier(SIGNING_SECRET)

    def apply(self, url: str, invoice: str, trigger: str) -> tuple[int, str, float]:
        body = urllib.parse.urlencode({"command": "/credit", "text": f"apply {invoice} 7.00", "user_id": ADMIN,
                                       "team_id": "T-LOAD", "channel_id": "C-LOAD", "trigger_id": trigger,
                                       "response_url": self.slack.response_url(trigger)})  # fmt: skip
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
                   "X-Slack-Signature": self.verifier.generate_signature(timestamp=stamp, body=body)}  # fmt: skip
        request = urllib.request.Request(f"{url}/slack/events", data=body.encode(), headers=headers, method="POST")
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.loads(response.read()).get("text", "")
                return response.status, answer, time.perf_counter() - started
        except urllib.error.HTTPError as failed:
            return failed.code, failed.read().decode()[:200], time.perf_counter() - started


def run_load(urls: list[str], invoices: list[str], sender: Sender, requests: int, concurrency: int,
             seconds: float, seed: int) -> dict[str, Any]:  # fmt: skip
    rng = random.Random(seed)
    plan = []
    for n in range(requests):
        trigger = f"load-{seed}-{n}"
        plan.append((urls[n % len(urls)], rng.choice(invoices), trigger))
        if len(urls) > 1 and n % 5 == 0:  # Slack's retry of the same command, landing on the other instance
            plan.append((urls[(n + 1) % len(urls)], plan[-1][1], trigger))
    deadline = time.monotonic() + seconds
    answers: list[tuple[str, int, str, float]] = []
    lock = threading.Lock()

    def one(step: tuple[str, str, str]) -> None:
        if time.monotonic() > deadline:
            return
        status, answer, latency = sender.apply(*step)
        with lock:
            answers.append((step[2], status, answer, latency))

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, plan))
    latencies = sorted(a[3] for a in answers) or [0.0]
    applied = {trigger for trigger, status, answer, _ in answers if answer.startswith("Applied ")}
    return {
        "instances": len(urls), "concurrency": concurrency, "requests": len(answers),
        "applied": len(applied),
        "refused": sum(1 for *_, answer, _ in answers if not answer.startswith(("Applied ", "Already done"))),
        "errors": sum(1 for _, status, answer, _ in answers if status >= 500 or APOLOGY in answer.lower()),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
    }  # fmt: skip


def ledger_checks(url: str) -> dict[str, Any]:
    db = Database(url)
    try:
        with db.read(snapshot=True) as unit:
            over = unit.session.execute(
                text("SELECT COUNT(*) FROM client WHERE credits_applied_minor > credits_issued_minor")
            ).scalar_one()
            applications = unit.session.execute(
                text("SELECT COUNT(*) FROM payment WHERE kind = 'AccountCredit'")
            ).scalar_one()
            consistent = check_totals(unit).ok
    finally:
        db.dispose()
    return {"over_applied_clients": over, "applications": applications, "totals_consistent": consistent}


def one_round(args: argparse.Namespace, instances: int, folder: Path) -> dict[str, Any]:
    """A fresh ledger, `instances` servers on it, the load, then the ledger's checks."""
    invoices = build_ledger(args.postgres, folder)
    with ExitStack() as stack:
        slack = stack.enter_context(SlackStandIn())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CREDITBOT_", "DATABASE_URL"))}
        env.update(PYTHONPATH=str(ROOT), DATABASE_URL=args.postgres, SLACK_BOT_TOKEN="xoxb-load",
                   SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.api_url, CREDITBOT_BILLING_ADMINS=ADMIN,
                   CREDITBOT_APPROVAL_THRESHOLD="", CREDITBOT_SCAN_CRON="0 0 1 1 *")  # fmt: skip
        urls = []
        for _ in range(instances):
            port = free_port()
            command = [sys.executable, "-c", "from bot.cli import main; main()", "serve", "--host", "127.0.0.1",
                       "--port", str(port), "--workers", "1", "--threads", str(args.threads)]  # fmt: skip
            urls.append(stack.enter_context(server(command, env, port)))
        load = run_load(urls, invoices, Sender(slack), args.requests, args.concurrency, args.seconds, instances)
    checks = ledger_checks(args.postgres)
    return {**load, **checks, "duplicate_writes": checks["applications"] - load["applied"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", required=True, help="a creditbot_bench* database URL (dropped and made again)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0, help="stop sending after this long")
    parser.add_argument("--threads", type=int, default=8, help="threads per instance (one worker each)")
    parser.add_argument("--instances", default="1,2", help="rounds: how many instances serve each (default 1,2)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="creditbot-load-") as scratch:
        for instances in [int(n) for n in args.instances.split(",")]:
            results.append(one_round(args, instances, Path(scratch) / f"csv{instances}"))
            print(json.dumps(results[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps({"results": results}, indent=2))
    bad = [r for r in results if r["over_applied_clients"] or r["duplicate_writes"] or r["errors"]
           or not r["totals_consistent"]]  # fmt: skip
    if bad:
        raise SystemExit(f"violated: {bad}")


if __name__ == "__main__":
    main()
