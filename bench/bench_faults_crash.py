"""kill -9 mid-write, on every path that writes (issue 19, "prove" 1): the import, `serve` workers under applies and
clicks, `qb poll` and `scan --alert`. After each kill the ledger opens, its totals equal its entries, nothing is
half-written or doubled, and the next run finishes the job.

    python -m bench.bench_faults_crash --postgres postgresql+psycopg://postgres@127.0.0.1:5432/creditbot_bench_crash
    python -m bench.bench_faults_crash --kills 2 --payments 2000 --requests 12 --changes 6 --findings 20   # CI
    python -m bench.bench_faults_crash --paths serve,poll                                          # some paths

Each path runs on SQLite, and on PostgreSQL when --postgres names a creditbot_bench* database (dropped and made
again). Kill points are seeded random moments (--seed), never instrumented code: SIGKILL lands wherever the
process is.

- import (--payments, 200k by default): the synthetic ledger (bench/synthetic.py) is imported once to learn the
  import's duration; each kill point empties the ledger, starts the import in a child and kills it a random
  moment into that duration. The row counts must be those of an empty ledger or of the complete import (it is one
  transaction), and the next import completes it.
- serve (--requests per kill point): `creditbot serve` with two gunicorn workers takes a stream of signed
  `/credit apply INVOICE 1.00`, four at a time, and a click on the reply's **Undo** for every third. After a
  random number of answers one worker gets SIGKILL (gunicorn starts another). Then, as Slack or the person would,
  every request of the stream is sent again with its own key (trigger_id; the click's message, button and user):
  each invoice must end with one application, reversed once where Undo was clicked, never two.
- poll (--changes per kill point): QuickBooks (the stand-in, tests/qbo_standin.py, reached through
  QBO_ENVIRONMENT's discovery URL and QBO_API_URL) posts that many invoices and records a payment on each; access
  tokens expire every other call, so a poll refreshes its token, reads the changes and applies them with the
  watermark; each answer takes 0.2 s, like a real QuickBooks. `creditbot qb poll` is killed a random moment into
  a poll's duration, counted from its first request to QuickBooks (its steps, not Python's start-up). Every
  payment older than the stored watermark must be in the ledger (nothing skipped), none twice, and the next poll
  brings the rest.
- alert (--findings per kill point): that many invoices get a duplicated credit application, and
  `creditbot scan --alert` (Slack: the stand-in, tests/slack_standin.py, through SLACK_API_URL, answering in
  0.2 s like a real Slack) is killed a random moment into a run's duration. The claims it held are aged past
  their lease (as if 15 minutes had gone by) and the next run must leave every finding in the channel exactly once
  (the claim-token recovery), recorded with its message.

Besides the outcomes, each path counts where its kills landed (requests cut off, the poll's steps, the alert
states), from the ledger and the stand-ins right after the kill.

Prints one line per path and database and writes `crash.json` to --out. Any violated check exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from http.client import HTTPException
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import SQLModel, col, func, select

import ledger.tables  # noqa: F401  (every table on the metadata)
from bench.bot_latency import free_port
from bench.run import fresh_postgres
from bench.synthetic import write_ledger
from ledger.consistency import check_totals
from ledger.csv_import.loader import import_directory
from ledger.db import Database
from ledger.qbo.live import LiveQuickBooks
from ledger.tables import Client, Credit, Invoice, Payment, Project, ScanFinding
from tests.builders import client, credit, import_rows, invoice, payment
from tests.qbo_live import connect, qbo_config, qbo_env
from tests.qbo_payloads import link, qbo_invoice, qbo_payment
from tests.qbo_standin import QBOStandIn
from tests.slack_standin import ADMIN, CHANNEL, SIGNING_SECRET, BotUnderTest, Message, SlackStandIn
from tests.test_scan_alerts import finding_ids_in

ROOT = Path(__file__).resolve().parents[1]
COUNTED = (Client, Project, Invoice, Credit, Payment)
PATHS = ("import", "serve", "poll", "alert")
APOLOGY = "something went wrong"
FINISH_SECONDS = 60  # how long the restarted server may take to finish the stream's work
WORKERS = 2
Begun = Callable[[], bool] | None  # when a child has begun the steps its kill moments are drawn over
# The alert path's Slack answers each call this long after carrying it out, as a real Slack's round trip takes:
# a kill then often lands with a message posted and its answer not yet back (the claim-token recovery's case).
SLACK_LATENCY = 0.2
# The same for QuickBooks in the poll path, whose kill moments are drawn from its first request to QuickBooks on.
QBO_LATENCY = 0.2


def row_counts(db: Database) -> tuple[int, ...]:
    with db.engine.connect() as connection:
        return tuple(connection.execute(text(f'SELECT COUNT(*) FROM "{table.__tablename__}"')).scalar_one()
                     for table in COUNTED)  # fmt: skip


def consistent(db: Database) -> bool:
    with db.read(snapshot=True) as unit:  # a surviving worker may still be writing
        return check_totals(unit).ok


def opened(url: str) -> Database | None:
    """The database after a crash, at the current schema, or None if it cannot be opened."""
    db = Database(url)
    try:
        db.ensure_schema()
        row_counts(db)
    except Exception:
        db.dispose()
        return None
    return db


class Ledger:
    """One database to crash imports into, emptied before each kill point."""

    def __init__(self, url: str | None, folder: Path, name: str = "crash") -> None:
        if url is None:
            template = folder / f"{name}-template.db"
            migrated = Database(f"sqlite:///{template}")
            migrated.upgrade()
            migrated.dispose()  # the last connection's close moves the WAL into the file that is copied
            self.template: Path | None = template
            self.path = folder / f"{name}.db"
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


def _tally(states: list[str], good: tuple[str, ...]) -> dict[str, int]:
    counts = Counter(states)
    return {**{state: 0 for state in good}, **counts}


# --- import ---------------------------------------------------------------------------------------------------


def crash_import(ledger_db: Ledger, csv: Path, kills: int, seed: int) -> dict[str, Any]:
    ledger_db.empty()
    duration = _child_seconds(_child_command("import", ledger_db.url, str(csv)), None)  # cold, in a new process
    reference = Database(ledger_db.url)
    complete = row_counts(reference)
    reference.dispose()
    empty = (0,) * len(COUNTED)
    rng = random.Random(seed)
    states = []
    for kill in range(kills):
        ledger_db.empty()
        _kill_child(_child_command("import", ledger_db.url, str(csv)), None, rng.uniform(0, duration * 1.1))
        states.append(_after_import_crash(ledger_db.url, csv, empty, complete))
        _progress("import", ledger_db.name, kill, kills, states[-1])
    return {"path": "import", "database": ledger_db.name, "size": complete[-1], "kills": kills,
            "run_s": round(duration, 3), **_tally(states, ("untouched", "complete"))}  # fmt: skip


def _after_import_crash(url: str, csv: Path, empty: tuple[int, ...], complete: tuple[int, ...]) -> str:
    db = opened(url)
    if db is None:
        return "unopenable"
    try:
        counts = row_counts(db)
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


# --- children: the import, and `creditbot` commands, each saying "ready" once loaded -----------------------------


def _child_command(kind: str, *arguments: str) -> list[str]:
    if kind == "creditbot":  # the command line itself, "ready" once Python and the CLI are loaded
        run = "import sys; from bot.cli import main; print('ready', flush=True); sys.argv[0] = 'creditbot'; main()"
        return [sys.executable, "-c", run, *arguments]
    return [sys.executable, "-m", "bench.bench_faults_crash", "--child", kind, *arguments]


def _start(command: list[str], env: dict[str, str] | None) -> subprocess.Popen[str]:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _child_seconds(command: list[str], env: dict[str, str] | None, begun: Begun = None) -> float:
    """Run a child to its end; seconds from its "ready" (Python and the ledger loaded), or from `begun()`, to its
    exit."""
    child = _start(command, env)
    assert child.stdout is not None
    child.stdout.readline()
    _wait_until(begun)
    started = time.perf_counter()
    child.stdout.read()
    if child.wait() != 0:
        raise SystemExit(f"{command[4:]} failed when run to its end")
    return time.perf_counter() - started


def _kill_child(command: list[str], env: dict[str, str] | None, after: float, begun: Begun = None) -> None:
    child = _start(command, env)
    assert child.stdout is not None
    child.stdout.readline()  # "ready": the work starts now
    _wait_until(begun)
    time.sleep(after)
    child.send_signal(signal.SIGKILL)
    child.wait()


def _wait_until(begun: Begun) -> None:
    while begun is not None and not begun():
        time.sleep(0.001)


def _finishes(command: list[str], env: dict[str, str]) -> bool:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=False).returncode == 0


def _child(url: str, csv: str) -> None:
    db = Database(url)
    print("ready", flush=True)
    import_directory(db, Path(csv))


def _progress(path: str, database: str, kill: int, kills: int, state: str) -> None:
    print(f"  {path} on {database} kill {kill + 1}/{kills}: {state}", file=sys.stderr, flush=True)


def _fresh(url: str | None, folder: Path, name: str) -> str:
    """A migrated, empty database for one path."""
    if url is None:
        url = f"sqlite:///{folder / f'{name}.db'}"
    else:
        fresh_postgres(url)
    db = Database(url)
    db.upgrade()
    db.dispose()
    return url


def _environment(url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CREDITBOT_", "QBO_", "DATABASE_URL"))}
    return {**env, "PYTHONPATH": str(ROOT), "DATABASE_URL": url, "CREDITBOT_SCAN_CRON": "0 0 1 1 *", **settings}


# --- serve: workers killed under applies and clicks -----------------------------------------------------------


def crash_serve(url: str | None, folder: Path, kills: int, requests: int, seed: int) -> dict[str, Any]:
    url = _fresh(url, folder, "serve")
    db = Database(url)
    numbers = [[f"SRV-{k}-{n}" for n in range(requests)] for k in range(kills)]
    import_rows(db, clients=[client("S1")], credits=[credit("SCR-1", "S1", amount="1000000.00")],
                invoices=[invoice(number, "S1", "100.00") for round_ in numbers for number in round_])  # fmt: skip
    rng = random.Random(seed)
    states, landed, interrupted = [], Counter[str](), 0
    with SlackStandIn() as slack, _server(url, slack) as (master, base):
        bot = BotUnderTest(base, slack)
        for kill in range(kills):
            stream = _Stream(bot, kill, numbers[kill])
            states.append(_crash_stream(db, master, base, stream, rng))
            landed["with requests cut off" if stream.interrupted else "between requests"] += 1
            interrupted += stream.interrupted
            _progress("serve", _name(url), kill, kills, states[-1])
    db.dispose()
    return {"path": "serve", "database": _name(url), "size": requests, "kills": kills, "landed": dict(landed),
            "requests_cut_off": interrupted, **_tally(states, ("finished",))}  # fmt: skip


class _Stream:
    """One kill point's requests: an apply per invoice, and a click on Undo for every third, each with its key."""

    def __init__(self, bot: BotUnderTest, round_: int, numbers: list[str]) -> None:
        self.bot, self.round, self.numbers = bot, round_, numbers
        self.applies = {n: bot.slash_body(f"apply {n} 1.00", trigger_id=f"crash-{n}") for n in numbers}
        self.clicks: dict[str, str] = {}  # invoice -> the click's body, once its reply with Undo was seen
        self.errors = 0
        self.interrupted = 0  # requests of the stream whose worker was killed under them

    def undone(self, number: str) -> bool:
        return int(number.rsplit("-", 1)[1]) % 3 == 0

    def send(self, number: str) -> bool:
        """Apply (and click Undo where planned); False when the request got no answer (its worker was killed)."""
        try:
            answer = self.bot.post(self.applies[number])
            if answer.status >= 500 or APOLOGY in answer.body.lower():
                self.errors += 1
                return False
            if self.undone(number):
                if number not in self.clicks:
                    # The reply's message, the same for every send: the click's key is message, button and user.
                    reply = answer.json()
                    message = Message(reply.get("blocks", []), reply.get("text", ""), _message_ts(number), CHANNEL)
                    self.clicks[number] = self.bot.click_body(message, "Undo")
                clicked = self.bot.post(self.clicks[number])
                return clicked.status == 200
            return True
        except (OSError, HTTPException):
            return False


def _message_ts(number: str) -> str:
    _, round_, n = number.split("-")
    return f"{1_700_000_000 + int(round_)}.{int(n):06d}"


def _crash_stream(db: Database, master: subprocess.Popen[bytes], base: str, stream: _Stream, rng: random.Random) -> str:
    after, answered = rng.randrange(len(stream.numbers)), Counter[str]()

    def one(number: str) -> None:
        if not stream.send(number):
            stream.interrupted += 1
        answered[number] += 1

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(one, number) for number in stream.numbers]
        while len(answered) < after and not all(f.done() for f in futures):
            time.sleep(0.005)
        os.kill(rng.choice(_workers(master.pid)), signal.SIGKILL)
    state = _serve_state(db, stream)
    if state != "finished" and state != "unfinished":
        return state
    _wait_for_workers(master.pid, base)
    for number in stream.numbers:  # Slack's retries and the person's second click, each with its own key
        if not any(stream.send(number) or time.sleep(0.5) for _attempt in range(20)):
            return "no answer"
    if stream.errors:
        return "error answer"
    deadline = time.monotonic() + FINISH_SECONDS
    while (state := _serve_state(db, stream)) == "unfinished" and time.monotonic() < deadline:
        time.sleep(0.1)  # a click's work runs after its acknowledgement
    return "not finished" if state == "unfinished" else state


def _serve_state(db: Database, stream: _Stream) -> str:
    """finished, unfinished (some work not done yet), doubled, or inconsistent."""
    if not consistent(db):
        return "inconsistent"
    with db.read() as unit:
        rows = unit.session.execute(
            text(
                "SELECT i.number, i.credits_applied_minor, COUNT(p.id), COUNT(r.id) FROM invoice i "
                "LEFT JOIN payment p ON p.invoice_id = i.id AND p.kind = 'AccountCredit' "
                "LEFT JOIN reversal r ON r.payment_id = p.id WHERE i.number LIKE :prefix "
                "GROUP BY i.number, i.credits_applied_minor"
            ),
            {"prefix": f"SRV-{stream.round}-%"},
        ).all()
    finished = True
    for number, applied_minor, applications, reversals in rows:
        if applications > 1 or reversals > 1 or applied_minor not in (0, 100):
            return "doubled"
        want = (1, 1, 0) if stream.undone(number) else (1, 0, 100)
        finished &= (applications, reversals, applied_minor) == want
    return "finished" if finished and len(rows) == len(stream.numbers) else "unfinished"


@contextmanager
def _server(url: str, slack: SlackStandIn) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = _environment(url, SLACK_BOT_TOKEN="xoxb-crash", SLACK_SIGNING_SECRET=SIGNING_SECRET,
                       SLACK_API_URL=slack.api_url, CREDITBOT_BILLING_ADMINS=ADMIN,
                       CREDITBOT_APPROVAL_THRESHOLD="")  # fmt: skip
    command = [sys.executable, "-c", "from bot.cli import main; main()", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(WORKERS), "--threads", "4"]  # fmt: skip
    master = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_workers(master.pid, base)
        yield master, base
    finally:
        master.terminate()
        master.wait(timeout=30)


def _workers(master: int) -> list[int]:
    """The gunicorn master's worker processes (its children), from /proc."""
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def _wait_for_workers(master: int, base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(_workers(master)) == WORKERS:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    return
            except OSError:
                pass
        time.sleep(0.1)
    raise SystemExit("creditbot serve did not come back after a worker was killed")


def _name(url: str) -> str:
    return "SQLite" if url.startswith("sqlite") else "PostgreSQL"


# --- qb poll --------------------------------------------------------------------------------------------------


def crash_poll(url: str | None, folder: Path, kills: int, changes: int, seed: int) -> dict[str, Any]:
    url = _fresh(url, folder, "poll")
    db = Database(url)
    rounds = kills + 1  # the first measures a poll's duration
    import_rows(
        db,
        clients=[client("Q1", qb_customer_id="58")],
        invoices=[invoice(f"QB-{k}-{n}", "Q1", "1000.00") for k in range(rounds) for n in range(changes)],
    )
    rng = random.Random(seed)
    states, landed = [], Counter[str]()
    # Every other call to QuickBooks finds its access token expired: a poll refreshes it (a rotating refresh token).
    with QBOStandIn(expire_every=2) as qbo:
        connect(LiveQuickBooks.open(qbo_config(qbo), db), qbo)
        qbo.latency = QBO_LATENCY
        env = _environment(url, **qbo_env(qbo))
        command = _child_command("creditbot", "qb", "poll")
        _quickbooks_changes(qbo, 0, changes)
        asked = qbo.requests
        duration = _child_seconds(command, env, partial(_asked_since, qbo, asked))
        for kill in range(kills):
            _quickbooks_changes(qbo, kill + 1, changes)
            refreshes, asked = qbo.refreshes, qbo.requests
            _kill_child(command, env, rng.uniform(0, duration * 1.1), partial(_asked_since, qbo, asked))
            landed[_poll_landed(url, qbo, kill + 1, changes, qbo.refreshes > refreshes)] += 1
            states.append(_after_crash(url, partial(_poll_state, qbo=qbo), command, env))
            _progress("poll", _name(url), kill, kills, states[-1])
    db.dispose()
    return {"path": "poll", "database": _name(url), "size": 2 * changes, "kills": kills, "run_s": round(duration, 3),
            "landed": dict(landed), **_tally(states, ("finished",))}  # fmt: skip


def _poll_landed(url: str, qbo: QBOStandIn, round_: int, changes: int, refreshed: bool) -> str:
    """Where the kill landed: before or after the token refresh, and before or after the page was applied."""
    db = opened(url)
    if db is None:
        return "unopenable"
    with db.read() as unit:
        paid = unit.session.exec(
            select(func.count()).where(col(Invoice.number).startswith(f"QB-{round_}-"), Invoice.cash_paid_minor > 0)
        ).one()
    db.dispose()
    step = "before the token refresh" if not refreshed else "after the token refresh"
    return step if paid == 0 else f"{step}, page applied" if paid == changes else f"{step}, {paid} of {changes} applied"


def _asked_since(qbo: QBOStandIn, requests: int) -> bool:
    return qbo.requests > requests


def _quickbooks_changes(qbo: QBOStandIn, round_: int, changes: int) -> None:
    """In QuickBooks: each of the round's invoices posted, and a $400 payment on it."""
    for n in range(changes):
        invoice_id, payment_id = f"{round_}{n:04d}1", f"{round_}{n:04d}2"
        qbo.put("Invoice", qbo_invoice(invoice_id, f"QB-{round_}-{n}", total=1000.0))
        qbo.put("Payment", qbo_payment(payment_id, [link("Invoice", invoice_id, 400.0)]))


def _after_crash(
    url: str,
    state_of: Callable[[Database], str],
    command: list[str],
    env: dict[str, str],
    before_rerun: Callable[[Database], None] = lambda db: None,
    unfinished: str = "not finished",
) -> str:
    """The ledger after a kill: opened, in a promised state (else that state), and the next run finishes the job
    (`before_rerun`: what time does first, e.g. a claim's lease passing; `unfinished`: what a job left undone is)."""
    db = opened(url)
    if db is None:
        return "unopenable"
    try:
        state = state_of(db)
        if state != "finished" and state != "unfinished":
            return state
        before_rerun(db)
        if not _finishes(command, env):
            return "not finished"
        state = state_of(db)
        return unfinished if state == "unfinished" else state
    finally:
        db.dispose()


def _poll_state(db: Database, qbo: QBOStandIn) -> str:
    """finished, unfinished, doubled, skipped (a payment older than the watermark missing), or inconsistent."""
    if not consistent(db):
        return "inconsistent"
    with db.read() as unit:
        session = unit.session
        external = session.exec(select(Payment.external_id).where(col(Payment.external_id).startswith("qbo:payment:")))
        recorded = {entry.split(":")[2].split("/")[0] for entry in external if entry}
        paid = session.exec(select(Invoice.cash_paid_minor).where(col(Invoice.number).startswith("QB-"))).all()
        watermark = unit.read_time(session.execute(text("SELECT changed_since FROM qbo_connection")).scalar_one())
    if any(cash > 40_000 for cash in paid):
        return "doubled"
    with qbo.lock:
        payments = {qbo_id: entity["MetaData"]["LastUpdatedTime"] for (kind, qbo_id), entity in qbo.entities.items()
                    if kind == "Payment"}  # fmt: skip
    if watermark is not None and any(
        datetime.fromisoformat(at) < watermark for qbo_id, at in payments.items() if qbo_id not in recorded
    ):
        return "skipped"
    return "finished" if set(payments) <= recorded else "unfinished"


# --- scan --alert ---------------------------------------------------------------------------------------------


def crash_alert(url: str | None, folder: Path, kills: int, findings: int, seed: int) -> dict[str, Any]:
    url = _fresh(url, folder, "alert")
    db = Database(url)
    rng = random.Random(seed)
    states, landed = [], Counter[str]()
    with SlackStandIn() as slack:
        slack.latency = SLACK_LATENCY
        slack.server.handle_error = lambda *_: None  # the killed run's sockets break under the answers: expected
        env = _environment(url, SLACK_BOT_TOKEN="xoxb-crash", SLACK_API_URL=slack.api_url,
                           CREDITBOT_ALERT_CHANNEL=CHANNEL)  # fmt: skip
        command = _child_command("creditbot", "scan", "--alert")
        _duplicates(db, 1, findings)
        duration = _child_seconds(command, env)
        for kill in range(kills):
            _duplicates(db, kill + 2, findings)
            _kill_child(command, env, rng.uniform(0, duration * 1.1))
            landed[_alert_landed(url, kill + 2, findings)] += 1
            states.append(_after_crash(url, partial(_alert_state, slack=slack), command, env, _lease_passed, "lost"))
            _progress("alert", _name(url), kill, kills, states[-1])
    db.dispose()
    return {"path": "alert", "database": _name(url), "size": findings, "kills": kills, "run_s": round(duration, 3),
            "landed": dict(landed), **_tally(states, ("finished",))}  # fmt: skip


def _alert_landed(url: str, rounds: int, findings: int) -> str:
    """Where the kill landed, from the findings' alert states: scanning, claimed, posting, between messages, done."""
    db = opened(url)
    if db is None:
        return "unopenable"
    with db.read() as unit:
        states = Counter(unit.session.exec(select(ScanFinding.alert_state)))
    db.dispose()
    if sum(states.values()) < rounds * findings:
        return "during the scan"
    if states["posting"]:
        return "claimed or posting"
    if states["pending"]:
        return "between messages" if states["pending"] < findings else "after the scan, before posting"
    return "after posting"


def _duplicates(db: Database, rounds: int, findings: int) -> None:
    """The export now holds `rounds` x `findings` invoices, each with a credit applied twice: a finding each."""
    numbers = [f"AL-{k}-{n}" for k in range(rounds) for n in range(findings)]
    import_rows(db, clients=[client("A1")], credits=[credit("ACR-1", "A1", amount="1000000.00")],
                invoices=[invoice(number, "A1") for number in numbers],
                payments=[payment(f"AP-{number}-{copy}", number, "AccountCredit", "10.00",
                                  received_on=f"2026-10-0{copy + 1}")
                          for number in numbers for copy in range(2)])  # fmt: skip


def _lease_passed(db: Database) -> None:
    """Claims the killed run held, moved 16 minutes back: the next run takes them over, as after the lease."""
    with db.write() as unit:
        for row in unit.session.exec(select(ScanFinding).where(ScanFinding.alert_state == "posting")):
            row.alert_claimed_at = row.alert_claimed_at and row.alert_claimed_at - timedelta(minutes=16)
            row.alert_attempted_at = row.alert_attempted_at and row.alert_attempted_at - timedelta(minutes=16)
            unit.session.add(row)


def _alert_state(db: Database, slack: SlackStandIn) -> str:
    """finished (each finding in the channel once, recorded with its message), unfinished, doubled, inconsistent."""
    if not consistent(db):
        return "inconsistent"
    with db.read() as unit:
        stored = {row.id: (row.alert_state, row.alert_ts) for row in unit.session.exec(select(ScanFinding))}
    with slack._changed:
        messages = list(slack.posted)
    in_channel = Counter(finding for message in messages for finding in finding_ids_in(message))
    if any(count > 1 for count in in_channel.values()):
        return "doubled"
    by_ts = {message.ts: set(finding_ids_in(message)) for message in messages}
    finished = set(in_channel) == set(stored) and all(
        state == "posted" and finding in by_ts.get(ts or "", set()) for finding, (state, ts) in stored.items()
    )
    return "finished" if finished else "unfinished"


# --- the run --------------------------------------------------------------------------------------------------

# Outcomes that keep the promise. A poll killed after QuickBooks rotated its refresh token (before the ledger stored
# the new one) is among them with no one's help: the stored token stays good for 24 hours (ledger/qbo/oauth.py).
GOOD = {"untouched", "complete", "finished"}


def _line(result: dict[str, Any]) -> str:
    outcomes = ", ".join(f"{count} {state}" for state, count in result.items() if isinstance(count, int)
                         and state not in ("size", "kills", "requests_cut_off"))  # fmt: skip
    landed = ", ".join(f"{count} {where}" for where, count in result.get("landed", {}).items())
    return (f"{result['path']} on {result['database']}: {result['kills']} kills (size {result['size']:,}): {outcomes}"
            + (f"; landed: {landed}" if landed else ""))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", default=",".join(PATHS), help=f"which of {', '.join(PATHS)} (default all)")
    parser.add_argument("--payments", type=int, default=200_000, help="import: payments in the export")
    parser.add_argument("--requests", type=int, default=40, help="serve: applies in each kill point's stream")
    parser.add_argument("--changes", type=int, default=50, help="poll: invoices posted and paid per kill point")
    parser.add_argument("--findings", type=int, default=40, help="alert: new findings per kill point")
    parser.add_argument("--kills", type=int, default=50, help="kill points per path and database")
    parser.add_argument("--postgres", help="a creditbot_bench* database URL (dropped and created again)")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--databases", default="sqlite,postgresql", help="sqlite, postgresql (needs --postgres)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child[1:])
        return
    paths = [path for path in args.paths.split(",") if path]
    if unknown := set(paths) - set(PATHS):
        parser.error(f"no such path: {', '.join(sorted(unknown))} (the paths are {', '.join(PATHS)})")
    results = []
    with tempfile.TemporaryDirectory(prefix="creditbot-crash-") as scratch:
        folder = Path(scratch)
        wanted = args.databases.split(",")
        urls = [None] * ("sqlite" in wanted) + [args.postgres] * bool(args.postgres and "postgresql" in wanted)
        for url in urls:
            for path in paths:
                if path == "import":
                    if not (folder / "csv").exists():
                        write_ledger(folder / "csv", args.payments)
                    result = crash_import(Ledger(url, folder), folder / "csv", args.kills, args.seed)
                elif path == "serve":
                    result = crash_serve(url, folder, args.kills, args.requests, args.seed)
                elif path == "poll":
                    result = crash_poll(url, folder, args.kills, args.changes, args.seed)
                else:
                    result = crash_alert(url, folder, args.kills, args.findings, args.seed)
                results.append(result)
                print(_line(result), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "crash.json").write_text(json.dumps({"results": results}, indent=2))
    bad = sum(count for r in results for state, count in r.items()
              if isinstance(count, int) and state not in ("size", "kills", "requests_cut_off", *GOOD))  # fmt: skip
    if bad:
        raise SystemExit(f"{bad} kill point(s) left a ledger partial, doubled, inconsistent, unusable or unfinished")


if __name__ == "__main__":
    main()
