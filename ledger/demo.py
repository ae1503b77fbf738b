"""A realistic demo ledger, loaded through the CSV import like real data.

Four clients of a professional-services firm, posted and unposted invoices, cash and credits, and the two
mistakes creditbot exists to catch: a credit applied twice (INV-1003) and an invoice edited after it was
posted to QuickBooks (INV-2001, imported a second time with a higher total).
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from ledger.csv_import.loader import ImportSummary, import_directory
from ledger.db import Database

CLIENTS = [
    ("C-ACME", "Acme Legal LLP", "USD", "58"),
    ("C-BIRCH", "Birch & Co Architects", "USD", "61"),
    ("C-CEDAR", "Cedar Consulting Group", "USD", ""),
    ("C-DUN", "Dunmore Engineering GmbH", "EUR", "77"),
]
PROJECTS = [
    ("P-ACME-LIT", "C-ACME", "Litigation support"),
    ("P-ACME-IP", "C-ACME", "Patent filings"),
    ("P-BIRCH-LIB", "C-BIRCH", "City library renovation"),
    ("P-CEDAR-ERP", "C-CEDAR", "ERP selection"),
]
INVOICES = [
    # number, client, project, issued_on, total, posted_to_qb_at, qb_invoice_id, updated_at
    ("INV-1001", "C-ACME", "P-ACME-LIT", "2026-08-31", "12500.00", "", "", ""),
    ("INV-1002", "C-ACME", "P-ACME-IP", "2026-09-30", "8400.00", "", "", ""),
    ("INV-1003", "C-ACME", "P-ACME-LIT", "2026-10-31", "6200.00", "", "", ""),
    ("INV-2001", "C-BIRCH", "P-BIRCH-LIB", "2026-09-15", "18000.00", "2026-09-16T09:00:00Z", "9001", ""),
    ("INV-2002", "C-BIRCH", "P-BIRCH-LIB", "2026-10-15", "9750.00", "", "", ""),
    ("INV-3001", "C-CEDAR", "P-CEDAR-ERP", "2026-10-01", "4300.00", "", "", ""),
    ("INV-4001", "C-DUN", "", "2026-10-20", "7300.00", "2026-10-21T08:30:00Z", "9120", ""),
]
CREDITS = [
    ("CR-1", "C-ACME", "2000.00", "2026-09-05", "Discount for delayed deliverable"),
    ("CR-2", "C-ACME", "750.00", "2026-10-02", "Retainer overpayment"),
    ("CR-3", "C-BIRCH", "1500.00", "2026-09-20", "Goodwill credit"),
    ("CR-4", "C-CEDAR", "500.00", "2026-10-05", "Referral credit"),
    ("CR-5", "C-DUN", "300.00", "2026-10-25", "Travel costs billed twice"),
]
PAYMENTS = [
    # payment_id, invoice, type, amount, received_on, created_at, updated_at, project_id
    ("PAY-1", "INV-1001", "check", "10000.00", "2026-09-20", "", "", ""),
    ("PAY-2", "INV-1001", "AccountCredit", "1000.00", "2026-09-21", "", "", "P-ACME-LIT"),
    ("PAY-3", "INV-1002", "ach", "4000.00", "2026-10-12", "", "", ""),
    # The same credit applied twice, two days apart: the duplicate the scan must find.
    ("PAY-4", "INV-1003", "AccountCredit", "600.00", "2026-11-03", "", "", "P-ACME-LIT"),
    ("PAY-5", "INV-1003", "AccountCredit", "600.00", "2026-11-05", "", "", "P-ACME-LIT"),
    ("PAY-6", "INV-2001", "wire", "12000.00", "2026-10-01", "", "", ""),
    ("PAY-7", "INV-2001", "QBCreditMemo", "1500.00", "2026-10-03", "", "", ""),
    ("PAY-8", "INV-2002", "card", "2500.00", "2026-10-30", "", "", ""),
    ("PAY-9", "INV-3001", "cash", "1000.00", "2026-10-15", "", "", ""),
    ("PAY-10", "INV-4001", "wire", "5000.00", "2026-11-02", "", "", ""),
]
# The second export: INV-2001's total was raised in the billing system after it was posted to QuickBooks.
EDITED_INVOICE = ("INV-2001", "C-BIRCH", "P-BIRCH-LIB", "2026-09-15", "18600.00", "2026-09-16T09:00:00Z", "9001",
                  "2026-10-10T16:45:00Z")  # fmt: skip

HEADERS = {
    "clients.csv": ["client_id", "name", "currency", "qb_customer_id"],
    "projects.csv": ["project_id", "client_id", "name"],
    "invoices.csv": [
        "invoice_number",
        "client_id",
        "project_id",
        "issued_on",
        "total",
        "posted_to_qb_at",
        "qb_invoice_id",
        "updated_at",
    ],
    "credits.csv": ["credit_id", "client_id", "amount", "issued_on", "reason"],
    "payments.csv": [
        "payment_id",
        "invoice_number",
        "type",
        "amount",
        "received_on",
        "created_at",
        "updated_at",
        "project_id",
    ],
}


def write_demo_csv(directory: Path, edited: bool = False) -> None:
    """Write the demo export to `directory` (the second, edited export when `edited`)."""
    invoices = [EDITED_INVOICE if edited and row[0] == EDITED_INVOICE[0] else row for row in INVOICES]
    tables = {
        "clients.csv": CLIENTS,
        "projects.csv": PROJECTS,
        "invoices.csv": invoices,
        "credits.csv": CREDITS,
        "payments.csv": PAYMENTS,
    }
    for name, rows in tables.items():
        with (directory / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADERS[name])
            writer.writerows(rows)


def load_demo(db: Database) -> list[ImportSummary]:
    """Import the demo export, then its edited re-export. Loading it again changes nothing."""
    summaries = []
    with tempfile.TemporaryDirectory(prefix="creditbot-demo-") as folder:
        for edited in (False, True):
            write_demo_csv(Path(folder), edited=edited)
            summaries.append(import_directory(db, Path(folder)))
    return summaries
