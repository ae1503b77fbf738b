"""Which records a question names, so an answer can add their live facts.

Phase 1 only finds the references. A `Grounder` (phase 2, backed by the ledger and wired by the bot, so `faq`
never imports the ledger) turns them into lines of facts: an invoice's balance split, its posting state, its open
findings. `Faq.with_grounding` attaches one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

# Invoice numbers as billing systems print them: a short letter prefix and at least two digits ("INV-2001",
# "inv2001", "A-113", "INV-2024-0042"), or bare digits after the word invoice or a hash ("invoice 1042",
# "invoice #1042", "invoice no. 1042", "#1042"). A `project:P-12` tag is a project, not an invoice.
_PREFIXED_NUMBER = r"(?<![\w:/.-])[A-Za-z]{1,5}-?\d{2,}(?:-\d+)*(?![\w-])"
_NUMBER_AFTER_WORD = r"(?:\binvoice\s*(?:no\.?|number|num\.?)?\s*#?\s*|(?<![\w&])#)(\d{2,}(?:-\d+)*)\b"
_INVOICE_PATTERN = re.compile(rf"({_PREFIXED_NUMBER})|{_NUMBER_AFTER_WORD}", re.IGNORECASE)


@dataclass(frozen=True)
class References:
    """Records a question names, in the order they appear, without repeats."""

    invoice_numbers: tuple[str, ...] = ()
    client_names: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.invoice_numbers or self.client_names)


# Lines of live facts (Slack mrkdwn) about the referenced records; empty when none of them exists.
Grounder = Callable[[References], Sequence[str]]


def find_references(question: str, client_names: Iterable[str] = ()) -> References:
    """Invoice-number-like tokens in `question`, and which of the known `client_names` it mentions.

    Invoice numbers are returned as written (the ledger compares them case-insensitively). Client names need the
    list of known clients: a name is matched case-insensitively on word boundaries, longest first, so "Acme
    Holdings" wins over "Acme" when both exist.
    """
    return References(find_invoice_numbers(question), _find_client_names(question, client_names))


def find_invoice_numbers(question: str) -> tuple[str, ...]:
    found = (match.group(1) or match.group(2) for match in _INVOICE_PATTERN.finditer(question))
    return tuple(dict.fromkeys(found))


def mask_references(question: str, references: References) -> str:
    """The question as retrieval should read it: each invoice number becomes "invoice", each client name "client".

    The records' own names say nothing about the topic, and as words the FAQ has never seen they would make a
    fair question look off-topic.
    """
    masked = _INVOICE_PATTERN.sub(" invoice ", question)
    # Longest first, so "Acme Holdings" is masked whole before "Acme" could take half of it.
    for name in sorted(references.client_names, key=len, reverse=True):
        # The possessive goes too: "Acme's credit" reads as "client credit".
        masked = re.sub(rf"(?<!\w){re.escape(name)}(?:['\u2019]s)?(?!\w)", " client ", masked, flags=re.IGNORECASE)
    return masked


def _find_client_names(question: str, client_names: Iterable[str]) -> tuple[str, ...]:
    remaining = question.casefold()
    found: list[tuple[int, str]] = []
    for name in sorted({n.strip() for n in client_names if n.strip()}, key=len, reverse=True):
        match = re.search(rf"(?<!\w){re.escape(name.casefold())}(?!\w)", remaining)
        if match:
            found.append((match.start(), name))
            # Blank it out so a shorter name inside it ("Acme" in "Acme Holdings") is not found again.
            remaining = remaining[: match.start()] + " " * (match.end() - match.start()) + remaining[match.end() :]
    return tuple(name for _, name in sorted(found))
