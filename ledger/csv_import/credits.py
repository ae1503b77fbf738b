"""credits.csv: client-level credits issued in the billing system; few rows, read through the careful reader."""

from __future__ import annotations

from sqlalchemy import select, text

from ledger.credit_ops.lots import REFRESH_NEXT_EXPIRY
from ledger.csv_import import reader
from ledger.csv_import.run import ACTOR, ImportRun, known, pick, table_of, unique
from ledger.tables import Credit


def load_credits(run: ImportRun) -> None:
    spec = reader.CREDITS
    table = table_of(Credit)
    existing = {
        row.external_id: row for row in run.session.execute(select(table).where(table.c.external_id.is_not(None))).all()
    }
    clients = run.clients()
    seen: dict[str, int] = {}
    new_rows, edits = [], []
    for row in run.rows(spec):
        credit_id = unique(row, "credit_id", seen)
        client_id = known(row, "client_id", clients)
        values = {
            "client_id": client_id,
            "amount_minor": row.amount("amount", clients[client_id]),
            "issued_on": row.day("issued_on"),
            "reason": row.optional("reason"),
            "expires_on": row.day("expires_on") if row.optional("expires_on") else None,
        }
        old = existing.get(credit_id)
        if old is None:
            new_rows.append({"external_id": credit_id, **values, "created_by": ACTOR, "created_at": run.now})
            run.new_issued[client_id] = run.new_issued.get(client_id, 0) + values["amount_minor"]
            continue
        subject = f"credit:{credit_id}"
        edit = run.edit(old.id, pick(old, values), values, None, client_id, None, subject, clients[client_id])
        if edit:
            edits.append(edit)
            run.touched_clients.update({client_id, old.client_id})
    run.write(spec, table, new_rows, edits)
    if any(values["expires_on"] for values in new_rows) or edits:  # the wallets' next expiry date (credit_ops)
        run.session.execute(text(REFRESH_NEXT_EXPIRY))
