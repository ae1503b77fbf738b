"""Bounds on text people type (names, numbers, reasons), checked before it reaches the database or a log.

A text longer than its column, or carrying a control character (NUL and the other C0 codes), is refused with
`UnusableText` naming the field: PostgreSQL refuses NUL outright and SQLite would store it, and a 50,000-character
name turns a LIKE search into an error. Free text (a reason) may hold tabs and line breaks; names may not.
"""

from __future__ import annotations

import re

from ledger.errors import UnusableText

# The columns' own lengths (ledger/tables.py).
NAME_CHARS = 200
ID_CHARS = 64
ACTOR_CHARS = 120
KEY_CHARS = 200
# A reason is kept whole in the history; this is far above any real one.
REASON_CHARS = 2000

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_FREE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def control_character(value: str, free_text: bool = False) -> str | None:
    """The first control character in `value`, as "U+0000", or None."""
    if value.isprintable():  # the common case, checked in C (an import checks millions of fields)
        return None
    found = (_CONTROL_IN_FREE_TEXT if free_text else _CONTROL).search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def checked_text(value: str, what: str, limit: int, free_text: bool = False) -> str:
    """`value` if it fits `limit` characters and holds no control character; else UnusableText naming `what`."""
    if len(value) > limit:
        raise UnusableText(what, f"is {len(value):,} characters long; at most {limit:,} fit")
    control = control_character(value, free_text)
    if control is not None:
        raise UnusableText(what, f"contains a control character ({control}); remove it")
    return value
