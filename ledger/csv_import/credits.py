"""credits.csv: client-level credits issued in the billing system; few rows, read through the careful reader but
for rows exactly as stored (exported whole each time, like the clients: see clients.py)."""

from __future__ import annotations

from ledger.credit_ops.lots import REFRESH_NEXT_EXPIRY
from ledger.csv_import import reader
from ledger.csv_import.run import ACTOR, ImportRun, Unchanged, known, pick, unique
from ledger.money import decimal_str
from ledger.unit import statement

_STORED_CREDITS = statement(
    "SELECT external_id, id, client_id, amount_minor, issued_on, reason, expires_on FROM credit "
    "WHERE external_id IS NOT NULL"
)
_REFRESH_NEXT_EXPIRY = statement(REFRESH_NEXT_EXPIRY)
# What a new credit is (CreditKind.GRANT: the table's default too).
_GRANT = {"kind": "grant"}


def load_credits(run: ImportRun) -> None:
    spec = reader.CREDITS
    if run.unchanged_file(spec):
        return
    existing = {row[0]: row for row in run.unit.rows(_STORED_CREDITS)}
    clients = run.clients()
    seen: dict[str, int] = {}
    new_rows, edits = [], []
    for row in run.rows(spec, lambda index: _unchanged_credit(index, existing, clients, seen)):
        credit_id = unique(row, "credit_id", seen)
        client_id = known(row, "client_id", clients)
        values = {
            "client_id": client_id,
            "amount_minor": row.amount("amount", clients[client_id]),
            "issued_on": row.day("issued_on"),
            "reason": row.optional("reason"),
            "expires_on": row.day("expires_on") if row.optional("expires_on") else None,
        }
        stored = existing.get(credit_id)
        if stored is None:
            new_rows.append({"external_id": credit_id, **values, "created_by": ACTOR, "created_at": run.now})
            run.new_issued[client_id] = run.new_issued.get(client_id, 0) + values["amount_minor"]
            continue
        old = run.stored_row("credit", stored[1])
        subject = f"credit:{credit_id}"
        edit = run.edit(old.id, pick(old, values), values, None, client_id, None, subject, clients[client_id])
        if edit:
            edits.append(edit)
            run.touched_clients.update({client_id, old.client_id})
    run.write(spec, "credit", new_rows, edits, _GRANT)
    if any(values["expires_on"] for values in new_rows) or edits:  # the wallets' next expiry date (credit_ops)
        run.unit.execute(_REFRESH_NEXT_EXPIRY)


def _unchanged_credit(
    index: dict[str, int], existing: dict[str, tuple], clients: dict[str, str], seen: dict[str, int]
) -> Unchanged:
    """The cheap compare of a credits.csv row: its text exactly the stored credit's, the amount as the ledger writes
    it in the client's currency ("5000.00"), days as YYYY-MM-DD, an empty or absent reason or expiry as none."""
    at = [index.get(name) for name in ("credit_id", "client_id", "amount", "issued_on", "reason", "expires_on")]
    # Amounts as the ledger writes them, by (minor units, currency): credits repeat a few amounts.
    amount_texts: dict[tuple[int, str], str] = {}

    def unchanged(values: list[str], line: int) -> bool:
        credit_id = values[at[0]]  # type: ignore[index]
        stored = existing.get(credit_id)
        if stored is None or credit_id in seen or values[at[1]] != stored[2]:  # type: ignore[index]
            return False
        texts = [values[position] if position is not None else "" for position in at[2:]]
        amount = (stored[3], clients[stored[2]])
        amount_text = amount_texts.get(amount) or amount_texts.setdefault(amount, decimal_str(*amount))
        if texts[0] != amount_text or texts[1] != str(stored[4]):
            return False
        if texts[2] != stored[5] or texts[3] != ("" if stored[6] is None else str(stored[6])):
            return False
        seen[credit_id] = line
        return True

    return unchanged
