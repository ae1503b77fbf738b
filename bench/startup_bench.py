"""Start-up and memory, whole processes beside their floors in the same run (issue 14):

    python -m bench.startup_bench --payments 1000000     # builds the ledger first; --database-url to reuse one

- `creditbot balance CLIENT`, the whole command in a fresh process, beside a plain sqlite3 script that runs the
  same reads and prints the same rows;
- a warm `creditbot faq QUESTION` (the built FAQ cached on disk, no ledger), beside `python -c "import numpy"`;
- `creditbot serve` memory: the PSS of gunicorn's master and workers, summed, after some requests, beside a bare
  Bolt app under the same gunicorn set-up.

Each figure is the median of several runs, the cases alternating, so machine load hits them alike: read the
ratios. Beside each command, in the same run, its start-up taken apart (`--rows balance faq` skips the serve row):
processes that stop after Python's start-up, after each library's import, after creditbot's own modules, after the
settings and the data (the reads, the saved FAQ build); the differences between them are what each step costs.

PSS (proportional set size) counts a page shared by n processes as 1/n in each, so the sum over the master and its
workers is the memory they take together; USS is what each holds alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"balance": 2.5, "faq_s": 0.5, "serve": 2.0}
QUESTION = "how do I undo a credit?"
_CLI = "import sys\nfrom bot.cli import main\nsys.argv = ['creditbot', *sys.argv[1:]]\nmain()"

# The floor of `creditbot balance`: the same statements (passed in as JSON) on the stdlib's sqlite3, rows printed.
_BALANCE_FLOOR = """
import json, sqlite3, sys
path, client, head, sql = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
connection = sqlite3.connect(path)
assert connection.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head
client_id, name, currency, issued, applied, _expiry = connection.execute(sql["client"], (client,)).fetchone()
print(f"{name} ({client_id}) available credit {(issued - applied) / 100:,.2f} {currency}")
for number, total, cash, credits, memos, posted, _qb, _issued in connection.execute(sql["invoices"], (client_id,)):
    due = total - cash - credits - memos
    print(number, *(f"{amount / 100:,.2f}" for amount in (total, cash, credits, memos, due)), posted or "")
for project, applied in connection.execute(sql["projects"], (client_id, "AccountCredit")):
    print(project, f"{applied / 100:,.2f}")
"""

# What `creditbot balance` cannot start without, imported and nothing else: the command line (Typer), the
# settings (pydantic-settings), the stdlib's sqlite3 (the reads run on it, without SQLAlchemy) and rich's table.
# No creditbot code (and no rapidfuzz: it ranks suggestions only for a name that matched no client).
# typer._adapters is Typer's own: it coerces every argument through a pydantic TypeAdapter (Typer 0.29).
_BALANCE_LIBRARIES = "import typer.main, typer._adapters, pydantic_settings, sqlite3, rich.table, rich.console"

# And a warm `creditbot faq`'s, printed to a pipe: the command line, the settings, numpy (retrieval). No rich (a
# pipe gets plain text) and no rapidfuzz: retrieval loads it only for a word no entry knows (a typo).
_FAQ_LIBRARIES = "import typer.main, typer._adapters, pydantic_settings, numpy"

# The start-up taken apart: each step a process that imports (or does) one more thing than the step before it.
_BALANCE_STEPS = {
    "python": "pass",
    "typer": "import typer.main",
    "typer's pydantic": "import typer.main, typer._adapters",
    "pydantic-settings": "import typer.main, typer._adapters, pydantic_settings",
    "sqlite3 and rich": _BALANCE_LIBRARIES,
}
_FAQ_STEPS = {
    "python": "pass",
    "typer": "import typer.main",
    "typer's pydantic": "import typer.main, typer._adapters",
    "pydantic-settings": "import typer.main, typer._adapters, pydantic_settings",
    "numpy": _FAQ_LIBRARIES,
}
# After the libraries: creditbot's own modules (those the command imports, found by running it once), then the
# settings and the data: the balance's reads (no table), the FAQ's saved build (no question asked).
_BALANCE_DATA = """
import sys
from bot.cli.common import database
from ledger import reads
with database().read(plain=True) as unit:
    reads.client_balance(unit, sys.argv[1])
"""
_FAQ_DATA = "from bot.cli.faq import _load\n_load(None)"
_PAUSED = "import gc\ngc.disable()"
_FROZEN = "gc.freeze()"
_OWN_MODULES = """
import json, sys
sys.argv = ['creditbot', *sys.argv[1:]]
from bot.cli import main
try:
    main()
except SystemExit:
    pass
own = [name for name in sys.modules if name.partition('.')[0] in ('bot', 'ledger', 'faq')]
sys.stderr.write('OWN ' + json.dumps(own) + '\\n')
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CREDITBOT_", "DATABASE_URL"))}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def compile_creditbot(root: Path = ROOT) -> None:
    """Write creditbot's bytecode, as `pip install` does for an installed package. With PYTHONDONTWRITEBYTECODE set
    (as on the bench machine) a checkout is otherwise compiled from source in every process (some 0.1 s of CPU for
    `creditbot faq`), which the libraries, installed with their bytecode, never are."""
    import compileall

    for package in ("bot", "ledger", "faq"):
        compileall.compile_dir(root / package, quiet=1)


def _timed(command: list[str], env: dict[str, str], cwd: str | Path = ROOT) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of `command`, in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} failed:\n{done.stderr[-2000:]}")
    return seconds, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def _medians(cases: dict[str, tuple[list[str], dict[str, str], str | Path]], repeats: int) -> dict[str, float]:
    """Median wall time (`name`) and CPU time (`name cpu`) of each command, the cases alternating (one warm-up
    run each, not counted). On a loaded machine a process waits for a core: CPU time moves less than wall time."""
    for command, env, cwd in cases.values():
        _timed(command, env, cwd)
    times: dict[str, list[float]] = {}
    for _ in range(repeats):
        for name, (command, env, cwd) in cases.items():
            wall, cpu = _timed(command, env, cwd)
            times.setdefault(name, []).append(wall)
            times.setdefault(f"{name} cpu", []).append(cpu)
    medians = {name: statistics.median(values) for name, values in times.items()}
    # The least of each: on a shared machine the run that waited least, closest to what the step itself costs.
    return medians | {f"{name} least": min(values) for name, values in times.items()}


def own_modules(arguments: list[str], env: dict[str, str], cwd: str | Path) -> list[str]:
    """creditbot's modules (bot, ledger, faq) that `creditbot ARGUMENTS` imports, in the order it imported them."""
    done = subprocess.run([sys.executable, "-c", _OWN_MODULES, *arguments], env=env, cwd=cwd, capture_output=True,
                          text=True)  # fmt: skip
    [line] = [line for line in done.stderr.splitlines() if line.startswith("OWN ")]
    return json.loads(line.removeprefix("OWN "))


def step_cases(
    steps: dict[str, str],
    libraries: str,
    modules: list[str],
    data: str,
    data_arguments: list[str],
    env: dict[str, str],
    cwd: str | Path,
) -> dict[str, tuple[list[str], dict[str, str], str | Path]]:
    """The start-up's steps as cases for `_medians` ("step NAME"), each one more than the one before it.

    Each imports with the garbage collector off and freezes what it imported, as the command does (bot/cli/
    __init__.py); the last turns the collector on again before reading. Otherwise the steps would count
    collections the command never runs, the one at the interpreter's exit included (over every object not
    frozen: some 0.05-0.09 s of CPU after these imports)."""
    imports = f"{libraries}\nimport {', '.join(modules)}"
    scripts = {**steps, "creditbot's modules": imports}
    scripts = {name: f"{_PAUSED}\n{script}\n{_FROZEN}" for name, script in scripts.items()}
    scripts["settings and data"] = f"{_PAUSED}\n{imports}\n{_FROZEN}\ngc.enable()\n{data}"
    return {f"step {name}": ([sys.executable, "-c", script, *(data_arguments if name == "settings and data" else [])],
                             env, cwd) for name, script in scripts.items()}  # fmt: skip


def step_costs(times: dict[str, float], whole: str) -> list[dict[str, Any]]:
    """Each step's wall and CPU time beyond the step before it; the last, `whole`, is the command itself."""
    steps = (key.removeprefix("step ").removesuffix(" least").removesuffix(" cpu") for key in times)
    names = list(dict.fromkeys(name for name, key in zip(steps, times, strict=True) if key.startswith("step ")))
    costs, before = [], (0.0, 0.0, 0.0)
    for name, key in [*((name, f"step {name}") for name in names), ("the command itself", whole)]:
        wall, cpu, least = times[key], times[f"{key} cpu"], times[f"{key} cpu least"]
        costs.append({"step": name, "until_s": wall, "until_cpu_s": cpu, "adds_s": wall - before[0],
                      "adds_cpu_s": cpu - before[1], "until_least_cpu_s": least,
                      "adds_least_cpu_s": least - before[2]})  # fmt: skip
        before = (wall, cpu, least)
    return costs


def before_cases(before: Path | None, arguments: list[str], env: dict[str, str], cwd: str | Path) -> dict[str, Any]:
    """The same command run from another checkout (`--before`, e.g. main's), in the same run: what a change saved."""
    if before is None:
        return {}
    compile_creditbot(before)
    return {"before": ([sys.executable, "-c", _CLI, *arguments], {**env, "PYTHONPATH": str(before)}, cwd)}


def _before(times: dict[str, float]) -> dict[str, float]:
    return {"before_s": times["before"], "before_cpu_s": times["before cpu"]} if "before" in times else {}


def bench_balance(
    database: Path, client: str, repeats: int = 9, before: Path | None = None, taken_apart: bool = False
) -> dict[str, Any]:
    """`creditbot balance CLIENT` (a table on a pipe, as a script reads it) beside the sqlite3 floor; with
    `taken_apart`, its start-up's steps too (`steps`)."""
    from ledger import reads
    from ledger.migrations import HEAD

    statements = {
        "client": reads._CLIENT_BY_ID,
        "invoices": reads._OPEN_INVOICES,
        "projects": reads._CREDITS_BY_PROJECT,
    }
    sql = json.dumps({name: statement.sqlite for name, statement in statements.items()})
    compile_creditbot()
    env = _env(DATABASE_URL=f"sqlite:///{database}")
    modules = own_modules(["balance", client], env, ROOT) if taken_apart else []
    steps = (
        step_cases(_BALANCE_STEPS, _BALANCE_LIBRARIES, modules, _BALANCE_DATA, [client], env, ROOT) if modules else {}
    )
    times = _medians(
        {
            "floor": ([sys.executable, "-c", _BALANCE_FLOOR, str(database), client, HEAD, sql], env, ROOT),
            "creditbot": ([sys.executable, "-c", _CLI, "balance", client], env, ROOT),
            "python": ([sys.executable, "-c", "pass"], env, ROOT),
            "libraries": ([sys.executable, "-c", _BALANCE_LIBRARIES], env, ROOT),
            "json": ([sys.executable, "-c", _CLI, "balance", client, "--json"], env, ROOT),
            **steps,
            **before_cases(before, ["balance", client], env, ROOT),
        },
        repeats,
    )
    return {"path": "creditbot balance CLIENT (whole process)", "ours_s": times["creditbot"],
            "floor_s": times["floor"], "python_s": times["python"], "ratio": times["creditbot"] / times["floor"],
            "ours_cpu_s": times["creditbot cpu"], "floor_cpu_s": times["floor cpu"],
            "ours_least_s": times["creditbot least"], "floor_least_s": times["floor least"],
            "libraries_s": times["libraries"], "libraries_cpu_s": times["libraries cpu"],
            "json_s": times["json"], "json_cpu_s": times["json cpu"],
            "steps": step_costs(times, "creditbot") if steps else [], **_before(times),
            "target": TARGETS["balance"]}  # fmt: skip


def bench_faq_call(
    repeats: int = 7, backend: str = "static", before: Path | None = None, taken_apart: bool = False
) -> dict[str, Any]:
    """A warm `creditbot faq QUESTION` (the built FAQ cached; no ledger in the folder) beside importing numpy; with
    `taken_apart`, its start-up's steps too (`steps`)."""
    compile_creditbot()
    with tempfile.TemporaryDirectory(prefix="creditbot-faq-call-") as scratch:
        env = _env(CREDITBOT_FAQ_CACHE=str(Path(scratch) / "cache"), CREDITBOT_FAQ_BACKEND=backend,
                   DATABASE_URL=f"sqlite:///{Path(scratch) / 'none.db'}")  # fmt: skip
        modules = own_modules(["faq", QUESTION], env, scratch) if taken_apart else []
        steps = step_cases(_FAQ_STEPS, _FAQ_LIBRARIES, modules, _FAQ_DATA, [], env, scratch) if modules else {}
        times = _medians(
            {
                "creditbot": ([sys.executable, "-c", _CLI, "faq", QUESTION], env, scratch),
                "numpy": ([sys.executable, "-c", "import numpy"], env, scratch),
                "python": ([sys.executable, "-c", "pass"], env, scratch),
                "libraries": ([sys.executable, "-c", _FAQ_LIBRARIES], env, scratch),
                **steps,
                **before_cases(before, ["faq", QUESTION], env, scratch),
            },
            repeats,
        )
    return {"path": f"creditbot faq QUESTION, warm ({backend}, whole process)", "ours_s": times["creditbot"],
            "floor_s": times["numpy"], "python_s": times["python"], "ratio": times["creditbot"] / times["numpy"],
            "ours_cpu_s": times["creditbot cpu"], "floor_cpu_s": times["numpy cpu"],
            "ours_least_s": times["creditbot least"], "floor_least_s": times["numpy least"],
            "libraries_s": times["libraries"], "libraries_cpu_s": times["libraries cpu"],
            "steps": step_costs(times, "creditbot") if steps else [], **_before(times),
            "target_s": TARGETS["faq_s"]}  # fmt: skip


def bench_serve_memory(database_url: str, workers: int = 4, threads: int = 4, requests: int = 200) -> dict[str, Any]:
    """Memory of `creditbot serve --workers N` beside a bare Bolt app under the same gunicorn set-up (preloaded,
    same workers and threads), each after `requests` signed slash commands spread over its workers."""
    from bench.bot_latency import TOKEN, Connections, SignedCommands, client_ids, free_port, server
    from tests.slack_standin import SIGNING_SECRET, SlackStandIn

    figures: dict[str, dict[str, float]] = {}
    with ExitStack() as stack:
        slack = stack.enter_context(SlackStandIn())
        env = _env(DATABASE_URL=database_url, SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                   SLACK_API_URL=slack.api_url)  # fmt: skip
        pool = ["--workers", str(workers), "--threads", str(threads)]
        commands = SignedCommands(client_ids(database_url))
        for name, expect in (("bare", "ok"), ("creditbot", "Available credit")):
            port = free_port()
            command = (
                [sys.executable, str(ROOT / "bench" / "bot_latency.py"), "--serve-bare", str(port), *pool]
                if name == "bare"
                else [sys.executable, "-c", _CLI, "serve", "--host", "127.0.0.1", "--port", str(port), *pool]
            )
            with server(command, env, port) as url:
                connections = Connections(url, workers * 2, expect)
                connections.fire(commands.make(requests, 0))
                connections.close()
                time.sleep(1)  # let the workers finish what the requests started (scheduled jobs, logging)
                figures[name] = process_tree_memory(_server_pid(port))
    bare, ours = figures["bare"], figures["creditbot"]
    return {"path": f"creditbot serve memory, {workers} workers (PSS, master + workers)",
            "ours_mib": ours["pss_mib"], "floor_mib": bare["pss_mib"], "ours_uss_mib": ours["uss_mib"],
            "floor_uss_mib": bare["uss_mib"], "processes": ours["processes"], "ours_each": ours["each"],
            "floor_each": bare["each"],
            "ratio": ours["pss_mib"] / bare["pss_mib"],
            "target": TARGETS["serve"]}  # fmt: skip


def _server_pid(port: int) -> int:
    """The gunicorn master started for `port`: of the processes with that port on their command line (the master
    and the workers it forked), the one whose parent is not among them."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
            if str(port).encode() in arguments:
                found[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
    masters = [pid for pid, parent in found.items() if parent not in found]
    if len(masters) != 1:
        raise SystemExit(f"expected one server process for port {port}, found {masters}")
    return masters[0]


def process_tree_memory(pid: int) -> dict[str, float]:
    """PSS and USS (MiB) of a process and all its descendants, summed, from /proc/PID/smaps_rollup."""
    pids = [pid]
    for parent in pids:
        for task in Path(f"/proc/{parent}/task").iterdir():
            pids += [int(child) for child in (task / "children").read_text().split()]
    each: list[dict[str, float]] = []
    for process in pids:
        lines = Path(f"/proc/{process}/smaps_rollup").read_text().splitlines()[1:]
        kib = {name: int(value.split()[0]) for name, value in (line.split(":", 1) for line in lines)}
        each.append({"pss_mib": kib["Pss"] / 1024, "uss_mib": (kib["Private_Clean"] + kib["Private_Dirty"]) / 1024,
                     "rss_mib": kib["Rss"] / 1024})  # fmt: skip
    return {
        "pss_mib": sum(process["pss_mib"] for process in each),
        "uss_mib": sum(process["uss_mib"] for process in each),
        "processes": len(pids),
        "each": each,  # the master first, then its workers
    }


def build_ledger(folder: Path, payments: int) -> Path:
    from bench.synthetic import write_ledger
    from ledger.csv_import.loader import import_directory
    from ledger.db import Database

    database = folder / "ledger.db"
    write_ledger(folder / "csv", payments)
    db = Database(f"sqlite:///{database}")
    db.upgrade()
    import_directory(db, folder / "csv")
    db.dispose()
    return database


ROWS = ("balance", "faq", "serve")


def measure(
    database: Path, client: str = "C1", repeats: int = 9, rows: Sequence[str] = ROWS, before: Path | None = None
) -> list[dict[str, Any]]:
    """Every row of this module (or those named in `rows`) on one ledger, in one run."""
    measured = []
    if "balance" in rows:
        measured.append(bench_balance(database, client, repeats, before, taken_apart=True))
    if "faq" in rows:
        measured.append(bench_faq_call(repeats, before=before, taken_apart=True))
    if "serve" in rows:
        measured.append(bench_serve_memory(f"sqlite:///{database}"))
    return measured


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| path | creditbot | floor | ratio | target |", "|---|---:|---:|---:|---|"]
    for row in rows:
        if "ours_mib" in row:
            ours, floor = f"{row['ours_mib']:.0f} MiB", f"{row['floor_mib']:.0f} MiB"
        else:
            ours = f"{row['ours_s']:.3f} s ({row['ours_cpu_s']:.3f} s CPU)"
            floor = f"{row['floor_s']:.3f} s ({row['floor_cpu_s']:.3f} s CPU; python -c pass {row['python_s']:.3f} s)"
        if "target_s" in row:
            target = f"≤ {row['target_s']} s: {'met' if row['ours_s'] <= row['target_s'] else 'missed'}"
        else:
            target = f"≤ {row['target']}x: {'met' if row['ratio'] <= row['target'] else 'missed'}"
        lines.append(f"| {row['path']} | {ours} | {floor} | {row['ratio']:.2f}x | {target} |")
        if "ours_least_s" in row:
            least, floor_least = row["ours_least_s"], row["floor_least_s"]
            lines.append(f"| the least of its runs (wall) | {least:.3f} s | {floor_least:.3f} s | "
                         f"{least / floor_least:.2f}x | — |")  # fmt: skip
        if "libraries_s" in row:
            lines.append(f"| its libraries alone, imported (no creditbot code) | "
                         f"{row['libraries_s']:.3f} s ({row['libraries_cpu_s']:.3f} s CPU) | {floor} | "
                         f"{row['libraries_s'] / row['floor_s']:.2f}x | — |")  # fmt: skip
        if "before_s" in row:
            before = f"{row['before_s']:.3f} s ({row['before_cpu_s']:.3f} s CPU)"
            lines.append(f"| the same from --before's checkout | {before} | {floor} | "
                         f"{row['before_s'] / row['floor_s']:.2f}x | — |")  # fmt: skip
        if "json_s" in row:
            lines.append(f"| the same with --json (no rich) | {row['json_s']:.3f} s ({row['json_cpu_s']:.3f} s CPU) | "
                         f"{floor} | {row['json_s'] / row['floor_s']:.2f}x | — |")  # fmt: skip
    for row in rows:
        if row.get("steps"):
            lines += ["", f"{row['path']}, its start-up taken apart (medians of the same run):", "",
                      "| step | process until here (median) | this step adds (median) | least CPU until here | "
                      "this step adds (least CPU) |", "|---|---:|---:|---:|---:|"]  # fmt: skip
            lines += [_step_line(step) for step in row["steps"]]
    lines.append(f"\nload average at the end: {', '.join(f'{load:.2f}' for load in os.getloadavg())}")
    return "\n".join(lines)


def _step_line(step: dict[str, Any]) -> str:
    until = f"{step['until_s']:.3f} s ({step['until_cpu_s']:.3f} s CPU)"
    adds = f"{step['adds_s']:+.3f} s ({step['adds_cpu_s']:+.3f} s CPU)"
    return (f"| {step['step']} | {until} | {adds} | {step['until_least_cpu_s']:.3f} s | "
            f"{step['adds_least_cpu_s']:+.3f} s |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=10_000, help="ledger size to build (default 10,000)")
    parser.add_argument("--database", type=Path, help="an existing SQLite ledger to measure instead")
    parser.add_argument("--client", default="C1")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--before", type=Path, help="another checkout (e.g. main's) to run the commands from too")
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=ROWS, help="which rows to measure (default all)")
    args = parser.parse_args()
    print(f"load average at the start: {', '.join(f'{load:.2f}' for load in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="creditbot-startup-") as folder:
        database = args.database or build_ledger(Path(folder), args.payments)
        rows = measure(database, args.client, args.repeats, args.rows, args.before)
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
