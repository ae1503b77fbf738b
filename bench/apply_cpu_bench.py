"""Apply credit, 1 writer, SQLite, by CPU time: creditbot's `apply_credit` beside its floor (bench/ledger_bench.py,
`_raw_apply`: the same statements written by hand on the pool's connection), in one process, alternating.

    python -m bench.apply_cpu_bench [--pairs 30] [--per 100]

Each pair runs `--per` applies of each side, the side that goes first alternating from pair to pair, so both see
the same load on a shared machine. Reported: applies per CPU second of each side (all rounds, and the best round),
the floor's CPU over creditbot's (all rounds; best round over best round; the median of the pairs), wall-clock
applies per second, and the load average before and after (issue 14's target: creditbot at >= 70% of the floor).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.ledger_bench import APPLY_CLIENTS, _apply_ledger, _raw_apply
from ledger import operations
from ledger.approvals import WriteRequest
from ledger.db import Database


def _invoice(n: int) -> str:
    return f"AI-{(n * 7) % APPLY_CLIENTS}-{n % 4}"


def _round(apply: Callable[[int], None], first: int, count: int) -> tuple[float, float]:
    """CPU and wall seconds of `count` applies."""
    cpu, wall = time.process_time(), time.perf_counter()
    for n in range(first, first + count):
        apply(n)
    return time.process_time() - cpu, time.perf_counter() - wall


def measure(pairs: int, per: int) -> str:
    with tempfile.TemporaryDirectory(prefix="creditbot-apply-cpu-") as tmp:
        folder = Path(tmp)
        db = Database(f"sqlite:///{folder / 'apply.db'}")
        db.upgrade()
        _apply_ledger(db, folder)
        run = uuid.uuid4().hex[:8]

        def creditbot(n: int) -> None:
            db.transact(operations.apply_credit, _invoice(n), "0.01", None, WriteRequest("bench", f"bench:{run}:{n}"))

        def floor(n: int) -> None:
            _raw_apply(db, _invoice(n), f"floor:{run}:{n}")

        sides: dict[str, Callable[[int], None]] = {"creditbot": creditbot, "floor": floor}
        for apply in sides.values():  # warm: imports, statement caches, the pool
            _round(apply, 10**7, 200)
        cpu: dict[str, list[float]] = {side: [] for side in sides}
        wall = dict.fromkeys(sides, 0.0)
        load = [os.getloadavg()[0]]
        for pair in range(pairs):
            for side in sorted(sides, reverse=pair % 2 == 1):
                spent, took = _round(sides[side], pair * per, per)
                cpu[side].append(spent)
                wall[side] += took
            load.append(os.getloadavg()[0])
        db.dispose()
    ours, least = cpu["creditbot"], cpu["floor"]
    pair_ratios = [f / o for o, f in zip(ours, least, strict=True)]
    total = pairs * per
    return (
        f"creditbot {total / sum(ours):,.0f} applies per CPU second (best round {per / min(ours):,.0f}); "
        f"floor {total / sum(least):,.0f} (best round {per / min(least):,.0f}); "
        f"creditbot at {sum(least) / sum(ours):.1%} of the floor by CPU (best rounds {min(least) / min(ours):.1%}, "
        f"median of pairs {statistics.median(pair_ratios):.1%}); wall {total / wall['creditbot']:,.0f} against "
        f"{total / wall['floor']:,.0f} applies/s ({wall['floor'] / wall['creditbot']:.1%}); "
        f"load average {min(load):.1f}-{max(load):.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--per", type=int, default=100, help="applies per side in each pair")
    args = parser.parse_args()
    print(measure(args.pairs, args.per))


if __name__ == "__main__":
    main()
