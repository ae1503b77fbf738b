"""FAQ benchmark: milliseconds per question over every evaluation question, and the index's start-up time.

    python -m bench.faq_bench

There is no floor to compare with here; the target is under 5 ms a question on this machine.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from faq.answering import load_faq

EVAL_FILES = (Path(__file__).resolve().parents[1] / "faq" / "eval").glob("*.jsonl")


def bench_faq() -> dict[str, Any]:
    started = time.perf_counter()
    if hasattr(load_faq, "cache_clear"):  # measure a cold start, not a cached index
        load_faq.cache_clear()
    faq = load_faq()
    startup = time.perf_counter() - started
    questions = [json.loads(line)["q"] for path in EVAL_FILES for line in path.read_text().splitlines() if line]
    timings = []
    for question in questions:
        began = time.perf_counter()
        faq.ask(question)
        timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    return {
        "path": "faq question",
        "questions": len(questions),
        "startup_ms": startup * 1000,
        "p50_ms": statistics.median(timings),
        "p99_ms": timings[int(len(timings) * 0.99) - 1],
        "target_ms": 5.0,
    }


def main() -> None:
    result = bench_faq()
    print(
        f"| FAQ question ({result['questions']} questions) | p50 {result['p50_ms']:.2f} ms, "
        f"p99 {result['p99_ms']:.2f} ms | start-up {result['startup_ms']:.0f} ms | target < 5 ms |"
    )


if __name__ == "__main__":
    main()
