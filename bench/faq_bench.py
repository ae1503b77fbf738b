"""FAQ benchmark: milliseconds per question over every asked question, and each backend's start-up time.

    python -m bench.faq_bench

The target is under 5 ms a question on this machine. The TF-IDF backend has no floor to compare with; the hybrid
backend (faq/embedding.py, when the model is installed) is measured beside its forward pass on each runtime
(onnxruntime and numpy) and beside the floor of that pass: the same six layers' matrix products on a
question-sized input, BLAS alone. Everything per question is timed question by question in rotating order, so
machine load hits all alike.

Start-up is timed in fresh processes (`faq_from_content(load_content(...), "hybrid")`, model loading included),
for each runtime, with an empty cache directory (a first start: the content embedded) and with a warm one.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from faq.answering import DEFAULT_CONTENT_DIR, configured_backend, faq_from_content, semantic_index_factory
from faq.cache import CACHE_ENV  # a fresh cache directory measures a first start
from faq.entries import load_content

TARGET_MS = 5.0


def eval_questions() -> list[str]:
    return [question.question for question in load_content(DEFAULT_CONTENT_DIR).asked]


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
    began = time.perf_counter()
    static = faq_from_content(content, "static")
    startup["static (default), built"] = (time.perf_counter() - began) * 1000
    contenders: dict[str, Callable[[str], object]] = {"static (default)": static.ask, "tfidf": tfidf.ask}
    hybrid_startup = _hybrid_startup(content)
    if hybrid_startup is not None:
        hybrid, measured = hybrid_startup
        startup.update(measured)
        encoder = hybrid._ranker.semantic.encoder  # type: ignore[attr-defined]
        contenders[f"hybrid ({encoder.runtime})"] = hybrid.ask
        contenders.update(_forward_passes(encoder))
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


_CALL = """
import resource, sys, time
began = time.perf_counter()
{body}
elapsed = (time.perf_counter() - began) * 1000
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)
"""
_CALLS = {
    "floor: python -c pass": "pass",
    "floor: import numpy": "import numpy",
    "the FAQ alone: load_faq().ask(...)": "from faq import load_faq\nload_faq().ask('how do I undo a credit')",
    "creditbot faq QUESTION (whole CLI)": (
        "sys.argv = ['creditbot', 'faq', 'how do I undo a credit']\n"
        "from bot.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    ),
}


def bench_calls(repeats: int = 5) -> dict[str, dict[str, float]]:
    """Wall time and peak memory of one question per fresh process, as `creditbot faq` is used: with the built
    FAQ cached (warm, after the first call) and with an empty cache (cold), beside `python -c pass`. Median of
    `repeats`; the cases alternate. Run from a directory with no ledger, so nothing is grounded."""
    results: dict[str, list[tuple[float, float]]] = {}
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="creditbot-faq-calls-") as scratch:
        warm = Path(scratch) / "warm"
        _call(_CALLS["the FAQ alone: load_faq().ask(...)"], warm, scratch, root)  # fills the warm cache
        for repeat in range(repeats):
            for name, body in _CALLS.items():
                results.setdefault(f"{name}, warm", []).append(_call(body, warm, scratch, root))
                if "FAQ" in name or "faq" in name:
                    cold = Path(scratch) / f"cold-{repeat}"
                    results.setdefault(f"{name}, cold (empty cache)", []).append(_call(body, cold, scratch, root))
    return {
        name: {
            "wall_ms": statistics.median(wall for wall, _ in values),
            "peak_mib": statistics.median(peak for _, peak in values),
        }
        for name, values in results.items()
    }


def _call(body: str, cache: Path, cwd: str, root: Path) -> tuple[float, float]:
    environment = {**os.environ, CACHE_ENV: str(cache), "PYTHONPATH": str(root)}
    environment.pop("DATABASE_URL", None)
    began = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", _CALL.format(body=body)], env=environment, capture_output=True, text=True, cwd=cwd
    )
    wall = (time.perf_counter() - began) * 1000
    if child.returncode != 0:
        raise RuntimeError(child.stderr)
    _, peak = child.stderr.strip().splitlines()[-1].split()
    return wall, float(peak)


def _hybrid_startup(content: Any) -> tuple[Any, dict[str, float]] | None:
    from faq import embedding

    embedding.default_encoder.cache_clear()
    began = time.perf_counter()
    if semantic_index_factory() is None:
        return None
    measured = {"hybrid: load the model": (time.perf_counter() - began) * 1000}
    with tempfile.TemporaryDirectory(prefix="creditbot-faq-cache-") as cache, _environment(CACHE_ENV, cache):
        labels = ("hybrid: build, no content vectors cached (first start)", "hybrid: build, content vectors cached")
        for label in labels:
            began = time.perf_counter()
            hybrid = faq_from_content(content, "hybrid")
            measured[label] = (time.perf_counter() - began) * 1000
    return hybrid, measured


def _forward_passes(encoder: Any) -> dict[str, Callable[[str], object]]:
    """The forward pass alone (tokenizer included) on each runtime there is, and the BLAS floor of numpy's."""
    from faq.embedding import SentenceEncoder, find_model

    directory = find_model()
    assert directory is not None
    numpy_encoder = SentenceEncoder(directory, runtime="numpy")
    passes: dict[str, Callable[[str], object]] = {}
    if encoder.runtime == "onnxruntime":
        passes["forward pass, onnxruntime"] = encoder.encode_one
    passes["forward pass, numpy"] = numpy_encoder.encode_one
    passes["forward pass floor (BLAS products)"] = _blas_floor(numpy_encoder)
    return passes


def bench_cold_starts(repeats: int = 3) -> dict[str, float]:
    """Median milliseconds of `faq_from_content(load_content(DEFAULT_CONTENT_DIR), "hybrid")` in a fresh process,
    per runtime, with an empty cache directory and a warm one; the cases alternate, so load hits them alike."""
    timings: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="creditbot-faq-warm-") as warm:
        for runtime in _RUNTIMES:
            _cold_start(runtime, warm)  # fills the warm cache with the content vectors
        for _ in range(repeats):
            for runtime in _RUNTIMES:
                with tempfile.TemporaryDirectory(prefix="creditbot-faq-empty-") as empty:
                    timings.setdefault(f"{runtime}, empty cache", []).append(_cold_start(runtime, empty))
                timings.setdefault(f"{runtime}, warm cache", []).append(_cold_start(runtime, warm))
    return {case: statistics.median(values) for case, values in timings.items()}


_RUNTIMES = ("onnxruntime", "numpy")
_CHILD = """
import sys, time
if {runtime!r} == "numpy":
    sys.modules["onnxruntime"] = None  # as where onnxruntime is not installed: faq.embedding falls back to numpy
from faq.answering import DEFAULT_CONTENT_DIR, faq_from_content
from faq.entries import load_content
began = time.perf_counter()
faq = faq_from_content(load_content(DEFAULT_CONTENT_DIR), "hybrid")
elapsed = (time.perf_counter() - began) * 1000
assert faq.backend == "hybrid" and faq._ranker.semantic.encoder.runtime == {runtime!r}
print(elapsed)
"""


def _cold_start(runtime: str, cache: str) -> float:
    environment = {**os.environ, CACHE_ENV: cache}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD.format(runtime=runtime)],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return float(child.stdout.strip().splitlines()[-1])


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
            for layer in encoder.forward_pass.layers:
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
    for name, figures in bench_calls().items():
        print(f"| {name} | {figures['wall_ms']:.0f} ms wall | {figures['peak_mib']:.0f} MiB peak |")
    result = bench_backends()
    print(f"FAQ, {result['questions']} questions, target < {TARGET_MS:.0f} ms a question")
    for name, figures in result["per_question"].items():
        print(f"| {name} | p50 {figures['p50_ms']:.2f} ms | p99 {figures['p99_ms']:.2f} ms |")
    for name, milliseconds in result["startup_ms"].items():
        print(f"| start-up: {name} | {milliseconds:.0f} ms |")
    if any(name.startswith("hybrid") for name in result["per_question"]):
        for case, milliseconds in bench_cold_starts(repeats=1).items():
            print(f"| cold start, hybrid, {case} | {milliseconds:.0f} ms |")


if __name__ == "__main__":
    main()
