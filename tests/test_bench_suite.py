"""The benchmark suite keeps working: CI runs it at its smallest size (figures are read by people, not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_suite_runs_at_the_smallest_size_and_reports_every_path(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--sizes", "2000", "--requests", "40", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads((tmp_path / "results.json").read_text())
    paths = {row["path"] for row in figures["results"]}
    assert {"import", "full scan", "incremental scan (1k new payments)"} <= paths
    assert {"import of 1,000 new payments", "import, whole process", "import peak memory"} <= paths
    assert any(path.startswith("apply (SQLite, 8 writers)") for path in paths)
    assert any(path.startswith("balance over HTTP (8 concurrent)") for path in paths)
    for whole_process in ("creditbot balance", "creditbot serve memory", "creditbot faq"):  # issue 14's rows
        assert any(path.startswith(whole_process) for path in paths), whole_process
    assert all(row["ratio"] > 0 for row in figures["results"])
    assert figures["faq"]["questions"] > 100
    report = (tmp_path / "report.md").read_text()
    assert "| 2,000 | import |" in report and "FAQ question" in report
    assert (tmp_path / "scaling.png").stat().st_size > 10_000
