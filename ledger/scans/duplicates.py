"""Reversing a duplicate credit from its finding: the fix behind the alert's "Reverse duplicate" button.

The first application of the cluster stays; every later one is reversed through the ledger's own
`reverse_application` (so R4 holds: a posted invoice is refused with the QuickBooks message), each with an
idempotency key derived from the finding, so a double click or a second admin changes nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.approvals import WriteRequest
from ledger.errors import AlreadyReversed, LedgerError
from ledger.operations import ReverseResult, reverse_application
from ledger.rules import ScanOptions
from ledger.scans.detectors import detect_duplicate_credit
from ledger.scans.findings import FindingKind, StoredFinding
from ledger.scans.store import acknowledge, get_finding
from ledger.tables import IdempotencyKey
from ledger.unit import Unit


class NotADuplicateFinding(LedgerError):
    code = "not_a_duplicate_finding"

    def __init__(self, finding_id: int, kind: str) -> None:
        super().__init__(
            f"Finding #{finding_id} is a {kind} finding; only duplicate credits can be reversed from an alert."
        )


class FindingNoLongerOpen(LedgerError):
    code = "finding_closed"

    def __init__(self, finding_id: int, number: str | None) -> None:
        super().__init__(
            f"Finding #{finding_id} no longer matches the ledger: invoice {number}'s credit applications have "
            "changed since the scan (fixed, edited or reversed), so nothing was reversed. Run `/credit scan` to see "
            "what is still wrong."
        )


@dataclass(frozen=True)
class DuplicateReversal:
    finding: StoredFinding
    kept_payment_id: int
    reversed: list[ReverseResult]
    # Later applications someone had already reversed another way: nothing left to do for them.
    already_reversed: list[int]


def reversal_key(finding: StoredFinding, payment_id: int) -> str:
    return f"scan-finding:{finding.id}:reverse:{payment_id}"


def reverse_duplicate(
    unit: Unit, finding_id: int, by: WriteRequest, options: ScanOptions | None = None
) -> DuplicateReversal:
    """Reverse the later applications of a duplicate-credit finding and acknowledge it as handled by `actor`.

    The finding is checked against the ledger as it is now (the payments may have changed since the scan:
    edited, or reversed by hand), so a stale alert never reverses anything.
    """
    session = unit.session
    finding = get_finding(unit, finding_id)
    if finding.kind is not FindingKind.DUPLICATE_CREDIT:
        raise NotADuplicateFinding(finding.id, finding.kind.value)
    # Reversed from this finding before (a double click, a second admin): the reversals replay below.
    done_before = all(session.get(IdempotencyKey, reversal_key(finding, p)) for p in finding.payment_ids[1:])
    current = detect_duplicate_credit(session, [finding.invoice_id], options or ScanOptions())
    still_true = finding.closed_at is None and finding.fingerprint in {found.fingerprint for found in current}
    if not (still_true or done_before):
        raise FindingNoLongerOpen(finding.id, finding.invoice_number)
    kept, *later = finding.payment_ids  # the detector lists them by date, first application first
    results, already = [], []
    for payment_id in later:
        try:
            results.append(
                reverse_application(
                    unit,
                    payment_id,
                    WriteRequest(by.actor, reversal_key(finding, payment_id), by.approved_by),
                    reason=f"duplicate credit (finding #{finding.id})",
                )
            )
        except AlreadyReversed:
            already.append(payment_id)
    acknowledged = acknowledge(unit, finding.id, by.actor)
    return DuplicateReversal(acknowledged.finding, kept, results, already)
