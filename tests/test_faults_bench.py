"""The fault benches keep working: CI runs them at their smallest size (bench/bench_faults_crash.py: kill -9 of the
import, `serve` workers, `qb poll` and `scan --alert`; bench/bench_faults_load.py: two instances under load)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]


# What CI runs of each path: its smallest size, one or two kill points on each database (each path's full size,
# 50 kill points a database, is run by hand and reported in the README).
CRASH_PATHS = {
    "import": ["--payments", "2000", "--kills", "2"],
    "serve": ["--requests", "8", "--kills", "1"],
    "poll": ["--changes", "4", "--kills", "1"],
    "alert": ["--findings", "20", "--kills", "1"],
}


@pytest.mark.parametrize("path", CRASH_PATHS)
def test_kill_9_mid_write_leaves_nothing_partial_or_doubled_and_the_next_run_finishes(tmp_path: Path, path: str):
    command = [sys.executable, "-m", "bench.bench_faults_crash", "--paths", path, *CRASH_PATHS[path],
               "--out", str(tmp_path)]  # fmt: skip
    base = os.environ.get("CREDITBOT_TEST_POSTGRES_URL")
    if base:
        own = f"creditbot_bench_crash_{os.getpid()}"
        command += ["--postgres", make_url(base).set(database=own).render_as_string(hide_password=False)]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    finally:
        if base:
            _drop(command[-1])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "crash.json").read_text())["results"]
    assert [r["database"] for r in results] == ["SQLite", "PostgreSQL"] if base else ["SQLite"]
    kills = int(CRASH_PATHS[path][-1])
    for result in results:
        assert result["path"] == path and result["kills"] == kills
        good = result["untouched"] + result["complete"] if path == "import" else result["finished"]
        assert good == kills, result


def test_two_instances_on_one_postgresql_never_over_apply_or_write_twice(tmp_path: Path):
    base = os.environ.get("CREDITBOT_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("needs PostgreSQL (CREDITBOT_TEST_POSTGRES_URL)")
    own = make_url(base).set(database=f"creditbot_bench_load_{os.getpid()}").render_as_string(hide_password=False)
    command = [sys.executable, "-m", "bench.bench_faults_load", "--postgres", own, "--instances", "2",
               "--requests", "40", "--concurrency", "8", "--out", str(tmp_path)]  # fmt: skip
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    finally:
        _drop(own)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [result] = json.loads((tmp_path / "load.json").read_text())["results"]
    assert (result["over_applied_clients"], result["duplicate_writes"], result["errors"]) == (0, 0, 0)
    assert result["totals_consistent"] and result["applied"] == result["applications"] > 0


def _drop(url: str) -> None:
    """The bench's own database (creditbot_bench_*_PID), dropped after its run."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()
