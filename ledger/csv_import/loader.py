"""`import DIR`: validate every file, then write in one transaction.

- Any invalid row aborts the whole import before anything is written (the error names file, line, column).
- Rows are matched to the ledger by their ids, never by position, so a re-export in another order is a no-op.
- A row whose id exists with other values is an edit: the row is updated and its old values go to the
  history, timed at `updated_at` when the file gives one (that is what the post-sync scan reads).
- What QuickBooks owns (an invoice's posting state, once set) an export never changes: a contradiction is a
  conflict, reported and kept in the history (invoices.py).
- Imported data may already break the rules (a credit applied twice, more applied than issued): it is recorded
  as it is, and the scans report it.
- The import is itself an event of the history: who ran it, when, from which directory, what each file changed.
- QuickBooks changes an earlier sync could not match (an invoice not imported yet) are applied at the end, now
  that the import brought what they refer to.

Each file's module (clients.py, invoices.py, credits.py, payments.py) owns its fast and its careful path; this one
orders them in the transaction.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ledger.csv_import import reader
from ledger.csv_import.clients import load_clients, load_projects
from ledger.csv_import.credits import load_credits
from ledger.csv_import.invoices import load_invoices
from ledger.csv_import.payments import load_payments
from ledger.csv_import.run import ACTOR, FileSummary, ImportRun, ImportSummary, Progress
from ledger.db import Database
from ledger.errors import ImportRowError
from ledger.history import Line, record_all
from ledger.totals import add_to_totals, refresh_totals
from ledger.unit import Unit, statement

__all__ = ["ACTOR", "FileSummary", "ImportSummary", "Progress", "import_directory"]

_UNRESOLVED_QUICKBOOKS = statement("SELECT 1 FROM qb_txn WHERE status = 'unresolved' LIMIT 1")
# The page cache of an import's own connection (a plain unit's; the engine's connections keep 16 MiB, ledger/db.py):
# a 1,000,000-payment import took the same CPU with 4 MiB as with 16 (10.7 s and 10.8 s, medians of two each,
# alternating, load 14) and held 12 MiB less at its peak (issue 14).
_IMPORT_PAGE_CACHE = statement("PRAGMA cache_size=-4096")


def import_directory(
    db: Database, directory: Path, progress: Progress | None = None, *, by: str = ACTOR
) -> ImportSummary:
    """Import the CSV files in `directory` for `by` (who ran it); see the module docstring for the rules."""
    if not (directory / reader.CLIENTS.file).exists():
        raise ImportRowError(reader.CLIENTS.file, None, None, f"{reader.CLIENTS.file} is required in {directory}")
    with _collector_paused():
        # A SQLite file is imported on a plain unit (no SQLAlchemy), unless QuickBooks changes are waiting for the
        # import: their sync runs on the ORM. The check holds while the unit does, as it holds the write lock (no
        # sync can leave a change unresolved meanwhile), and it leaves before writing anything.
        with db.write(plain=True) as unit:
            if not unit.plain:
                return _import(unit, directory, progress, by)
            if unit.row(_UNRESOLVED_QUICKBOOKS) is None:
                unit.execute(_IMPORT_PAGE_CACHE)
                return _import(unit, directory, progress, by)
        with db.write() as unit:
            return _import(unit, directory, progress, by)


def _import(unit: Unit, directory: Path, progress: Progress | None, by: str) -> ImportSummary:
    run = ImportRun(unit, directory, progress or (lambda _file, _done, _total: None), progress is not None, by)
    for load in (load_clients, load_projects, load_invoices, load_credits, load_payments):
        load(run)
    _refresh_totals(run)
    if run.summary.changed or run.summary.conflicts:
        run.history.append(_import_line(run))
    record_all(unit, run.history)
    if run.summary.changed:
        run.summary.quickbooks = _apply_waiting_quickbooks_changes(unit)
    return run.summary


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the import, back on after (if it was on before).

    The import allocates a tuple or two per row and keeps few of them, which sets off collections; now and then one
    is a full collection, which walks every object the process holds (SQLAlchemy's, Alembic's, the import's own
    maps). In a fresh `creditbot import` of 10,000 payments one such pass took 35 ms, a third of the import. The
    import makes no reference cycles of its own, so reference counting frees its garbage without the collector.
    The switch is process-wide: imports run from the command line (`creditbot import`, the demo), not in a server.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _refresh_totals(run: ImportRun) -> None:
    """New entries add to the totals (as the operations' increments do); edited ones are recomputed after."""
    wallets = {client_id: (run.new_issued.get(client_id, 0), run.new_applied.get(client_id, 0))
               for client_id in run.new_issued.keys() | run.new_applied.keys()}  # fmt: skip
    add_to_totals(run.unit, run.new_paid, wallets)
    if run.touched_invoices or run.touched_clients:
        refresh_totals(run.unit, run.touched_invoices, run.touched_clients)


def _import_line(run: ImportRun) -> Line:
    counts = "; ".join(
        f"{name}: {s.created} new, {s.edited} edited, {s.unchanged} unchanged"
        + (f", {s.conflicts} conflicts kept out" if s.conflicts else "")
        for name, s in run.summary.files.items()
    )
    # The small files it read, by digest: the next import skips one that is byte for byte the same (run.py `rows`).
    files = {"files": dict(run.files_read)} if run.files_read else None
    return Line(actor=run.by, action="import", subject=str(run.directory)[-120:], after=files, detail=counts,
                at=run.now)  # fmt: skip


def _apply_waiting_quickbooks_changes(unit: Unit) -> object | None:
    """Re-apply the QuickBooks versions earlier syncs kept unresolved; their summary, or None if there were none."""
    if unit.row(_UNRESOLVED_QUICKBOOKS) is None:
        return None
    from ledger.qbo.sync import apply_entities  # the QuickBooks sync only when there is something to retry

    summary = apply_entities(unit, [])
    return summary if summary.changed else None
