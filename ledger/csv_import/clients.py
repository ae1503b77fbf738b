"""clients.csv and projects.csv: few rows, read through the careful reader only."""

from __future__ import annotations

from sqlalchemy import select

from ledger.csv_import import reader
from ledger.csv_import.reader import Row
from ledger.csv_import.run import ImportRun, currency_of, known, pick, table_of, unique
from ledger.lookup import MERGE_AFTER_NEW_CLIENTS, merge_name_index
from ledger.tables import Client, Credit, Invoice, Project


def load_clients(run: ImportRun) -> None:
    spec = reader.CLIENTS
    existing = {row.id: row for row in run.session.execute(select(table_of(Client))).all()}
    seen: dict[str, int] = {}
    names = {row.name_key: row.id for row in existing.values()}
    qb_ids = {row.qb_customer_id: row.id for row in existing.values() if row.qb_customer_id}
    new_rows, edits = [], []
    for row in run.rows(spec):
        client_id = unique(row, "client_id", seen)
        name = row.required("name")
        currency = currency_of(row)
        qb_customer_id = row.optional("qb_customer_id") or None
        _claim(row, "name", name.lower(), client_id, names, f"the client name “{name}” is already used by")
        if qb_customer_id:
            _claim(row, "qb_customer_id", qb_customer_id, client_id, qb_ids, "this QuickBooks id belongs to")
        values = {"name": name, "name_key": name.lower(), "currency": currency, "qb_customer_id": qb_customer_id}
        old = existing.get(client_id)
        if old is None:
            new_rows.append({"id": client_id, **values, "created_at": run.now})
            continue
        if old.currency != currency and _has_money(run, client_id):
            raise row.error("currency", "a client's currency cannot change once it has invoices or credits")
        edit = run.edit(client_id, pick(old, values), values, None, client_id, None, f"client:{client_id}")
        if edit:
            edits.append(edit)
    run.write(spec, table_of(Client), new_rows, edits)
    if len(new_rows) >= MERGE_AFTER_NEW_CLIENTS:
        merge_name_index(run.session.connection())


def load_projects(run: ImportRun) -> None:
    spec = reader.PROJECTS
    table = table_of(Project)
    existing = {row.id: row for row in run.session.execute(select(table)).all()}
    clients = run.clients()
    seen: dict[str, int] = {}
    new_rows, edits = [], []
    for row in run.rows(spec):
        project_id = unique(row, "project_id", seen)
        client_id = known(row, "client_id", clients)
        values = {"client_id": client_id, "name": row.required("name")}
        old = existing.get(project_id)
        if old is None:
            new_rows.append({"id": project_id, **values})
            continue
        if old.client_id != client_id:
            raise row.error("client_id", "a project cannot move to another client")
        edit = run.edit(project_id, pick(old, values), values, None, client_id, None, f"project:{project_id}")
        if edit:
            edits.append(edit)
    run.write(spec, table, new_rows, edits)


def _has_money(run: ImportRun, client_id: str) -> bool:
    for model in (Invoice, Credit):
        table = table_of(model)
        if run.session.execute(select(table.c.id).where(table.c.client_id == client_id).limit(1)).first():
            return True
    return False


def _claim(row: Row, column: str, value: str, owner: str, claims: dict[str, str], taken: str) -> None:
    holder = claims.get(value)
    if holder is not None and holder != owner:
        raise row.error(column, f"{taken} client {holder}")
    claims[value] = owner
