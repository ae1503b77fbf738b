"""`/credit credits [CLIENT] [--from --to] [--min --max] [--kind] [--project] [--page N]`: credit entries, paged."""

from __future__ import annotations

from bot.handlers.context import Context
from bot.handlers.grammar import Credits
from bot.handlers.reply import Reply
from bot.render import blocks, credit_sentences
from ledger import reads

# A Slack message holds about 3,000 characters per section: 20 entries a page stay readable.
SLACK_PAGE = 20


def credits(ctx: Context, command: Credits) -> Reply:
    search = reads.CreditFilter(
        client=command.client, date_from=command.date_from, date_to=command.date_to, min_amount=command.min_amount,
        max_amount=command.max_amount, kind=command.kind, project=command.project, page=command.page,
        page_size=SLACK_PAGE,
    )  # fmt: skip
    with ctx.db.read() as unit:
        found = reads.credit_entries(unit, search)
    footer = credit_sentences.credit_search_footer(found)
    if not found.entries:
        text = "No credit entries match." if command.page == 1 else "No more credit entries."
        return Reply(text=text, blocks=blocks.message(text))
    lines = "\n".join(blocks.esc(credit_sentences.credit_entry_line(entry)) for entry in found.entries)
    text = f"*Credit entries*\n{lines}"
    return Reply(text=f"{len(found.entries)} credit entries. {footer}", blocks=blocks.message(text, footer))
