"""Words the ledger's messages and the bot's replies share."""

from __future__ import annotations


def possessive(name: str) -> str:
    """`Acme Legal's`, but `Birch & Co Architects'`: a name ending in s takes the apostrophe alone."""
    name = name.rstrip()
    return f"{name}'" if name.lower().endswith("s") else f"{name}'s"
