"""The command line imports only what a command uses: `creditbot --help` loads no command module, and neither
Slack, the scheduler, the database layer nor the FAQ's model; a ledger read loads no Slack or FAQ model, and on
a SQLite file no SQLAlchemy either."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
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


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}", "HOME": str(tmp_path)}


def modules_loaded(tmp_path: Path, *args: str, full_names: bool = False) -> set[str]:
    """The modules `creditbot ARGS` imported (top-level packages only, unless `full_names`)."""
    command = [sys.executable, "-c", PROBE, json.dumps(args)]
    done = subprocess.run(command, env=_env(tmp_path), capture_output=True, text=True)
    [line] = [line for line in done.stderr.splitlines() if line.startswith("MODULES ")]
    names = json.loads(line.removeprefix("MODULES "))
    return set(names) if full_names else {name.partition(".")[0] for name in names}


def test_help_imports_no_command_module_and_nothing_heavy(tmp_path):
    loaded = modules_loaded(tmp_path, "--help")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert "ledger" not in loaded and "faq" not in loaded


def test_a_ledger_read_loads_neither_slack_nor_the_scheduler_nor_the_faq_model(tmp_path):
    loaded = modules_loaded(tmp_path, "balance", "acme")
    assert not loaded & {"slack_bolt", "slack_sdk", "apscheduler", "numpy", "onnxruntime"}


@pytest.mark.parametrize("output", [[], ["--json"]], ids=["table", "json"])
def test_the_balance_command_reads_on_sqlite3_without_sqlalchemy_alembic_or_the_writes(tmp_path, output):
    """`creditbot balance` on an existing SQLite ledger: the reads on the stdlib's sqlite3, and nothing of
    SQLAlchemy, SQLModel, Alembic, the operations or the scans (issue 14: their import was most of a read's
    start-up); rich only for a table."""
    demo = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["demo"])], env=_env(tmp_path), capture_output=True)
    assert demo.returncode == 0, demo.stderr
    loaded = modules_loaded(tmp_path, "balance", "acme", *output, full_names=True)
    assert "ledger.reads" in loaded and "sqlite3" in loaded, "the balance was read"
    packages = {name.partition(".")[0] for name in loaded}
    # rapidfuzz ranks suggestions for a name that matched none: a read that finds its client never loads it.
    heavy = {"slack_bolt", "slack_sdk", "apscheduler", "numpy", "onnxruntime", "sqlalchemy", "sqlmodel", "alembic",
             "rapidfuzz"}  # fmt: skip
    assert not packages & heavy, packages & heavy
    unused = ("sqlalchemy.orm", "ledger.tables", "ledger.operations", "ledger.scans", "ledger.csv_import", "faq.ret")
    assert not {name for name in loaded if name.startswith(unused)}, {n for n in loaded if n.startswith(unused)}
    assert ("rich" in packages) == (not output)


def test_a_command_runs_with_the_collector_on_and_its_imports_frozen(tmp_path):
    """What importing a command made is frozen out of the garbage collector (bot/cli/__init__.py), and the
    collector is on again when the command runs: a command that makes garbage still has it collected."""
    probe = (
        "import gc, sys\nfrom bot.cli import app\nsys.argv = ['creditbot', 'faq', 'how do I undo a credit?']\n"
        "app.get_command(None, 'faq')\nprint(gc.isenabled(), gc.get_freeze_count() > 10_000, gc.get_count()[0] < 700)"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=_env(tmp_path), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True"]


def test_the_command_table_is_what_the_modules_register():
    registered: dict[str, tuple[str, str]] = {}
    for module in sorted({module for module, _summary in COMMANDS.values()}):
        app = typer.Typer()
        __import__(module, fromlist=["register"]).register(app)
        for name, command in typer.main.get_group(app).commands.items():
            registered[name] = (module, command.get_short_help_str(limit=300))
    assert registered == COMMANDS


@pytest.mark.parametrize("command", [["invoice", "INV-2001"], ["history", "acme"], ["credits", "acme"]])
def test_the_other_ledger_reads_load_no_sqlalchemy_either(tmp_path, command):
    demo = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["demo"])], env=_env(tmp_path), capture_output=True)
    assert demo.returncode == 0, demo.stderr
    loaded = modules_loaded(tmp_path, *command, "--json")
    assert "ledger" in loaded and "sqlalchemy" not in loaded, command


@pytest.mark.parametrize("output", [[], ["--json"]], ids=["piped", "json"])
def test_a_faq_question_without_a_terminal_loads_neither_rich_nor_the_evaluation_nor_the_ledger(tmp_path, output):
    """A warm `creditbot faq QUESTION` printed to a pipe (issue 14): the answer's text unstyled, without rich; the
    evaluation only for --eval; no database layer when there is no ledger."""
    loaded = modules_loaded(tmp_path, "faq", "how do I undo a credit?", *output, full_names=True)
    assert "faq.answering" in loaded, "the question was answered"
    packages = {name.partition(".")[0] for name in loaded}
    assert not packages & {"rich", "sqlalchemy", "sqlmodel", "slack_bolt", "apscheduler"}, packages
    assert "faq.evaluation" not in loaded
    # rapidfuzz looks for typos: a question whose every word some entry knows never loads it (issue 14).
    assert "rapidfuzz" not in packages


def test_a_faq_question_with_a_typo_loads_rapidfuzz_to_read_it(tmp_path):
    """The other side of the lazy import: "aply" is no entry's word, so retrieval needs rapidfuzz's ratio for it."""
    loaded = modules_loaded(tmp_path, "faq", "how do i aply credit to an invoice", "--json")
    assert "rapidfuzz" in loaded and "faq" in loaded


def test_the_server_commands_module_loads_no_rich(tmp_path):
    """`creditbot serve`'s master (and so every worker forked from it) holds no rich: it prints through it only
    to say why it cannot start (issue 14, the serve memory row)."""
    probe = "import json, sys, bot.cli.bot, bot.slack.server; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], env=_env(tmp_path), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    packages = {name.partition(".")[0] for name in json.loads(done.stdout)}
    assert "slack_bolt" in packages and "rich" not in packages


@pytest.mark.parametrize("output", [[], ["--json"]], ids=["table", "json"])
def test_an_import_into_a_sqlite_file_loads_no_sqlalchemy_or_sqlmodel(tmp_path, output):
    """`creditbot import DIR` into a new SQLite file, then again with an edit (issue 14: SQLAlchemy's and SQLModel's
    import was most of an import's start-up and memory): the schema, the rows, the edit and the history on the
    stdlib's sqlite3."""
    from tests.builders import client, credit, invoice, payment, write_csv

    export = tmp_path / "export"
    export.mkdir()
    write_csv(export, "clients.csv", [client("C1", "Acme Legal"), client("C2", "Birch", "EUR")])
    write_csv(export, "invoices.csv", [invoice("INV-1", "C1", "1000.00"), invoice("INV-2", "C2", "500.00")])
    write_csv(export, "credits.csv", [credit("CR-1", "C1", "300.00", expires_on="2027-01-01")])
    write_csv(export, "payments.csv", [payment("PAY-1", "INV-1", "check", "400.00")])
    for edited in (False, True):
        if edited:  # the second import edits a payment and an invoice: the careful path's reads and updates
            write_csv(export, "payments.csv", [payment("PAY-1", "INV-1", "check", "450.00")])
            write_csv(export, "invoices.csv", [invoice("INV-1", "C1", "1200.00"), invoice("INV-2", "C2", "500.00")])
        loaded = modules_loaded(tmp_path, "import", str(export), *output, full_names=True)
        assert "ledger.csv_import.loader" in loaded and "sqlite3" in loaded, "the import ran"
        packages = {name.partition(".")[0] for name in loaded}
        assert not packages & {"sqlalchemy", "sqlmodel", "alembic"}, packages & {"sqlalchemy", "sqlmodel", "alembic"}
        assert "ledger.tables" not in loaded
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["invoice", "INV-1", "--json"])],
                          env=_env(tmp_path), capture_output=True, text=True)  # fmt: skip
    assert '"1200.00"' in done.stdout and '"450.00"' in done.stdout, done.stdout
