"""`scan`: run the scans now and reply with their findings, through the scans' own reply module.

The seam: a module `bot.scan_reply` with `scan_blocks(db, settings) -> list of Block Kit blocks` and, optionally,
`invoice_findings(read, invoice_numbers) -> {number: [line, ...]}` (open findings shown in balance and invoice
replies; `read` is a `ledger.driver.DriverRead` in the reply's read transaction). Where the module is not there
yet, `/credit scan` says so. A scan can take seconds on a large ledger, so it is answered later (Slack gets its
acknowledgement at once, the findings come through `respond()`).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from bot.commands.context import Context
from bot.commands.registry import FindingsSource
from bot.commands.reply import Reply
from bot.grammar import Scan
from bot.render import blocks

SCAN_REPLY_MODULE = "bot.scan_reply"


def scan_reply_module() -> ModuleType | None:
    try:
        return importlib.import_module(SCAN_REPLY_MODULE)
    except ModuleNotFoundError as missing:
        if missing.name != SCAN_REPLY_MODULE:
            raise  # the module is there but something it imports is not: a real error
        return None


def findings_source() -> FindingsSource | None:
    module = scan_reply_module()
    return getattr(module, "invoice_findings", None) if module is not None else None


def is_slow() -> bool:
    return scan_reply_module() is not None


def scan(ctx: Context, command: Scan) -> Reply:
    module = scan_reply_module()
    if module is None:
        text = "`/credit scan` is not available yet: scans arrive with a later creditbot release."
        return Reply(text=text, blocks=blocks.message(text))
    found: Any = module.scan_blocks(ctx.db, ctx.settings)
    scan_blocks = [block.to_dict() if hasattr(block, "to_dict") else dict(block) for block in found]
    return Reply(text="Scan results", blocks=scan_blocks)
