"""FAQ benchmark: milliseconds per question over every evaluation question, and each backend's start-up time.

    python -m bench.faq_bench

The target is under 5 ms a question on this machine. The TF-IDF backend has no floor to compare with; the hybrid
backend (faq/embedding.py, when the model is installed) is measured beside the floor of its forward pass: the
same six layers' matrix products on a question-sized input, BLAS alone, which no numpy implementation can beat.
The backends and the floor are timed question by question in rotating order, so machine load hits them alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from faq.answering import DEFAULT_CONTENT_DIR, configured_backend, faq_from_content, semantic_index_factory
from faq.entries import load_content

EVAL_FILES = (Path(__file__).resolve().parents[1] / "faq" / "eval").glob("*.jsonl")
TARGET_MS = 5.0
CACHE_ENV = "CREDITBOT_FAQ_CACHE"  # faq.embedding.cache_directory(): a fresh one measures a first start


def eval_questions() -> list[str]:
    return [json.loads(line)["q"] for path in EVAL_FILES for line in path.read_text().splitlines() if line]


def bench_faq() -> dict[str, Any]:
    """The default FAQ (as the bot builds it): cold start-up and milliseconds per question."""
    started = time.perf_counter()
    faq = faq_from_content(load_content(DEFAULT_CONTENT_DIR), configured_backend())  # cold: not load_faq's cache
    startup = time.perf_counter() - started
    questions = eval_questions()
    timings = sorted(_timed(faq.ask, question) for question in questions)
    return {
        "path": "faq question",
        "backend": faq.backend,
        "questions": len(questions),
        "startup_ms": startup * 1000,
        **_percentiles(timings),
        "target_ms": TARGET_MS,
    }


def bench_backends() -> dict[str, Any]:
    """Both backends and the forward pass's floor, interleaved per question, plus each one's start-up."""
    content = load_content(DEFAULT_CONTENT_DIR)
    began = time.perf_counter()
    tfidf = faq_from_content(content, "tfidf")
    startup = {"tfidf": (time.perf_counter() - began) * 1000}
    contenders: dict[str, Callable[[str], object]] = {"tfidf": tfidf.ask}
    hybrid_startup = _hybrid_startup(content)
    if hybrid_startup is not None:
        hybrid, measured = hybrid_startup
        startup.update(measured)
        encoder = hybrid._ranker.semantic.encoder  # type: ignore[attr-defined]
        contenders["hybrid"] = hybrid.ask
        contenders["forward pass only"] = encoder.encode_one
        contenders["forward pass floor (BLAS products)"] = _blas_floor(encoder)
    questions = eval_questions()
    timings: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for position, question in enumerate(questions):
        for offset in range(len(names)):  # rotate the order so no contender always runs first
            name = names[(position + offset) % len(names)]
            timings[name].append(_timed(contenders[name], question))
    return {
        "questions": len(questions),
        "startup_ms": startup,
        "per_question": {name: _percentiles(sorted(values)) for name, values in timings.items()},
    }


def _hybrid_startup(content: Any) -> tuple[Any, dict[str, float]] | None:
    from faq import embedding

    embedding.default_encoder.cache_clear()
    began = time.perf_counter()
    if semantic_index_factory() is None:
        return None
    measured = {"hybrid: load the model": (time.perf_counter() - began) * 1000}
    with tempfile.TemporaryDirectory(prefix="creditbot-faq-cache-") as cache, _environment(CACHE_ENV, cache):
        for label in ("hybrid: build, no disk cache (first start)", "hybrid: build, disk cache present"):
            began = time.perf_counter()
            hybrid = faq_from_content(content, "hybrid")
            measured[label] = (time.perf_counter() - began) * 1000
    return hybrid, measured


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous


def _blas_floor(encoder: Any) -> Callable[[str], object]:
    import numpy as np
    from threadpoolctl import ThreadpoolController

    blas = ThreadpoolController()

    def floor(question: str) -> object:
        states = np.ones((len(encoder.tokenizer.encode(question).ids), encoder.hidden), dtype=np.float32)
        with blas.limit(limits=1, user_api="blas"):  # as the encoder runs them
            for layer in encoder.layers:
                states @ layer.qkv_w
                states @ layer.out_w
                (states @ layer.up_w) @ layer.down_w
        return states

    return floor


def _timed(call: Callable[[str], object], question: str) -> float:
    began = time.perf_counter()
    call(question)
    return (time.perf_counter() - began) * 1000


def _percentiles(sorted_ms: list[float]) -> dict[str, float]:
    return {"p50_ms": statistics.median(sorted_ms), "p99_ms": sorted_ms[int(len(sorted_ms) * 0.99) - 1]}


def main() -> None:
    result = bench_backends()
    print(f"FAQ, {result['questions']} questions, target < {TARGET_MS:.0f} ms a question")
    for name, figures in result["per_question"].items():
        print(f"| {name} | p50 {figures['p50_ms']:.2f} ms | p99 {figures['p99_ms']:.2f} ms |")
    for name, milliseconds in result["startup_ms"].items():
        print(f"| start-up: {name} | {milliseconds:.0f} ms |")


if __name__ == "__main__":
    main()
