"""Findings a write resolved, closed by that write: after `reverse` of a duplicate application, the very next
`balance` and `ask` no longer show the duplicate, without waiting for a scan.

A write that changes an invoice or a client's wallet calls `settle_later` (the running totals' and the credit
entries' writers do, so every operation is covered); the unit settles each scope once, after all its writes and
before it commits (`Unit.before_commit`). Only the live findings of those scopes are evaluated again (one indexed
read when there are none, the usual case), by the detectors that found them, with the ledger's scan options
(`unit.rules.scan`). New findings are left to the scans.

On SQLite a write that locks an invoice and its client can ask, in that same statement, whether their scopes hold
a live finding (`LIVE_IN_SCOPES`); when none does, `nothing_to_settle` spares the read at commit. That answer holds
to the commit because the write holds the database's write lock from its first statement (no scan can store a
finding in between). PostgreSQL has no such lock, so there the read stays at commit.
"""

from __future__ import annotations

from collections import defaultdict

from ledger.rules import ScanOptions
from ledger.scans.detectors import DETECTORS
from ledger.scans.store import Reconciliation, reconcile
from ledger.unit import Unit, statement

_BY_KIND = {detector.kind.value: detector for detector in DETECTORS if detector.scope in ("invoice", "client")}
_KINDS = ", ".join(f"'{kind}'" for kind in _BY_KIND)
_LIVE_IN = {
    count: statement(
        f"SELECT kind, scope FROM scan_finding WHERE closed_at IS NULL AND kind IN ({_KINDS}) "
        f"AND scope IN ({', '.join('?' * count)})"
    )
    for count in (1, 2)
}


# An SQL expression over `invoice.id` and `client.id`: true when either's scope holds a live finding of a kind
# settled here, each kind looked for in its detector's own scope. One EXISTS per kind, each a seek on
# ix_scan_finding_live_scope (kind, scope): an IN list makes SQLite build a table per execution, and an OR of the
# pairs in one EXISTS is planned as a scan of every live finding.
LIVE_IN_SCOPES = (
    "("
    + " OR ".join(
        f"EXISTS (SELECT 1 FROM scan_finding WHERE closed_at IS NULL AND kind = '{kind}' "
        f"AND scope = '{detector.scope}:' || {detector.scope}.id)"
        for kind, detector in _BY_KIND.items()
    )
    + ")"
)


def settle_later(unit: Unit, invoice_id: int | None, client_id: str) -> None:
    """Settle this invoice's and client's findings when the unit's writes are done, once per scope."""
    unit.before_commit(_once(invoice_id, client_id), lambda: settle_findings(unit, invoice_id, client_id))


def nothing_to_settle(unit: Unit, invoice_id: int, client_id: str) -> None:
    """This invoice's and client's scopes hold no live finding, read under SQLite's write lock (`LIVE_IN_SCOPES`):
    their `settle_later` has nothing to do in this unit."""
    unit.before_commit(_once(invoice_id, client_id), _nothing)


def _once(invoice_id: int | None, client_id: str) -> tuple[str, int | None, str]:
    return ("settle findings", invoice_id, client_id)


def _nothing() -> None:
    pass


def settle_findings(unit: Unit, invoice_id: int | None, client_id: str) -> int:
    """Evaluate again the live findings of this invoice and client; return how many the write resolved."""
    scopes = [f"client:{client_id}"] + ([f"invoice:{invoice_id}"] if invoice_id is not None else [])
    live = unit.rows(_LIVE_IN[len(scopes)], scopes)
    if not live:
        return 0
    scopes_of_kind: dict[str, set[str]] = defaultdict(set)
    for kind, scope in live:
        scopes_of_kind[kind].add(scope)
    options = unit.rules.scan or ScanOptions()
    work = []
    for kind, kind_scopes in scopes_of_kind.items():
        detector = _BY_KIND[kind]
        keys = sorted(_key(scope) for scope in kind_scopes)
        work.append(Reconciliation(detector.kind, sorted(kind_scopes), detector.detect(unit.session, keys, options)))
    return reconcile(unit.session, work, unit.now).closed


def _key(scope: str) -> int | str:
    """`invoice:12` -> 12, `client:C1` -> "C1" (the keys a detector's scope takes)."""
    name, _, key = scope.partition(":")
    return int(key) if name == "invoice" else key
