"""`creditbot console`: the Slack bot in a terminal, on the same database, with the same handlers.

Type a `/credit ...` line (the prefix is optional) and see the reply Slack would show, as text. Buttons are
numbered: type the number to click one. Messages the bot would post in the channel (approval requests) are
shown too, with their buttons. `:as USER` switches who you are (to approve someone else's request);
`quit` leaves. Works the same with input piped in, one line at a time.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.handlers import builtin, registry
from bot.handlers.context import Caller, ClickedMessage, Context, Services
from bot.handlers.reply import Reply
from bot.render.console_text import Choice, render

CONSOLE_USER = "U-CONSOLE"
CONSOLE_CHANNEL = "C-CONSOLE"
CONSOLE_TEAM = "T-CONSOLE"
PROMPT = "credit> "
QUIT = {"quit", "exit", ":q", ":quit"}

INTRO = (
    "creditbot console: type what you would type after /credit in Slack (`help` lists the commands).\n"
    "Buttons show as [numbers]: type a number to click. `:as USER_ID` changes who you are; `quit` leaves."
)


@dataclass(frozen=True)
class _Clickable:
    message_id: int
    choice: Choice


class Console:
    def __init__(self, services: Services, user_id: str = CONSOLE_USER, out: TextIO = sys.stdout) -> None:
        builtin.install()
        self.services = services
        self.user_id = user_id
        self.out = out
        # A request key names one request of one person: this session's own id, who typed, and the line's number.
        self._session = uuid.uuid4().hex[:12]
        self._requests = itertools.count(1)
        self._messages = itertools.count(1)
        self._shown: dict[int, tuple[str, list[dict[str, object]]]] = {}
        self._next_button = 1
        # Buttons still on screen, by number; a message replaced by a click loses its buttons.
        self._clickable: dict[int, _Clickable] = {}

    def run(self, lines: Iterable[str], interactive: bool) -> None:
        """Answer `lines`; interactive ones come from `typed_lines` (which prompts), others are echoed."""
        self._print(INTRO)
        for raw in lines:
            line = raw.strip()
            if not interactive and line:
                self._print(f"{PROMPT}{line}")
            if line.lower() in QUIT:
                break
            if line:
                self.handle(line)

    def handle(self, line: str) -> None:
        if line.startswith(":as"):
            self._switch_user(line[3:].strip())
        elif line.isdigit():
            self._click(int(line))
        else:
            ctx = self._context(f"console:{self._session}:{self.user_id}:cmd:{next(self._requests)}")
            self._show(registry.run_line(ctx, line))

    def _switch_user(self, user_id: str) -> None:
        if not user_id:
            self._print(f"You are {self.user_id}. `:as USER_ID` acts as someone else.")
            return
        self.user_id = user_id
        role = "a billing admin" if user_id in self.services.billing_admins else "not a billing admin (reads only)"
        self._print(f"You are now {user_id}, {role}.")

    def _click(self, number: int) -> None:
        clickable = self._clickable.get(number)
        if clickable is None:
            self._print(f"There is no button [{number}] on screen.")
            return
        choice = clickable.choice
        self._print(f"(clicked [{number}] {choice.label} as {self.user_id})")
        key = f"console:{self._session}:{self.user_id}:act:{clickable.message_id}:{choice.action_id}:{choice.value}"
        text, blocks = self._shown.get(clickable.message_id, ("", []))
        clicked = ClickedMessage(CONSOLE_CHANNEL, str(clickable.message_id), True, text, tuple(blocks))
        reply = registry.run_action(self._context(key, clicked), choice.action_id, choice.value)
        self._show(reply, replacing=clickable.message_id if reply.replace_original else None)
        if reply.follow_up is not None:
            self._show(reply.follow_up)

    def _context(self, key: str, clicked: ClickedMessage | None = None) -> Context:
        caller = Caller(self.user_id, CONSOLE_TEAM, CONSOLE_CHANNEL, f"console:{self.user_id}", key, clicked)
        return Context(self.services, caller)

    def _show(self, reply: Reply, replacing: int | None = None) -> None:
        if replacing is not None:
            self._forget(replacing)
            self._print_message(reply.text, reply.blocks, replacing)
        else:
            self._print_message(reply.text, reply.blocks, next(self._messages))
        for announcement in reply.announcements:
            channel = announcement.channel or CONSOLE_CHANNEL
            self._print(f"\n── posted in #{channel} for everyone ──")
            self._print_message(announcement.text, announcement.blocks, next(self._messages))

    def _print_message(self, text: str, blocks: list[dict[str, object]], message_id: int) -> None:
        self._shown[message_id] = (text, blocks)
        shown = render(blocks, text, first_number=self._next_button)
        # Button numbers are never reused within a session: an old number cannot click a new button.
        self._next_button += len(shown.choices)
        for choice in shown.choices:
            self._clickable[choice.number] = _Clickable(message_id, choice)
        self._print(shown.text)

    def _forget(self, message_id: int) -> None:
        for number in [n for n, c in self._clickable.items() if c.message_id == message_id]:
            del self._clickable[number]

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def typed_lines(history_file: Path | None = None) -> Iterator[str]:
    """Lines typed at the prompt with line editing and history (the arrow keys, Ctrl-R) through the standard
    library's readline; the history is kept in `history_file` between sessions."""
    try:
        import readline
    except ImportError:  # a Python built without it: plain input, still usable
        readline = None  # type: ignore[assignment]
    if readline is not None and history_file is not None:
        with contextlib.suppress(OSError):
            readline.read_history_file(history_file)
        readline.set_history_length(1000)
    try:
        while True:
            try:
                yield input(PROMPT)
            except EOFError:
                print()
                return
            except KeyboardInterrupt:
                print()
                continue
    finally:
        if readline is not None and history_file is not None:
            with contextlib.suppress(OSError):
                history_file.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(history_file)
