"""Deterministic synthetic ledgers in the import CSV format, at any size.

Shape (per N payments): N/1000 clients (at least 10), 2 credits per client, N/10 invoices, a project per client;
10% of payments are AccountCredit, the rest cash kinds. The same N always gives the same files.

`add_named_clients` adds clients with names as people have them ("Cedar Legal 000123 Audit"), many sharing their
words, for the lookups by name and the typeahead at realistic client counts.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ledger.db import Database

CASH_KINDS = ("check", "ach", "wire", "card", "cash")


@dataclass(frozen=True)
class Shape:
    payments: int
    # One client for this many payments (a ledger's exports repeat every client: the incremental import's bench
    # uses more clients than the default).
    payments_per_client: int = 1000

    @property
    def clients(self) -> int:
        return max(self.payments // self.payments_per_client, 10)

    @property
    def invoices(self) -> int:
        return max(self.payments // 10, self.clients)


def write_ledger(directory: Path, payments: int, seed: int = 2026, payments_per_client: int = 1000) -> Shape:
    """Write clients, projects, invoices, credits and payments CSV files for a ledger of `payments` payments."""
    shape = Shape(payments, payments_per_client)
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    write_ledger_parts(directory, shape)
    _write(directory / "invoices.csv", ["invoice_number", "client_id", "issued_on", "total"],
           ([f"INV-{i}", f"C{i % shape.clients}", f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}", "2500.00"]
            for i in range(shape.invoices)))  # fmt: skip
    _write(directory / "payments.csv", ["payment_id", "invoice_number", "type", "amount", "received_on"],
           (_payment_row(p, shape, rng) for p in range(payments)))  # fmt: skip
    return shape


def write_ledger_parts(directory: Path, shape: Shape) -> None:
    """clients.csv, projects.csv and credits.csv of a ledger of `shape`."""
    _write(directory / "clients.csv", ["client_id", "name", "currency"],
           ([f"C{c}", f"Client {c:06d}", "USD"] for c in range(shape.clients)))  # fmt: skip
    _write(directory / "projects.csv", ["project_id", "client_id", "name"],
           ([f"P{c}", f"C{c}", f"Project of client {c}"] for c in range(shape.clients)))  # fmt: skip
    _write(directory / "credits.csv", ["credit_id", "client_id", "amount", "issued_on", "reason"],
           ([f"CR{n}", f"C{n % shape.clients}", "5000.00", "2026-01-15", "synthetic"]
            for n in range(shape.clients * 2)))  # fmt: skip


def _payment_row(number: int, shape: Shape, rng: random.Random) -> list[str]:
    invoice = number % shape.invoices
    kind = "AccountCredit" if number % 10 == 3 else CASH_KINDS[number % len(CASH_KINDS)]
    cents = rng.randrange(100, 2500)  # ten payments of at most $25 never overpay a $2,500 invoice
    return [f"PAY-{number}", f"INV-{invoice}", kind, f"{cents // 100}.{cents % 100:02d}",
            f"2026-{1 + invoice % 12:02d}-{1 + number % 28:02d}"]  # fmt: skip


def _write(path: Path, header: list[str], rows) -> None:  # type: ignore[no-untyped-def]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_next_export(directory: Path, shape: Shape, payments: int, export: int = 1) -> None:
    """Export number `export` after `write_ledger(shape)`: every client, project and credit again (a billing system
    exports them whole), a month's new invoices and `payments` new payments on them (about four each)."""
    rng = random.Random(export)
    directory.mkdir(parents=True, exist_ok=True)
    write_ledger_parts(directory, shape)
    invoices = range((payments + 3) // 4)
    _write(directory / "invoices.csv", ["invoice_number", "client_id", "issued_on", "total"],
           ([f"INV-{export}-{i}", f"C{i % shape.clients}", "2026-12-01", "2500.00"] for i in invoices))  # fmt: skip
    _write(directory / "payments.csv", ["payment_id", "invoice_number", "type", "amount", "received_on"],
           ([f"PAY-{export}-{n}", f"INV-{export}-{n // 4}", CASH_KINDS[n % len(CASH_KINDS)],
             f"{rng.randrange(1, 25)}.{rng.randrange(100):02d}", "2026-12-02"] for n in range(payments)))  # fmt: skip


WORDS = ("Acme", "Birch", "Cedar", "Dunmore", "Elm", "Fjord", "Granite", "Harbor", "Iris", "Juniper", "Kestrel")
KINDS = ("Legal", "Architects", "Consulting", "Engineering", "Partners", "Studio", "Holdings", "Tax", "Audit")


def named_client(n: int) -> tuple[str, str]:
    """The id and name of extra client number `n`: the same n always gives the same client."""
    rng = random.Random(n)
    return f"T{n:06d}", f"{rng.choice(WORDS)} {rng.choice(KINDS)} {n:06d} {rng.choice(KINDS)}"


def add_named_clients(db: Database, start: int, stop: int) -> None:
    """Insert extra clients number `start` to `stop - 1` (no credits or invoices), then refresh the statistics."""
    from ledger.lookup import merge_name_index
    from ledger.unit import statement

    insert = statement("INSERT INTO client (id, name, name_key, currency, credits_issued_minor, "
                       "credits_applied_minor, created_at) VALUES (?, ?, ?, 'USD', 0, 0, ?)")  # fmt: skip
    clients = [named_client(n) for n in range(start, stop)]
    with db.write() as unit:
        created = unit.time(unit.now)
        unit.executemany(insert, [(client_id, name, name.lower(), created) for client_id, name in clients])
        merge_name_index(unit)  # as the CSV import does after a batch of new clients
    if not db.is_sqlite:  # as autovacuum would after a bulk load: the planner needs the tables' statistics
        with db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE client")
            connection.commit()
