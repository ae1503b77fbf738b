"""A scan: evaluate the detectors (incrementally by default), then store what they found.

Incremental: each detector keeps watermarks (the last id it read per source table); a scan re-evaluates only
the invoices / clients that rows above them touch, so its cost follows what changed. `full=True` evaluates
everything and must give the same findings; a detector without watermarks yet, or whose settings changed
(the duplicate window), is evaluated in full too.

Concurrency: the evaluation runs in one read snapshot with no lock held; the results are stored in one short
write transaction that also moves each detector's watermark, guarded by its `generation`. A scan that finds a
generation moved (another scan stored first, from a snapshot it cannot see) starts over; so findings are never
written from a stale evaluation, and two instances scanning at once store each change once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ledger.db import Database
from ledger.errors import LedgerError
from ledger.rules import ScanOptions
from ledger.scans.changes import MAX_IDS_SQL, SOURCES, Changes, positions_of, settled_positions
from ledger.scans.detectors import DETECTORS, Detector
from ledger.scans.driver import Driver, Spelt, spelt
from ledger.scans.findings import Finding
from ledger.scans.store import Reconciliation, reconcile
from ledger.tables import ScanWatermark, utcnow
from ledger.unit import read_json

log = logging.getLogger(__name__)

# Past this many changed invoices or clients, one pass over everything is cheaper than looking them up.
SCOPED_LIMIT = 20_000
_ATTEMPTS = 8

_WATERMARK = ScanWatermark.__table__  # type: ignore[attr-defined]
# Moves a detector's watermark only from the generation its evaluation started at.
_MOVE = spelt(
    "UPDATE scan_watermark SET positions = ? /* json */, config = ?, generation = ?, scanned_at = ? "
    "WHERE detector = ? AND generation = ?"
)
_FIRST = insert(_WATERMARK)


class ScanBusy(LedgerError):
    code = "scan_busy"

    def __init__(self) -> None:
        super().__init__("Other scans kept storing findings at the same time; this scan gave up. Run it again.")


@dataclass(frozen=True)
class DetectorRun:
    kind: str
    mode: str  # "full", "incremental" or "unavailable" (its table does not exist in this database)
    scopes: int | None  # how many scopes were re-evaluated (None: all)
    found: int


@dataclass
class ScanReport:
    opened: list[int] = field(default_factory=list)
    updated: int = 0
    closed: int = 0
    detectors: list[DetectorRun] = field(default_factory=list)
    # True when another scan, running at the same time, stored findings from at least the changes this one saw.
    superseded: bool = False


@dataclass
class _Evaluation:
    detector: Detector
    config: str
    generation: int | None  # None: no watermark row yet
    old: dict[str, int]  # the watermarks this evaluation started from
    positions: dict[str, int]  # the watermarks to store with its findings
    incremental: bool
    scopes: Sequence[Any] | None = None  # the keys evaluated; None: everything
    found: list[Finding] = field(default_factory=list)
    available: bool = True


def run_scan(
    db: Database, options: ScanOptions | None = None, *, full: bool = False, now: datetime | None = None
) -> ScanReport:
    """Scan the ledger and store the findings; see the module docstring."""
    options = options or ScanOptions()
    for attempt in range(_ATTEMPTS):
        evaluations = _evaluate(db, options, full)
        try:
            return _store(db, evaluations, now or utcnow())
        except _LostRace:
            if _superseded(db, evaluations):
                return ScanReport(superseded=True)
            log.info("another scan stored findings first; evaluating again")
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # spread the retries of scans started together
    raise ScanBusy()


def _superseded(db: Database, evaluations: list[_Evaluation]) -> bool:
    """Whether the scans that stored first had read every change this one read (its work would repeat theirs)."""
    with db.read() as unit:
        session = unit.session
        marks = {row.detector: row for row in session.exec(select(ScanWatermark))}
    for evaluation in evaluations:
        if not evaluation.available:
            continue
        mark = marks.get(evaluation.detector.kind.value)
        if mark is None or mark.config != evaluation.config:
            return False
        if any(int(mark.positions.get(source, 0)) < position for source, position in evaluation.positions.items()):
            return False
    return True


def evaluate_all(db: Database, options: ScanOptions | None = None) -> list[Finding]:
    """Every finding in the ledger now, computed in full and stored nowhere (tests compare scans with it)."""
    evaluations = _evaluate(db, options or ScanOptions(), full=True, settle=False)
    return [finding for evaluation in evaluations for finding in evaluation.found]


# --- evaluating -----------------------------------------------------------------------------------------


@contextmanager
def _snapshot(db: Database) -> Iterator[Session]:
    """One consistent view for the whole evaluation (SQLite's read transaction already is one in WAL mode)."""
    if db.is_sqlite:
        with db.read() as unit:
            yield unit.session
        return
    engine = db.engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def _evaluate(db: Database, options: ScanOptions, full: bool, settle: bool = True) -> list[_Evaluation]:
    settled = settled_positions(db) if settle else None
    with _snapshot(db) as session:
        driver = Driver(session)
        marks = {kind: _Mark(kind, read_json(at), config, seen) for kind, at, config, seen in driver.rows(_MARKS)}
        reached = positions_of(driver.rows(_MAX_IDS)[0]) if db.is_sqlite else settled
        tables = {name for (name,) in driver.rows(_PRESENT_TABLES)}
        plans = [_plan(detector, marks.get(detector.kind.value), options, full, reached) for detector in DETECTORS]
        changes = _changes_for(driver, plans)
        # Detectors of one scope that read the same changes from the same watermarks (the usual case) share the
        # keys: computed once rather than once per detector.
        scoped: dict[tuple[Any, ...], list[Any] | None] = {}
        for plan in plans:
            if plan.detector.table not in tables:
                plan.available = False
                continue
            if plan.incremental:
                assert changes is not None and plan.detector.affected is not None
                shared = (plan.detector.affected, *sorted(plan.old.items()))
                if shared not in scoped:
                    keys = plan.detector.affected(changes, plan.old)
                    scoped[shared] = sorted(keys) if len(keys) <= SCOPED_LIMIT else None
                plan.scopes = scoped[shared]
                if plan.scopes == []:
                    continue
            plan.found = plan.detector.detect(session, plan.scopes, options)
    return plans


@dataclass(frozen=True)
class _Mark:
    """A detector's stored watermark row."""

    detector: str
    positions: dict[str, Any]
    config: str
    generation: int


_MARKS = spelt("SELECT detector, positions, config, generation FROM scan_watermark")
_MAX_IDS = spelt(MAX_IDS_SQL)
_TABLES = ", ".join(sorted({f"'{detector.table}'" for detector in DETECTORS}))
# The detectors' tables this database has, in one statement (the inspector's has_table is a statement per table).
_PRESENT_TABLES = Spelt(
    f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({_TABLES})",
    f"SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename IN ({_TABLES})",
)


def _plan(
    detector: Detector, mark: Any, options: ScanOptions, full: bool, reached: dict[str, int] | None
) -> _Evaluation:
    config = detector.config(options)
    old = {source: int(mark.positions[source]) for source in SOURCES if source in mark.positions} if mark else {}
    incremental = (
        not full
        and mark is not None
        and mark.config == config
        and detector.affected is not None
        and len(old) == len(SOURCES)
    )
    # Without settled ids (PostgreSQL writers busy), keep the old watermarks: the changes are read again next time.
    positions = reached if reached is not None else (old or dict.fromkeys(SOURCES, 0))
    generation = mark.generation if mark is not None else None
    return _Evaluation(detector, config, generation, old, dict(positions), incremental)


def _changes_for(driver: Driver, plans: list[_Evaluation]) -> Changes | None:
    if not any(plan.incremental for plan in plans):
        return None
    return Changes(driver)


# --- storing --------------------------------------------------------------------------------------------


class _LostRace(Exception):
    pass


def _store(db: Database, evaluations: list[_Evaluation], now: datetime) -> ScanReport:
    stored = [evaluation for evaluation in evaluations if evaluation.available]
    named: dict[tuple[str, int], list[str]] = {}
    work = [Reconciliation(e.detector.kind, _scope_names(e, named), e.found) for e in stored]
    try:
        with db.write() as unit:
            session = unit.session
            _advance(session, stored, now)
            counts = reconcile(session, work, now)
    except IntegrityError as race:  # two first scans inserting the same watermark row
        raise _LostRace() from race
    return ScanReport(
        opened=counts.opened,
        updated=counts.updated,
        closed=counts.closed,
        detectors=[_detector_run(evaluation) for evaluation in evaluations],
    )


def _scope_names(evaluation: _Evaluation, named: dict[tuple[str, int], list[str]]) -> list[str] | None:
    """The scopes' names ("invoice:12"), one list for the detectors that share their keys (see `_evaluate`)."""
    scopes = evaluation.scopes
    if scopes is None:
        return None
    prefix = evaluation.detector.scope
    shared = (prefix, id(scopes))
    if shared not in named:
        named[shared] = [f"{prefix}:{key}" for key in scopes]
    return named[shared]


def _detector_run(evaluation: _Evaluation) -> DetectorRun:
    kind = evaluation.detector.kind.value
    if not evaluation.available:
        return DetectorRun(kind, "unavailable", None, 0)
    scopes = evaluation.scopes
    mode = "incremental" if scopes is not None else "full"
    return DetectorRun(kind, mode, None if scopes is None else len(scopes), len(evaluation.found))


def _advance(session: Session, evaluations: list[_Evaluation], now: datetime) -> None:
    """Move the detectors' watermarks (one statement for all), if no other scan moved one since they were read."""
    driver = Driver(session)
    moves = [
        (
            driver.json(evaluation.positions),
            evaluation.config,
            evaluation.generation + 1,
            driver.time(now),
            evaluation.detector.kind.value,
            evaluation.generation,
        )
        for evaluation in evaluations
        if evaluation.generation is not None
    ]
    firsts = [
        {
            "detector": evaluation.detector.kind.value,
            "positions": evaluation.positions,
            "config": evaluation.config,
            "generation": 1,
            "scanned_at": now,
        }
        for evaluation in evaluations
        if evaluation.generation is None
    ]
    # Both drivers report the rows an executemany changed in total: fewer than asked means one row moved on.
    if moves and driver.executemany(_MOVE, moves) != len(moves):
        raise _LostRace()
    connection = session.connection()
    if firsts:
        connection.execute(_FIRST, firsts)  # a row another scan inserted first raises IntegrityError
