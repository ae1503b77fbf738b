"""`creditbot console` in a real terminal (a pseudo-terminal): line editing and history, as a person types."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")

UP = "\x1b[A"


CREDITBOT = str(Path(sys.executable).parent / "creditbot")


def environment(home: Path) -> dict[str, str]:
    return {**os.environ, "HOME": str(home), "DATABASE_URL": f"sqlite:///{home / 'ledger.db'}", "TERM": "xterm"}


def typed(home: Path, keys: list[str]) -> str:
    """Run the console on a pseudo-terminal, type `keys` (each ends a line), and return what the screen showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([CREDITBOT, "console"], stdin=follower, stdout=follower, stderr=follower,
                               env=environment(home))  # fmt: skip
    os.close(follower)
    screen = b""

    def wait_for_prompts(count: int) -> None:
        nonlocal screen
        deadline = time.monotonic() + 60
        while screen.count(b"credit> ") < count and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    screen += os.read(leader, 65536)
                except OSError:  # the console has left
                    return

    try:
        for typed_so_far, key in enumerate(keys, start=1):
            wait_for_prompts(typed_so_far)
            os.write(leader, key.encode())
        process.wait(timeout=60)
        wait_for_prompts(len(keys) + 1)  # whatever is left on the screen
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    return screen.decode(errors="replace")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    demo = subprocess.run([CREDITBOT, "demo"], env=environment(tmp_path), capture_output=True, text=True)
    assert demo.returncode == 0, demo.stderr
    return tmp_path


def test_the_up_arrow_brings_back_the_last_line_instead_of_printing_escape_codes(home):
    screen = typed(home, ["balance birch\r", UP + "\r", "quit\r"])
    assert "^[[A" not in screen
    assert screen.count("Birch & Co Architects") >= 2, screen


def test_the_history_is_kept_for_the_next_session(home):
    typed(home, ["invoice INV-1003\r", "quit\r"])
    assert "invoice INV-1003" in (home / ".cache" / "creditbot" / "console_history").read_text()
    screen = typed(home, [UP + UP + "\r", "quit\r"])
    assert "INV-1003" in screen
