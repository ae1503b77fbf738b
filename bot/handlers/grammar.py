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
    expires_on: str | None = None


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
    amount: str | None = None  # None: all that is still applied


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
    rest, flags = parse_flags(words[at + 1 :], syntax, {"expires": True})
    reason = " ".join(rest)
    if not reason:
        raise syntax.refuse("Say why the client gets this credit: the reason goes into the history.")
    expires = flags.get("expires")
    if expires is not None:
        expires = _checked_date(expires, syntax, "--expires")
    return Issue(client=" ".join(words[:at]), amount=amount, reason=reason, expires_on=expires)


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
    if len(words) not in (1, 2):
        raise syntax.refuse(
            "Give one credit application id (the # shown when the credit was applied), and optionally an amount."
        )
    amount = _checked_amount(words[1], syntax) if len(words) == 2 else None
    return Reverse(application_id=application_id(words[0], syntax), amount=amount)


def application_id(word: str, syntax: Syntax) -> int:
    digits = word.removeprefix("#")
    if not digits.isascii() or not digits.isdigit() or len(digits) > MAX_ID_DIGITS:
        raise syntax.refuse(f"“{word}” is not a credit application id: it is a number such as 42.")
    return int(digits)


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
        "issue CLIENT AMOUNT REASON... [--expires DATE]",
        "issue acme 250.00 Discount for a late report --expires 2026-12-31",
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
        "reverse APPLICATION_ID [AMOUNT]",
        "reverse 42 100",
        "Undo a credit application, or only AMOUNT of it: the credit goes back to the client (billing admins).",
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


# Slack may turn a typed "--" into a dash: any of these starts a flag.
_FLAG_PREFIXES = ("--", "—", "–")


def parse_flags(words: list[str], syntax: Syntax, known: dict[str, bool]) -> tuple[list[str], dict[str, str]]:
    """Words without their `--flags`, and the flags: `known` maps a flag's name to whether it takes a value. The
    value of `--reason` is every word up to the next flag (a reason has spaces); other values are one word."""
    plain: list[str] = []
    flags: dict[str, str] = {}
    at = 0
    while at < len(words):
        word = words[at]
        prefix = next((p for p in _FLAG_PREFIXES if word.startswith(p) and len(word) > len(p)), None)
        if prefix is None:
            plain.append(word)
            at += 1
            continue
        name, _, inline = word[len(prefix) :].partition("=")
        name = name.lower()
        if name not in known:
            shown = ", ".join(f"--{flag}" for flag in known) or "none"
            raise syntax.refuse(f"I don't know the option “{word}” here (options: {shown}).")
        if name in flags:
            raise syntax.refuse(f"Give `--{name}` at most once.")
        at += 1
        if not known[name]:
            flags[name] = ""
            continue
        values = [inline] if inline else []
        while at < len(words) and not words[at].startswith(_FLAG_PREFIXES) and (name == "reason" or not values):
            values.append(words[at])
            at += 1
        if not values:
            raise syntax.refuse(f"`--{name}` needs a value after it.")
        flags[name] = " ".join(values)
    return plain, flags


def _checked_date(word: str, syntax: Syntax, what: str) -> str:
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", word) is None:
        raise syntax.refuse(f"“{word}” is not a date for {what}: write it as YYYY-MM-DD, e.g. 2026-12-31.")
    return word


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


# --- credit operations (issue 17): move, transfer, refund, write-off, apply-all, credits ----------------------


@dataclass(frozen=True)
class Move(Command):
    name: ClassVar[str] = "move"
    writes: ClassVar[bool] = True
    application_id: int
    invoice: str
    amount: str | None = None


@dataclass(frozen=True)
class Transfer(Command):
    name: ClassVar[str] = "transfer"
    writes: ClassVar[bool] = True
    from_client: str
    to_client: str
    amount: str
    reason: str


@dataclass(frozen=True)
class Refund(Command):
    name: ClassVar[str] = "refund"
    writes: ClassVar[bool] = True
    client: str
    amount: str
    reason: str
    reference: str | None = None


@dataclass(frozen=True)
class WriteOff(Command):
    name: ClassVar[str] = "write-off"
    writes: ClassVar[bool] = True
    client: str
    amount: str
    reason: str


@dataclass(frozen=True)
class ApplyAll(Command):
    name: ClassVar[str] = "apply-all"
    writes: ClassVar[bool] = True
    client: str
    order: str = "oldest-first"
    dry_run: bool = False


@dataclass(frozen=True)
class Credits(Command):
    name: ClassVar[str] = "credits"
    client: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    min_amount: str | None = None
    max_amount: str | None = None
    kind: str | None = None
    project: str | None = None
    page: int = 1


def _parse_move(words: list[str], rest: str) -> Command:
    syntax = SUBCOMMANDS["move"]
    if len(words) not in (2, 3):
        raise syntax.refuse("Give the credit application id, the invoice to move it to, and optionally an amount.")
    amount = _checked_amount(words[2], syntax) if len(words) == 3 else None
    return Move(application_id=application_id(words[0], syntax), invoice=words[1], amount=amount)


def _client_amount_reason(name: str, words: list[str], extra: dict[str, bool]) -> tuple[list[str], str, dict[str, str]]:
    """CLIENT... AMOUNT --reason TEXT: the words naming the client(s), the amount, the flags."""
    syntax = SUBCOMMANDS[name]
    plain, flags = parse_flags(words, syntax, {"reason": True, **extra})
    if not plain or not looks_like_amount(plain[-1]):
        raise syntax.refuse("Which client, and how much? Give the client, then the amount.")
    if len(plain) < 2:
        raise syntax.refuse("Give the client first, then the amount.")
    amount = _checked_amount(plain[-1], syntax)
    if not flags.get("reason", "").strip():
        raise syntax.refuse('Say why with `--reason "..."`: the reason goes into the history.')
    return plain[:-1], amount, flags


def _parse_transfer(words: list[str], rest: str) -> Command:
    parties, amount, flags = _client_amount_reason("transfer", words, {})
    if len(parties) != 2:
        raise SUBCOMMANDS["transfer"].refuse(
            'Name two clients, the one giving credit first; "quote" a name with spaces.'
        )
    return Transfer(from_client=parties[0], to_client=parties[1], amount=amount, reason=flags["reason"])


def _parse_refund(words: list[str], rest: str) -> Command:
    client, amount, flags = _client_amount_reason("refund", words, {"reference": True})
    return Refund(client=" ".join(client), amount=amount, reason=flags["reason"], reference=flags.get("reference"))


def _parse_write_off(words: list[str], rest: str) -> Command:
    client, amount, flags = _client_amount_reason("write-off", words, {})
    return WriteOff(client=" ".join(client), amount=amount, reason=flags["reason"])


def _parse_apply_all(words: list[str], rest: str) -> Command:
    syntax = SUBCOMMANDS["apply-all"]
    plain, flags = parse_flags(words, syntax, {"oldest-first": False, "largest-first": False, "dry-run": False})
    if not plain:
        raise syntax.refuse("Whose credit? Give the client.")
    if "oldest-first" in flags and "largest-first" in flags:
        raise syntax.refuse("Choose one order: `--oldest-first` or `--largest-first`.")
    order = "largest-first" if "largest-first" in flags else "oldest-first"
    return ApplyAll(client=" ".join(plain), order=order, dry_run="dry-run" in flags)


def _parse_credits(words: list[str], rest: str) -> Command:
    syntax = SUBCOMMANDS["credits"]
    names = ("from", "to", "min", "max", "kind", "project", "page")
    plain, flags = parse_flags(words, syntax, dict.fromkeys(names, True))
    for name in ("from", "to"):
        if name in flags:
            _checked_date(flags[name], syntax, f"--{name}")
    for name in ("min", "max"):
        if name in flags:
            _checked_amount(flags[name], syntax)
    page = flags.get("page", "1")
    if not page.isascii() or not page.isdigit() or not 1 <= int(page) <= 10_000:
        raise syntax.refuse(f"“{page}” is not a page number: pages are 1, 2, 3 ...")
    return Credits(
        client=" ".join(plain) or None,
        date_from=flags.get("from"),
        date_to=flags.get("to"),
        min_amount=flags.get("min"),
        max_amount=flags.get("max"),
        kind=flags.get("kind"),
        project=flags.get("project"),
        page=int(page),
    )


for _syntax in (
    Syntax(
        "move",
        "move APPLICATION_ID INVOICE [AMOUNT]",
        "move 42 INV-1003 100",
        "Move a credit application (or AMOUNT of it) to another invoice of the same client (billing admins).",
        _parse_move,
    ),
    Syntax(
        "transfer",
        'transfer FROM_CLIENT TO_CLIENT AMOUNT --reason "..."',
        'transfer acme acme-uk 500 --reason "Credit belongs to the subsidiary"',
        "Move available credit to a related client in the same currency (billing admins).",
        _parse_transfer,
    ),
    Syntax(
        "refund",
        'refund CLIENT AMOUNT --reason "..." [--reference RECEIPT]',
        'refund acme 200 --reason "Client asked for the credit back"',
        "Pay available credit out as money, with a refund receipt reference (billing admins).",
        _parse_refund,
    ),
    Syntax(
        "write-off",
        'write-off CLIENT AMOUNT --reason "..."',
        'write-off acme 35 --reason "Unused for three years"',
        "Remove credit the client will not use (billing admins).",
        _parse_write_off,
    ),
    Syntax(
        "apply-all",
        "apply-all CLIENT [--oldest-first|--largest-first] [--dry-run]",
        "apply-all acme --oldest-first --dry-run",
        "Spread the client's credit over its unposted open invoices; --dry-run shows the plan (billing admins).",
        _parse_apply_all,
    ),
    Syntax(
        "credits",
        "credits [CLIENT] [--from DATE] [--to DATE] [--min AMOUNT] [--max AMOUNT] [--kind KIND] [--project ID] "
        "[--page N]",
        "credits acme --from 2026-01-01 --kind refund",
        "List credit entries (issued, applied, reversed, refunded, written off, expired, transferred), newest first.",
        _parse_credits,
    ),
):
    add_subcommand(_syntax)
