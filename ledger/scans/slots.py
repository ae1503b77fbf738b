"""Scheduler slot claims: each (job, slot) runs once, however many schedulers fire it.

The claim is an INSERT into `scan_slot`, whose (job, slot) is unique: the first instance's row wins, the
others' inserts do nothing and they skip the slot. The claim commits before the run starts, so a run that
crashes leaves its slot "running" (visible, for an operator) and blocks nothing: the next slot is another row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from ledger.db import Database
from ledger.tables import ScanSlot, utcnow


def claim_slot(db: Database, job: str, slot: datetime, instance: str) -> int | None:
    """The claim's id if this instance won the slot, None if another instance already has it."""
    insert = sqlite_insert if db.is_sqlite else pg_insert
    statement = (
        insert(ScanSlot)
        .values(job=job, slot=slot, instance=instance, claimed_at=utcnow(), outcome="running", detail="")
        .on_conflict_do_nothing(index_elements=["job", "slot"])
        .returning(col(ScanSlot.id))
    )
    with db.write() as unit:
        session = unit.session
        return session.execute(statement).scalar_one_or_none()


def finish_slot(db: Database, claim_id: int, outcome: str, detail: str = "") -> None:
    with db.write() as unit:
        session = unit.session
        session.execute(
            update(ScanSlot)
            .where(col(ScanSlot.id) == claim_id)
            .values(outcome=outcome, detail=detail[:2000], finished_at=utcnow())
        )
