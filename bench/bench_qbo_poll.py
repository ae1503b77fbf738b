"""A QuickBooks poll against applying the same changes from a file: the cost of being live.

    python -m bench.bench_qbo_poll                   # 200 changed entities (quick)
    python -m bench.bench_qbo_poll --entities 1000   # the issue's figure: a poll bringing 1,000 changes

Both sides start from the same ledger (a client, N/2 invoices) on SQLite and apply the same QuickBooks changes:
N/2 invoices posted and N/2 payments on them.
- poll: `creditbot qb poll`'s path (ledger.qbo.poll) over HTTP from the local QuickBooks stand-in
  (tests/qbo_standin.py): change data capture with a token, JSON over a socket, a full page split if one type
  reaches 1,000 objects, each page applied with the watermark.
- file (the floor): `creditbot sync-qb FILE`'s path: read the same CDC document as JSON text, one transaction.
Each side runs `--rounds` times on a fresh copy of the ledger; the best time of each is compared. Target: the poll
costs at most 2x the file.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ledger.db import Database  # noqa: E402
from ledger.qbo import SyncSummary, read_feed, sync_feed  # noqa: E402
from ledger.qbo.live import LiveQuickBooks  # noqa: E402
from ledger.qbo.poll import poll  # noqa: E402
from tests.builders import client, import_rows, invoice  # noqa: E402
from tests.qbo_live import connect, qbo_config  # noqa: E402
from tests.qbo_payloads import link, qbo_invoice, qbo_payment  # noqa: E402
from tests.qbo_standin import QBOStandIn  # noqa: E402


def _ledger(path: Path, count: int) -> None:
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    invoices = [invoice(f"INV-{n:05d}", "C1", "1000.00") for n in range(count)]
    import_rows(db, clients=[client("C1", "Acme Legal", qb_customer_id="58")], invoices=invoices)
    db.dispose()


def _changes(stand_in: QBOStandIn, count: int) -> None:
    start = datetime.now(UTC) - timedelta(hours=6)
    for n in range(count):
        at = start + timedelta(seconds=2 * n)
        stand_in.put("Invoice", qbo_invoice(str(10_000 + n), f"INV-{n:05d}", total=1000.0), updated=at)
        paid = qbo_payment(str(50_000 + n), [link("Invoice", str(10_000 + n), 400.0)])
        stand_in.put("Payment", paid, updated=at + timedelta(seconds=1))


def _cdc_document(stand_in: QBOStandIn) -> str:
    groups = [{kind: [e for (k, _), e in stand_in.entities.items() if k == kind]} for kind in ("Invoice", "Payment")]
    return json.dumps({"CDCResponse": [{"QueryResponse": groups}], "time": datetime.now(UTC).isoformat()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=200, help="changed QuickBooks entities (half invoices)")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    half = max(1, options.entities // 2)
    work = Path(tempfile.mkdtemp(prefix="bench-qbo-"))
    try:
        template = work / "template.db"
        _ledger(template, half)
        with QBOStandIn() as stand_in:
            _changes(stand_in, half)
            document = _cdc_document(stand_in)
            polls, files = [], []
            for round_ in range(options.rounds):
                polls.append(_time_poll(template, work / f"poll-{round_}.db", stand_in))
                files.append(_time_file(template, work / f"file-{round_}.db", document))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best_poll, best_file = min(polls), min(files)
    print(f"{2 * half} changed entities ({half} invoices posted, {half} payments), best of {options.rounds}:")
    print(f"  poll over HTTP (CDC):   {best_poll * 1000:8.1f} ms")
    print(f"  the same from a file:   {best_file * 1000:8.1f} ms")
    print(f"  ratio poll / file:      {best_poll / best_file:8.2f}x (target <= 2x)")


def _time_poll(template: Path, path: Path, stand_in: QBOStandIn) -> float:
    shutil.copy(template, path)
    db = Database(f"sqlite:///{path}")
    live = LiveQuickBooks.open(qbo_config(stand_in), db)
    connect(live, stand_in)
    started = time.perf_counter()
    result = poll(db, live.api)
    elapsed = time.perf_counter() - started
    _check(result.summary)
    db.dispose()
    return elapsed


def _time_file(template: Path, path: Path, document: str) -> float:
    shutil.copy(template, path)
    db = Database(f"sqlite:///{path}")
    started = time.perf_counter()
    summary = db.transact(sync_feed, read_feed(document, "feed.json"))
    elapsed = time.perf_counter() - started
    _check(summary)
    db.dispose()
    return elapsed


def _check(summary: SyncSummary) -> None:
    """Both sides must have done the same work, or the ratio means nothing."""
    half = len(summary.invoices_posted)
    assert half and len(summary.payments_recorded) == half and not summary.problems, summary.counts()


if __name__ == "__main__":
    main()
