"""A database that cannot be reached (issue 19): every command says in one line which database and why, and exits
non-zero; a running bot answers Slack "the ledger is unreachable, nothing was changed" and recovers by itself when
the database is back. The outage is real: PostgreSQL behind a TCP relay the test cuts and restores."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.cli import common, main
from bot.handlers.registry import UNREACHABLE
from bot.settings import get_settings
from ledger.db import Database
from ledger.tables import Credit, Payment
from tests.builders import available, row_counts, simple_ledger
from tests.slack_standin import ADMIN, running_bot

CREDITBOT = [sys.executable, "-c", "from bot.cli import main; main()"]
COMMANDS = [
    ["balance", "acme"],
    ["balance", "acme", "--json"],
    ["apply", "INV-1", "5"],
    ["issue", "C1", "5", "--reason", "x"],
    ["import", "{folder}"],
    ["scan"],
    ["db", "upgrade"],
    ["db", "current"],
    ["history", "acme"],
    ["console"],
    ["serve", "--port", "0"],
]
URLS = {
    "postgres down": ("postgresql+psycopg://billing:hunter2@127.0.0.1:{port}/ledger", "Connection refused"),
    "missing folder": ("sqlite:///{tmp}/no/such/folder/ledger.db", "does not exist"),
    "not a URL": ("billing:hunter2 at the office", "not a database URL"),
    "unknown driver": ("oracle+nodriver://billing:hunter2@db/ledger", "no installed driver"),
    "no such database": ("{postgres}/creditbot_no_such_database", "does not exist"),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def creditbot(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path):
    return main_runner(monkeypatch, capsys, tmp_path)


def main_runner(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path):
    """`creditbot ARGS` as the installed script runs it (`bot.cli.main`, its exit code and outputs), in-process:
    starting Python for each of these runs would take most of the suite's time."""

    def run(args: list[str], database_url: str, keep_env: tuple[str, ...] = ()) -> Run:
        env = {"DATABASE_URL": database_url, "SLACK_BOT_TOKEN": "xoxb-faults", "SLACK_SIGNING_SECRET": "s",
               "SLACK_API_URL": "http://127.0.0.1:9/api/", "CREDITBOT_APPROVAL_THRESHOLD": ""}  # fmt: skip
        for name, value in env.items():
            if name not in keep_env:
                monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        folder = tmp_path / "export"
        folder.mkdir(exist_ok=True)
        (folder / "clients.csv").write_text("client_id,name\nC1,Client\n")
        monkeypatch.setattr(sys, "argv", ["creditbot", *(arg.replace("{folder}", str(folder)) for arg in args)])
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
        get_settings.cache_clear()
        common.database.cache_clear()
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
            if isinstance(stop.code, str):
                sys.stderr.write(stop.code + "\n")
        finally:
            get_settings.cache_clear()
            common.database.cache_clear()
        outputs = capsys.readouterr()
        return Run(code, outputs.out, outputs.err)

    return run


def url_for(case: str, tmp_path: Path) -> str:
    base = os.environ.get("CREDITBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    template, _ = URLS[case]
    postgres = make_url(base).set(database=None).render_as_string(hide_password=False).rstrip("/")
    return template.format(port=free_port(), tmp=tmp_path, postgres=postgres)


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
@pytest.mark.parametrize("case", ["postgres down", "missing folder"])
def test_every_command_names_the_unreachable_database_in_one_line(creditbot, tmp_path, case, args):
    result = creditbot(args, url_for(case, tmp_path))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Cannot reach the database" in lines[0] and URLS[case][1] in lines[0]
    assert "hunter2" not in result.stderr + result.stdout


@pytest.mark.parametrize("case", ["not a URL", "unknown driver", "no such database"])
@pytest.mark.parametrize("args", [["balance", "acme"], ["db", "upgrade"], ["serve", "--port", "0"]], ids=str)
def test_a_malformed_url_or_unknown_driver_is_one_line_too_and_hides_the_password(creditbot, tmp_path, case, args):
    if case == "no such database" and "CREDITBOT_TEST_POSTGRES_URL" not in os.environ:
        pytest.skip("needs PostgreSQL")
    result = creditbot(args, url_for(case, tmp_path))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and URLS[case][1] in lines[0], result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_the_installed_command_says_it_in_one_line_too(tmp_path):
    """Once as a real process (the in-process runs above stand for the rest)."""
    env = {**os.environ, "DATABASE_URL": url_for("postgres down", tmp_path)}
    run = subprocess.run([*CREDITBOT, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert [line for line in run.stderr.splitlines() if line.strip()] == [
        line for line in run.stderr.splitlines() if "Cannot reach the database" in line
    ]


# --- a running bot when PostgreSQL goes away ------------------------------------------------------------------


class Relay:
    """A TCP relay to PostgreSQL that can be cut (every connection dropped, new ones closed at once) and restored."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self.up = False
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._open.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.close()


@pytest.fixture
def relayed(db: Database) -> Iterator[tuple[Database, Relay]]:
    if db.is_sqlite:
        pytest.skip("an outage of a database server; SQLite's missing folder is covered by the commands above")
    simple_ledger(db)
    relay = Relay(db.url.host or "127.0.0.1", db.url.port or 5432)
    through = Database(db.url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False))
    yield through, relay
    through.dispose()
    relay.close()


@pytest.mark.postgres
def test_a_running_bot_says_the_ledger_is_unreachable_and_recovers_when_it_is_back(db, slack, relayed):
    through, relay = relayed
    with running_bot(through, slack) as bot:
        assert "Client" in bot.slash("balance C1", user=ADMIN).all_text
        before = row_counts(db, Credit, Payment)
        relay.cut()
        for line in ("balance C1", "issue C1 5 goodwill", "apply INV-1 5", "history C1"):
            reply = bot.slash(line, user=ADMIN)
            assert reply.text == UNREACHABLE, (line, reply.text)
            assert "Traceback" not in reply.all_text
        assert row_counts(db, Credit, Payment) == before
        relay.restore()
        credit_before = available(db)
        assert bot.slash("issue C1 5 goodwill", user=ADMIN).text.startswith("Issued ")
        assert available(db) == credit_before + 500
