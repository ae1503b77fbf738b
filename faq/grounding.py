"""Which records a question names, so an answer can add their live facts.

`find_references` finds invoice numbers and known client names. A `Grounder` (backed by the ledger and wired by
the bot, so `faq` never imports the ledger) turns them into lines of facts: an invoice's balance split, its
posting state, its open findings. `Faq.with_grounding` attaches one, with a `ClientNames` index built once.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

# Invoice numbers as billing systems print them: a short letter prefix and at least two digits ("INV-2001",
# "inv2001", "A-113", "INV-2024-0042"), or bare digits after the word invoice or a hash ("invoice 1042",
# "invoice #1042", "invoice no. 1042", "#1042"). A `project:P-12` tag is a project, not an invoice.
_PREFIXED_NUMBER = r"(?<![\w:/.-])[A-Za-z]{1,5}-?\d{2,}(?:-\d+)*(?![\w-])"
_NUMBER_AFTER_WORD = r"(?:\binvoice\s*(?:no\.?|number|num\.?)?\s*#?\s*|(?<![\w&])#)(\d{2,}(?:-\d+)*)\b"
_INVOICE_PATTERN = re.compile(rf"({_PREFIXED_NUMBER})|{_NUMBER_AFTER_WORD}", re.IGNORECASE)

_WORD = re.compile(r"[^\W_]+")
# Legal forms at the end of a name: "Acme Legal LLP" is also found as "Acme Legal".
_LEGAL_FORM_TEXT = "llp llc lp inc incorporated ltd limited gmbh ag co corp corporation plc sa sarl bv nv pty srl"
LEGAL_FORMS = frozenset(_LEGAL_FORM_TEXT.split())
# A single-word alias ("acme" for "Acme Legal LLP") must be at least this long and not an ordinary FAQ word.
MIN_ALIAS_LENGTH = 4
_POSSESSIVE = ("'s", "\u2019s")


@dataclass(frozen=True)
class References:
    """Records a question names, in the order they appear, without repeats.

    `client_names` are the ledger's names (however the question wrote them: "acme" finds "Acme Legal LLP");
    `client_spans` are where the question mentions clients, ambiguous mentions included, for masking.
    """

    invoice_numbers: tuple[str, ...] = ()
    client_names: tuple[str, ...] = ()
    client_spans: tuple[tuple[int, int], ...] = field(default=(), compare=False)

    def __bool__(self) -> bool:
        return bool(self.invoice_numbers or self.client_names)


@dataclass(frozen=True)
class GroundedFinding:
    """An open scan finding on a record the question names, as the ledger's grounder reports it."""

    entry_id: str  # the FAQ entry that explains this kind of finding ("finding-duplicate-credit")
    title: str  # "Duplicate credit"
    detail: str  # what happened, which payments ("The same credit of $600.00 was applied 2 times ...")
    amounts: tuple[Decimal, ...] = ()  # the money it is about, in major units, matched against the question's
    invoice_number: str | None = None
    # A button that fixes it (label, action id, value), e.g. ("Reverse duplicate", "scan_reverse_duplicate", "7"):
    # the bot draws it; the FAQ only passes it on.
    action: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class Grounding:
    """What a grounder knows about the records: lines of facts, and the open findings among them."""

    facts: tuple[str, ...] = ()
    findings: tuple[GroundedFinding, ...] = ()


# Lines of live facts (Slack mrkdwn) about the referenced records, or a `Grounding` with the open findings too;
# empty when none of the records exists.
Grounder = Callable[[References], "Sequence[str] | Grounding"]


def as_grounding(result: Sequence[str] | Grounding) -> Grounding:
    return result if isinstance(result, Grounding) else Grounding(tuple(result))


# Amounts as people type them: "600", "$600", "600.00", "1,200", "€1.200" is not handled (read as 1.2).
_MONEY = re.compile(r"(?<![\w.,-])[$€£]?\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?![\w,-]|\.\d)")


def amounts_in(text: str) -> tuple[Decimal, ...]:
    """The money amounts in a question whose records are masked ("why is invoice off by 600?" -> 600)."""
    found = []
    for whole, cents in _MONEY.findall(text):
        found.append(Decimal(whole.replace(",", "") + (f".{cents}" if cents else "")))
    return tuple(found)


def matching_findings(question: str, findings: Sequence[GroundedFinding]) -> list[GroundedFinding]:
    """The findings an amount in the question points at (an amount equal to one the finding is about)."""
    amounts = set(amounts_in(question))
    if not amounts:
        return []
    return [finding for finding in findings if amounts.intersection(finding.amounts)]


class ClientNames:
    """The ledger's client names as an index of word sequences, so finding them costs the same for 10 clients
    or 10,000: each run of up to `longest` words of the question is one dictionary look-up.

    A client is found by its full name, its name without a legal form ("Acme Legal"), its id ("C-ACME"), or
    its first word alone ("acme") when that word is distinctive: long enough, not an ordinary word of the FAQ
    (`common_words`), and no other client's. A form shared by several clients is still masked (it is a name)
    but grounds none of them.
    """

    def __init__(self, names: Iterable[str], common_words: Collection[str] = (), ids: Iterable[str] = ()) -> None:
        # Three tiers, so a weaker form never makes a stronger one ambiguous: a client named "Acme" keeps "acme"
        # although "Acme Holdings" starts with it.
        full: dict[tuple[str, ...], set[str]] = {}
        shortened: dict[tuple[str, ...], set[str]] = {}
        first_words: dict[tuple[str, ...], set[str]] = {}
        for name, client_id in _names_with_ids(names, ids):
            words = _word_tuple(name)
            if not words:
                continue
            full.setdefault(words, set()).add(name)
            if client_id and _word_tuple(client_id):
                full.setdefault(_word_tuple(client_id), set()).add(name)
            without_form = _strip_legal_form(words)
            if without_form:
                shortened.setdefault(without_form, set()).add(name)
            first = words[0]
            if len(words) > 1 and len(first) >= MIN_ALIAS_LENGTH and first not in common_words:
                first_words.setdefault((first,), set()).add(name)
        owners = dict(full)
        for tier in (shortened, first_words):
            for form, named in tier.items():
                owners.setdefault(form, named)
        self._owners = owners
        self.longest = max((len(form) for form in owners), default=0)

    def __len__(self) -> int:
        return len(self._owners)

    def find(self, question: str) -> list[tuple[int, int, str | None]]:
        """(start, end, client name or None when ambiguous) for each mention, longest match first, left to right."""
        words = [(m.group().casefold(), m.start(), m.end()) for m in _WORD.finditer(_fold(question))]
        found: list[tuple[int, int, str | None]] = []
        position = 0
        while position < len(words):
            for size in range(min(self.longest, len(words) - position), 0, -1):
                key = tuple(word for word, _, _ in words[position : position + size])
                named = self._owners.get(key)
                if named:
                    start, end = words[position][1], words[position + size - 1][2]
                    if question[end : end + 2] in _POSSESSIVE:
                        end += 2
                    found.append((start, end, next(iter(named)) if len(named) == 1 else None))
                    position += size
                    break
            else:
                position += 1
        return found


def find_references(question: str, client_names: Iterable[str] | ClientNames = ()) -> References:
    """Invoice-number-like tokens in `question`, and which of the known clients it mentions.

    Invoice numbers are returned as written (the ledger compares them case-insensitively). Client names need the
    known clients, as names or as a prebuilt `ClientNames` (what the bot passes: built once, not per question).
    """
    index = client_names if isinstance(client_names, ClientNames) else ClientNames(client_names)
    mentions = index.find(question) if len(index) else []
    named = tuple(dict.fromkeys(name for _, _, name in mentions if name is not None))
    spans = tuple((start, end) for start, end, _ in mentions)
    return References(find_invoice_numbers(question), named, spans)


def find_invoice_numbers(question: str) -> tuple[str, ...]:
    found = (match.group(1) or match.group(2) for match in _INVOICE_PATTERN.finditer(question))
    return tuple(dict.fromkeys(found))


def mask_references(question: str, references: References) -> str:
    """The question as retrieval should read it: each invoice number becomes "invoice", each client "client".

    The records' own names say nothing about the topic, and as words the FAQ has never seen they would make a
    fair question look off-topic.
    """
    masked = question
    if references.client_spans:
        for start, end in sorted(references.client_spans, reverse=True):
            masked = f"{masked[:start]} client {masked[end:]}"
    else:
        # References built by hand (names only): longest first, so "Acme Holdings" goes whole before "Acme".
        for name in sorted(references.client_names, key=len, reverse=True):
            pattern = rf"(?<!\w){re.escape(name)}(?:['\u2019]s)?(?!\w)"
            masked = re.sub(pattern, " client ", masked, flags=re.IGNORECASE)
    return _INVOICE_PATTERN.sub(" invoice ", masked)


def _fold(text: str) -> str:
    # NFKC keeps most offsets; where it would not (ligatures), fall back to the text as given.
    folded = unicodedata.normalize("NFKC", text)
    return folded if len(folded) == len(text) else text


def _word_tuple(text: str) -> tuple[str, ...]:
    return tuple(word.casefold() for word in _WORD.findall(_fold(text)))


def _strip_legal_form(words: tuple[str, ...]) -> tuple[str, ...]:
    stripped = words
    while len(stripped) > 1 and stripped[-1] in LEGAL_FORMS:
        stripped = stripped[:-1]
    return stripped if stripped != words else ()


def _names_with_ids(names: Iterable[str], ids: Iterable[str]) -> Iterable[tuple[str, str | None]]:
    id_list = list(ids)
    for position, name in enumerate(names):
        name = name.strip()
        if name:
            yield name, (id_list[position] if position < len(id_list) else None)
