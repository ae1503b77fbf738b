"""clients.csv and projects.csv: few rows, read through the careful reader, but for rows exactly as stored.

A billing system exports its clients and projects whole every time, so a month's export into a large ledger
repeats every one of them: each file reads the ledger's rows once as plain tuples, and a row whose text is exactly
what the ledger holds is counted unchanged by comparing strings (`_unchanged_client`, `_unchanged_project`), with
no row object, check or conversion. The stored text passed those checks when it came in.
"""

from __future__ import annotations

from ledger.csv_import import reader
from ledger.csv_import.reader import Row
from ledger.csv_import.run import ImportRun, Unchanged, currency_of, known, pick, unique
from ledger.lookup import MERGE_AFTER_NEW_CLIENTS, merge_name_index
from ledger.unit import statement

_STORED_CLIENTS = statement("SELECT id, name, name_key, currency, qb_customer_id FROM client")
_STORED_PROJECTS = statement("SELECT id, client_id, name FROM project")
_HAS_MONEY = statement(
    "SELECT 1 WHERE EXISTS (SELECT 1 FROM invoice WHERE client_id = ?) "
    "OR EXISTS (SELECT 1 FROM credit WHERE client_id = ?)"
)
# A new client's running totals.
_NO_CREDITS = {"credits_issued_minor": 0, "credits_applied_minor": 0}


def load_clients(run: ImportRun) -> None:
    spec = reader.CLIENTS
    if run.unchanged_file(spec):
        return
    existing = {row[0]: row for row in run.unit.rows(_STORED_CLIENTS)}
    seen: dict[str, int] = {}
    names = {row[2]: client_id for client_id, row in existing.items()}
    qb_ids = {row[4]: client_id for client_id, row in existing.items() if row[4]}
    new_rows, edits = [], []
    for row in run.rows(spec, lambda index: _unchanged_client(index, existing, seen)):
        client_id = unique(row, "client_id", seen)
        name = row.required("name")
        currency = currency_of(row)
        qb_customer_id = row.optional("qb_customer_id") or None
        _claim(row, "name", name.lower(), client_id, names, f"the client name “{name}” is already used by")
        if qb_customer_id:
            _claim(row, "qb_customer_id", qb_customer_id, client_id, qb_ids, "this QuickBooks id belongs to")
        values = {"name": name, "name_key": name.lower(), "currency": currency, "qb_customer_id": qb_customer_id}
        if client_id not in existing:
            new_rows.append({"id": client_id, **values, "created_at": run.now})
            continue
        old = run.stored_row("client", client_id)
        if old.currency != currency and _has_money(run, client_id):
            raise row.error("currency", "a client's currency cannot change once it has invoices or credits")
        edit = run.edit(client_id, pick(old, values), values, None, client_id, None, f"client:{client_id}")
        if edit:
            edits.append(edit)
    run.write(spec, "client", new_rows, edits, _NO_CREDITS)
    if len(new_rows) >= MERGE_AFTER_NEW_CLIENTS:
        merge_name_index(run.unit)


def _unchanged_client(index: dict[str, int], existing: dict[str, tuple], seen: dict[str, int]) -> Unchanged:
    """The cheap compare of a clients.csv row: its id, name, currency and QuickBooks id exactly as stored (an empty
    or absent currency is USD, an empty QuickBooks id none). The name and QuickBooks id are the client's own
    already, so they claim nothing new."""
    at = index["client_id"], index["name"], index.get("currency"), index.get("qb_customer_id")

    def unchanged(values: list[str], line: int) -> bool:
        client_id = values[at[0]]
        stored = existing.get(client_id)
        if stored is None or client_id in seen or values[at[1]] != stored[1]:
            return False
        currency = values[at[2]] if at[2] is not None else ""
        qb_customer_id = values[at[3]] if at[3] is not None else ""
        if (currency or "USD") != stored[3] or (qb_customer_id or None) != stored[4]:
            return False
        seen[client_id] = line
        return True

    return unchanged


def load_projects(run: ImportRun) -> None:
    spec = reader.PROJECTS
    if run.unchanged_file(spec):
        return
    existing = {row[0]: row for row in run.unit.rows(_STORED_PROJECTS)}
    clients = run.clients()
    seen: dict[str, int] = {}
    new_rows, edits = [], []
    for row in run.rows(spec, lambda index: _unchanged_project(index, existing, seen)):
        project_id = unique(row, "project_id", seen)
        client_id = known(row, "client_id", clients)
        values = {"client_id": client_id, "name": row.required("name")}
        stored = existing.get(project_id)
        if stored is None:
            new_rows.append({"id": project_id, **values})
            continue
        if stored[1] != client_id:
            raise row.error("client_id", "a project cannot move to another client")
        old = {"client_id": stored[1], "name": stored[2]}
        edit = run.edit(project_id, old, values, None, client_id, None, f"project:{project_id}")
        if edit:
            edits.append(edit)
    run.write(spec, "project", new_rows, edits)


def _unchanged_project(index: dict[str, int], existing: dict[str, tuple], seen: dict[str, int]) -> Unchanged:
    """The cheap compare of a projects.csv row: its project id, client id and name exactly as stored."""
    at = index["project_id"], index["client_id"], index["name"]

    def unchanged(values: list[str], line: int) -> bool:
        project_id = values[at[0]]
        if existing.get(project_id) != (project_id, values[at[1]], values[at[2]]) or project_id in seen:
            return False
        seen[project_id] = line
        return True

    return unchanged


def _has_money(run: ImportRun, client_id: str) -> bool:
    return run.unit.row(_HAS_MONEY, (client_id, client_id)) is not None


def _claim(row: Row, column: str, value: str, owner: str, claims: dict[str, str], taken: str) -> None:
    holder = claims.get(value)
    if holder is not None and holder != owner:
        raise row.error(column, f"{taken} client {holder}")
    claims[value] = owner
