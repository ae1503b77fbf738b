"""Turning the ledger's plain results into words, Block Kit, and terminal text."""
