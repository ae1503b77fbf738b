"""FAQ for creditbot: content as data (faq/content/*.yaml), offline retrieval, and honest "I don't know"s.

The bot calls `load_faq().ask(question)`; nothing here imports Slack, the bot or the ledger.
"""

from faq.answering import Faq, FaqAnswer, load_faq
from faq.entries import FaqContentError, FaqEntry

__all__ = ["Faq", "FaqAnswer", "FaqContentError", "FaqEntry", "load_faq"]
