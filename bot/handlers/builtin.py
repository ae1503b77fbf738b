"""The built-in subcommands and buttons. A handler registered elsewhere under the same name is kept."""

from __future__ import annotations

from bot.handlers import (
    apply_all,
    approvals,
    credits,
    faq_answers,
    forms,
    move,
    quickbooks,
    reads,
    refund,
    registry,
    reports,
    scan,
    transfer,
    undo,
    write_off,
    writes,
)

SUBCOMMAND_HANDLERS = {
    "help": reads.help_reply,
    "balance": reads.balance,
    "invoice": reads.invoice,
    "history": reads.history,
    "issue": writes.issue,
    "apply": quickbooks.apply,  # writes.apply, or the QuickBooks credit memos of a posted invoice
    "reverse": writes.reverse,
    "ask": faq_answers.ask,
    "tips": faq_answers.tips,
    # issue 17
    "move": move.move,
    "transfer": transfer.transfer,
    "refund": refund.refund,
    "write-off": write_off.write_off,
    "apply-all": apply_all.apply_all,
    "credits": credits.credits,
    "qb": quickbooks.qb,
}
ACTION_HANDLERS = {
    "undo_issue": undo.undo_issue,
    "undo_apply": undo.undo_apply,
    "undo_reverse": undo.undo_reverse,
    "undo_move": undo.undo_move,
    "undo_transfer": undo.undo_transfer,
    "undo_write_off": undo.undo_write_off,
    "undo_apply_all": undo.undo_apply_all,
    "apply_all_confirm": apply_all.confirm,
    "approve_request": approvals.approve,
    "reject_request": approvals.reject,
    "review_request": forms.review,  # opens the request with the client's balance in a modal
    "faq_suggestion": faq_answers.suggestion,
    "show": reads.show,
    **scan.ACTIONS,
    **quickbooks.ACTIONS,
}


def install() -> None:
    for name, handler in SUBCOMMAND_HANDLERS.items():
        if name not in registry.HANDLERS:
            registry.register_handler(name, handler)
    if "scan" not in registry.HANDLERS:
        registry.register_handler("scan", scan.scan, slow=True)
    if "report" not in registry.HANDLERS:
        registry.register_handler("report", reports.report, slow=True)  # streams the whole report to sum it
    for action_id, action in ACTION_HANDLERS.items():
        registry.ACTIONS.setdefault(action_id, action)
    if scan.invoice_findings not in registry.FINDINGS_SOURCES:
        registry.register_findings_source(scan.invoice_findings)
