"""The `/credit` command grammar: one line of text to one typed command, for Slack and the console alike.

The grammar knows words, not the ledger: it checks the shape of what was typed (a subcommand, an amount that
looks like an amount, an application id that is a number) and leaves every lookup and money rule to the
ledger. Anything malformed is a `UsageError` that says what is wrong and carries the right usage line.

Other modules add subcommands with `add_subcommand(Syntax(...))` (and a handler in `bot.handlers`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

PREFIX = "/credit"
MAX_ID_DIGITS = 18  # application ids are BIGINT: 18 digits always fit
# A whole `/credit` line, however it arrives: far above any real command or question, far below what would make
# a lookup or a log line unwieldy. Each field is bounded again by the ledger (ledger/text.py).
MAX_LINE_CHARS = 2000


class UsageError(Exception):
    """Malformed input: `message` says what is wrong, `usage` is the line that shows how to type it."""

    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


# --- typed commands -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    name: ClassVar[str] = ""
    # A write moves money: it needs a billing admin and an idempotency key.
    writes: ClassVar[bool] = False


@dataclass(frozen=True)
class Help(Command):
    name: ClassVar[str] = "help"
    topic: str | None = None


@dataclass(frozen=True)
class Balance(Command):
    name: ClassVar[str] = "balance"
    client: str


@dataclass(frozen=True)
class ShowInvoice(Command):
    name: ClassVar[str] = "invoice"
    number: str


@dataclass(frozen=True)
class Issue(Command):
    name: ClassVar[str] = "issue"
    writes: ClassVar[bool] = True
    client: str
    amount: str
    reason: str


@dataclass(frozen=True)
class Apply(Command):
    name: ClassVar[str] = "apply"
    writes: ClassVar[bool] = True
    invoice: str
    amount: str | None = None
    project: str | None = None


@dataclass(frozen=True)
class Reverse(Command):
    name: ClassVar[str] = "reverse"
    writes: ClassVar[bool] = True
    application_id: int


@dataclass(frozen=True)
class History(Command):
    name: ClassVar[str] = "history"
    target: str


@dataclass(frozen=True)
class Ask(Command):
    name: ClassVar[str] = "ask"
    question: str


@dataclass(frozen=True)
class Tips(Command):
    name: ClassVar[str] = "tips"


@dataclass(frozen=True)
class Scan(Command):
    name: ClassVar[str] = "scan"


# --- syntax ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Syntax:
    """How one subcommand is typed: the usage line, an example, a summary for help, and its argument parser."""

    name: str
    usage: str
    example: str
    summary: str
    parse: Callable[[list[str], str], Command]

    @property
    def usage_line(self) -> str:
        return f"`{PREFIX} {self.usage}`  e.g. `{PREFIX} {self.example}`"

    def refuse(self, message: str) -> UsageError:
        return UsageError(message, self.usage_line)


def _no_arguments(command: type[Command]) -> Callable[[list[str], str], Command]:
    def parse(words: list[str], rest: str) -> Command:
        if words:
            raise SUBCOMMANDS[command.name].refuse(f"`{command.name}` takes nothing after it.")
        return command()

    return parse


def _parse_help(words: list[str], rest: str) -> Command:
    return Help(topic=words[0].lower() if words else None)


def _parse_balance(words: list[str], rest: str) -> Command:
    if not words:
        raise SUBCOMMANDS["balance"].refuse("Which client? Give its id, its name or part of its name.")
    return Balance(client=" ".join(words))


def _parse_invoice(words: list[str], rest: str) -> Command:
    if len(words) != 1:
        problem = "Which invoice?" if not words else "Give one invoice number (no spaces)."
        raise SUBCOMMANDS["invoice"].refuse(problem)
    return ShowInvoice(number=words[0])


def _parse_issue(words: list[str], rest: str) -> Command:
    syntax = SUBCOMMANDS["issue"]
    at = next((i for i, word in enumerate(words) if looks_like_amount(word)), None)
    if at is None:
        problem = "Which client, how much, and why?" if not words else "How much? No amount was given."
        raise syntax.refuse(problem)
    if at == 0:
        raise syntax.refuse("Give the client first, then the amount.")
    amount = _checked_amount(words[at], syntax)
    reason = " ".join(words[at + 1 :])
    if not reason:
        raise syntax.refuse("Say why the client gets this credit: the reason goes into the history.")
    return Issue(client=" ".join(words[:at]), amount=amount, reason=reason)


def _parse_apply(words: list[str], rest: str) -> Command:
    syntax = SUBCOMMANDS["apply"]
    if not words:
        raise syntax.refuse("Which invoice?")
    invoice, amount, project = words[0], None, None
    for word in words[1:]:
        if word.lower().startswith("project:"):
            if project is not None:
                raise syntax.refuse("Give at most one `project:ID`.")
            project = word.split(":", 1)[1]
            if not project:
                raise syntax.refuse("`project:` needs a project id after the colon, e.g. `project:P-ACME-IP`.")
        elif looks_like_amount(word):
            if amount is not None:
                raise syntax.refuse("Give at most one amount.")
            amount = _checked_amount(word, syntax)
        else:
            raise syntax.refuse(f"I don't understand “{word}” here: expected an amount or `project:ID`.")
    return Apply(invoice=invoice, amount=amount, project=project)


def _parse_reverse(words: list[str], rest: str) -> Command:
    syntax = SUBCOMMANDS["reverse"]
    if len(words) != 1:
        raise syntax.refuse("Give one credit application id (the # shown when the credit was applied).")
    digits = words[0].removeprefix("#")
    if not digits.isascii() or not digits.isdigit() or len(digits) > MAX_ID_DIGITS:
        raise syntax.refuse(f"“{words[0]}” is not a credit application id: it is a number such as 42.")
    return Reverse(application_id=int(digits))


def _parse_history(words: list[str], rest: str) -> Command:
    if not words:
        raise SUBCOMMANDS["history"].refuse("Whose history? Give a client or an invoice number.")
    return History(target=" ".join(words))


def _parse_ask(words: list[str], rest: str) -> Command:
    if not rest.strip():
        raise SUBCOMMANDS["ask"].refuse("What would you like to know?")
    return Ask(question=rest.strip())


SUBCOMMANDS: dict[str, Syntax] = {}


def add_subcommand(syntax: Syntax) -> None:
    """Teach the grammar a subcommand (a later one with the same name replaces the earlier)."""
    SUBCOMMANDS[syntax.name] = syntax


for _syntax in (
    Syntax("help", "help [SUBCOMMAND]", "help apply", "This list, or one subcommand's usage.", _parse_help),
    Syntax(
        "balance",
        "balance CLIENT",
        "balance acme",
        "Available credit and open invoices: cash, credits and QuickBooks credit memos apart.",
        _parse_balance,
    ),
    Syntax(
        "invoice",
        "invoice NUMBER",
        "invoice INV-2001",
        "An invoice's payments (each kind spelled out), balance due, QuickBooks posting and changes.",
        _parse_invoice,
    ),
    Syntax(
        "issue",
        "issue CLIENT AMOUNT REASON...",
        "issue acme 250.00 Discount for a late report",
        "Grant credit to a client (billing admins).",
        _parse_issue,
    ),
    Syntax(
        "apply",
        "apply INVOICE [AMOUNT] [project:ID]",
        "apply INV-1002 500 project:P-ACME-IP",
        "Apply the client's credit to an invoice; no amount applies as much as possible (billing admins).",
        _parse_apply,
    ),
    Syntax(
        "reverse",
        "reverse APPLICATION_ID",
        "reverse 42",
        "Undo a credit application: the credit goes back to the client (billing admins).",
        _parse_reverse,
    ),
    Syntax(
        "history",
        "history CLIENT|INVOICE",
        "history INV-2001",
        "Every change and refused request: who, when, before and after.",
        _parse_history,
    ),
    Syntax("ask", "ask QUESTION...", "ask why does an invoice look overpaid?", "Ask about credits.", _parse_ask),
    Syntax("tips", "tips", "tips", "The essentials of working with client credits.", _no_arguments(Tips)),
    Syntax("scan", "scan", "scan", "Look for duplicate credits and edits after posting, now.", _no_arguments(Scan)),
):
    add_subcommand(_syntax)


# --- parsing --------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})
_WORD = re.compile(r'"([^"]*)"|(\S+)')
# Anything a person may have meant as an amount: digits with an optional sign, currency sign, separators.
_AMOUNT_LIKE = re.compile(r"[-+]?[$€£¥₹]?[0-9][0-9,.]*")
_PLAIN_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def normalize(line: str) -> str:
    """What was typed, minus the `/credit` prefix, control characters and typographic quotes."""
    text = _CONTROL.sub(" ", line).translate(_QUOTES).strip()
    if text.lower() == PREFIX or text.lower().startswith(PREFIX + " "):
        text = text[len(PREFIX) :].strip()
    return text


def split_words(text: str) -> list[str]:
    """Words separated by spaces; "double quotes" keep a name with spaces (or digits) together."""
    words = []
    for quoted, bare in _WORD.findall(text):
        word = quoted if bare == "" else bare.strip('"')
        if word.strip():
            words.append(word.strip())
    return words


def parse(line: str) -> Command:
    """Parse one line such as `/credit apply INV-1002 500` (the prefix is optional)."""
    text = normalize(line)
    if not text:
        return Help()
    if len(text) > MAX_LINE_CHARS:
        raise UsageError(
            f"That line is {len(text):,} characters long; a `{PREFIX}` line takes at most {MAX_LINE_CHARS:,}.",
            overview_line(),
        )
    first, _, rest = text.partition(" ")
    first = first.strip('"').lower()
    syntax = SUBCOMMANDS.get(first)
    if syntax is None:
        raise UsageError(_unknown_subcommand(first), overview_line())
    return syntax.parse(split_words(rest), rest)


def subcommand_of(line: str) -> str | None:
    """The subcommand a line names, if it names a known one (for routing before parsing the arguments)."""
    text = normalize(line)
    first = text.partition(" ")[0].strip('"').lower() if text else "help"
    return first if first in SUBCOMMANDS else None


def overview_line() -> str:
    return f"`{PREFIX} SUBCOMMAND ...` with one of {', '.join(SUBCOMMANDS)}; `{PREFIX} help` explains each."


def looks_like_amount(word: str) -> bool:
    return _AMOUNT_LIKE.fullmatch(word) is not None


def syntaxes() -> Iterator[Syntax]:
    return iter(SUBCOMMANDS.values())


def _checked_amount(word: str, syntax: Syntax) -> str:
    """The amount's shape (the ledger checks the currency's decimals): a plain positive decimal."""
    if _PLAIN_AMOUNT.fullmatch(word) is None:
        if word.startswith("-"):
            why = "amounts must be positive"
        elif "," in word:
            why = "write it without thousands separators, e.g. 1250.00"
        elif word[0] in "$€£¥₹" or word[:2] in ("+$", "+€", "+£"):
            why = "write it without a currency sign, e.g. 1250.00"
        else:
            why = "write a plain decimal number such as 1250.00"
        raise syntax.refuse(f"“{word}” is not an amount: {why}.")
    if not any(digit in "123456789" for digit in word):
        raise syntax.refuse(f"“{word}” is not an amount: the amount must be greater than zero.")
    return word


def _unknown_subcommand(word: str) -> str:
    shown = word if len(word) <= 40 else word[:40] + "…"
    close = difflib.get_close_matches(word, list(SUBCOMMANDS), n=2, cutoff=0.6)
    hint = f" Did you mean {' or '.join(f'`{name}`' for name in close)}?" if close else ""
    return f"I don't know the command “{shown}”.{hint} To ask a question, start with `ask`."
