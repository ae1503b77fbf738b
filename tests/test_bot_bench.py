"""The latency benchmark keeps working (run at a tiny size; no assertion on the figures themselves)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bot_latency_benchmark_runs_and_reports_both_servers(tmp_path):
    figures = tmp_path / "latency.json"
    args = ["--payments", "200", "--requests", "16", "--rounds", "1", "--concurrency", "1,2", "--workers", "1",
            "--threads", "2", "--json", str(figures)]  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bot_latency.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "| concurrency | bare p50 | bare p99 | creditbot p50 | creditbot p99 | ratio p50 | ratio p99 |" in done.stdout
    )
    rows = [line for line in done.stdout.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert len(rows) == 2
    assert '"creditbot"' in figures.read_text()
