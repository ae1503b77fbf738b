"""The command line imports only what a command uses: `creditbot --help` loads no command module, and neither
Slack, the scheduler, the database layer nor the FAQ's model; a ledger read loads no Slack or FAQ model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import typer
import typer.main

from bot.cli import COMMANDS

HEAVY = ("slack_bolt", "slack_sdk", "apscheduler", "numpy", "onnxruntime", "sqlalchemy", "alembic", "rich")
PROBE = """
import json, sys
sys.argv = ["creditbot", *json.loads(sys.argv[1])]
from bot.cli import main
try:
    main()
except SystemExit:
    pass
sys.stderr.write("MODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""


def modules_loaded(tmp_path: Path, *args: str) -> set[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], env=env, capture_output=True, text=True)
    [line] = [line for line in done.stderr.splitlines() if line.startswith("MODULES ")]
    return {name.partition(".")[0] for name in json.loads(line.removeprefix("MODULES "))}


def test_help_imports_no_command_module_and_nothing_heavy(tmp_path):
    loaded = modules_loaded(tmp_path, "--help")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert "ledger" not in loaded and "faq" not in loaded


def test_a_ledger_read_loads_neither_slack_nor_the_scheduler_nor_the_faq_model(tmp_path):
    loaded = modules_loaded(tmp_path, "balance", "acme")
    assert not loaded & {"slack_bolt", "slack_sdk", "apscheduler", "numpy", "onnxruntime"}


def test_the_command_table_is_what_the_modules_register():
    registered: dict[str, tuple[str, str]] = {}
    for module in sorted({module for module, _summary in COMMANDS.values()}):
        app = typer.Typer()
        __import__(module, fromlist=["register"]).register(app)
        for name, command in typer.main.get_group(app).commands.items():
            registered[name] = (module, command.get_short_help_str(limit=300))
    assert registered == COMMANDS
