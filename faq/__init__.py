"""FAQ for creditbot: content as data (faq/content/*.yaml), offline retrieval, and honest "I don't know"s.

The bot calls `load_faq().ask(question)`; nothing here imports Slack, the bot or the ledger. The names below load
the FAQ (numpy, the model's table) when first used, so `faq.backends` alone stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faq.answering import Faq, FaqAnswer, load_faq
    from faq.entries import FaqContentError, FaqEntry

__all__ = ["Faq", "FaqAnswer", "FaqContentError", "FaqEntry", "load_faq"]
_HOME = {"Faq": "faq.answering", "FaqAnswer": "faq.answering", "load_faq": "faq.answering",
         "FaqContentError": "faq.entries", "FaqEntry": "faq.entries"}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'faq' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOME[name]), name)
