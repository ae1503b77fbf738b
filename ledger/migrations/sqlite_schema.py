"""The schema the migrations make in a new SQLite file, kept as SQL so a new file is created without Alembic.

The migrations stay the one definition of the schema: `sqlite_schema.sql` is what running them all into an empty
SQLite file leaves (its objects' SQL as SQLite keeps it, and the row of Alembic's version table), written by this
module. A new file gets it in one transaction (`Database.ensure_schema`), which costs a few milliseconds where
loading Alembic and running the migrations cost a quarter of a second and 8 MiB. The file names the revision it
was made at; at any other `HEAD` the migrations run instead. tests/test_ledger_schema.py proves that a file made
from it is the one the migrations make, and that it is up to date; after adding a migration, write it again:

    python -m ledger.migrations.sqlite_schema
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

SCHEMA_SQL = Path(__file__).with_name("sqlite_schema.sql")
_REVISION_LINE = "-- revision: "
# Objects SQLite makes itself: the tables of sequences and statistics, a virtual table's shadow tables (its
# CREATE VIRTUAL TABLE makes them), and the indexes of unique and primary keys (no SQL of their own).
_OWN_OBJECTS = """
    SELECT sql FROM sqlite_master
    WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'
      AND name NOT IN (SELECT name FROM pragma_table_list WHERE type = 'shadow')
    ORDER BY rowid
"""


# A table's constraints, which the migrations write in no fixed order: Alembic's batch mode, recreating a table,
# lists its unique keys and foreign keys in the order of a set (it changes with Python's hash seed).
_CONSTRAINTS = ("PRIMARY KEY", "UNIQUE", "FOREIGN KEY", "CONSTRAINT", "CHECK")


def canonical(sql: str) -> tuple[str, ...]:
    """A statement with its table constraints in sorted order: two statements that make the same object compare
    equal, as the migrations' runs do (columns keep their order, which does matter)."""
    lines = [line.strip().removesuffix(",").rstrip() for line in sql.strip().rstrip(";").split("\n")]
    if not lines[0].startswith("CREATE TABLE") or len(lines) < 3:
        return tuple(lines)
    body = lines[1:-1]
    columns = [line for line in body if not line.startswith(_CONSTRAINTS)]
    return (lines[0], *columns, *sorted(line for line in body if line.startswith(_CONSTRAINTS)), lines[-1])


def in_fixed_order(sql: str) -> str:
    """A statement as SQLite keeps it, but a CREATE TABLE's table constraints in `canonical`'s sorted order, so
    that writing the schema twice gives the same file (SQLite accepts table constraints in any order after the
    columns; only each line's place changes, not its text)."""
    lines = sql.split("\n")
    if not lines[0].startswith("CREATE TABLE") or len(lines) < 3:
        return sql
    body = [line.rstrip().removesuffix(",") for line in lines[1:-1]]
    columns = [line for line in body if not line.strip().startswith(_CONSTRAINTS)]
    constraints = sorted((line for line in body if line.strip().startswith(_CONSTRAINTS)), key=str.strip)
    return "\n".join([lines[0], ", \n".join(columns + constraints), lines[-1]])


def statements(script: str) -> list[str]:
    """A schema script's statements (each ends a line with `;`; a trigger's inner statements end with `; END;`)."""
    found, current = [], []
    for line in script.split("\n")[1:]:
        current.append(line)
        if line.endswith(";"):
            found.append("\n".join(current))
            current = []
    return found


def revision(script: str) -> str | None:
    """The revision a schema script was written at (its first line), or None for something else."""
    first = script.split("\n", 1)[0]
    return first.removeprefix(_REVISION_LINE) if first.startswith(_REVISION_LINE) else None


def script_of(connection: sqlite3.Connection) -> str:
    """The SQL that makes `connection`'s schema again: its objects in the order SQLite made them (each table's
    constraints in a fixed order: `in_fixed_order`), and its revision."""
    (version,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    statements = [in_fixed_order(row[0]) for row in connection.execute(_OWN_OBJECTS)]
    statements.append(f"INSERT INTO alembic_version (version_num) VALUES ('{version}')")
    return f"{_REVISION_LINE}{version}\n" + "".join(f"{statement};\n" for statement in statements)


def migrated_script() -> str:
    """The script of a new SQLite file that the migrations made."""
    from ledger.db import Database

    with tempfile.TemporaryDirectory(prefix="creditbot-schema-") as folder:
        path = Path(folder) / "migrated.db"
        db = Database(f"sqlite:///{path}")
        db.upgrade()
        db.dispose()
        connection = sqlite3.connect(path)
        try:
            return script_of(connection)
        finally:
            connection.close()


if __name__ == "__main__":
    SCHEMA_SQL.write_text(migrated_script())
    print(f"wrote {SCHEMA_SQL} at {revision(SCHEMA_SQL.read_text())}")
