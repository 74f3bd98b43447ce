"""Inserting many rows at once and learning their ids, in the order given, on both databases.

The ORM's unit of work builds an object, its instance state and its history for every row; for the
message hot path (hundreds of rows per commit) that was most of the writer's time. These helpers insert
plain rows with Core in one round trip and still return the new ids in the order of the rows, which the
events and the senders' acknowledgements need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session

from kefu.db.engine import WRITE_OPTION


def insert_returning_ids(db: Session, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` into ``table`` (whose primary key is an integer ``id``); their ids, in row order."""
    if not rows:
        return []
    connection = db.connection()
    if connection.dialect.name == "sqlite":
        # SQLite has no INSERT form that ties new rowids to the order of the parameter sets (SQLAlchemy then
        # falls back to one INSERT per row). But an action holds SQLite's write lock from its BEGIN
        # IMMEDIATE (kefu.db.engine), so no writer in any process can take ids between reading the largest
        # one and inserting: the ids are given here, consecutively, and the insert is one executemany.
        if not connection.get_execution_options().get(WRITE_OPTION):
            raise RuntimeError("insert_returning_ids on SQLite must run inside an action (a write transaction)")
        db.flush()  # rows the ORM still holds for this table take their ids first
        start = int(db.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1
        ids = list(range(start, start + len(rows)))
        db.execute(insert(table), [{**row, "id": new_id} for row, new_id in zip(rows, ids, strict=True)])
        return ids
    # PostgreSQL: the ids come from the table's sequence in one small query, then the rows go in one
    # executemany of a fixed INSERT (psycopg pipelines it and parses the statement once). SQLAlchemy's
    # ordered INSERT … RETURNING would send one long multi-row VALUES statement per batch instead, whose
    # text psycopg parses again each time: that parsing was a third of the chat hot path (bench/chat.py).
    sequence = _sequence_of(db, table)
    ids = sorted(
        int(i)
        for i in db.execute(
            text("SELECT nextval(CAST(:seq AS regclass)) FROM generate_series(1, :n)"),
            {"seq": sequence, "n": len(rows)},
        ).scalars()
    )
    db.execute(insert(table), [{**row, "id": new_id} for row, new_id in zip(rows, ids, strict=True)])
    return ids


_SEQUENCES: dict[str, str] = {}


def _sequence_of(db: Session, table: Table) -> str:
    name = _SEQUENCES.get(table.name)
    if name is None:
        name = db.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}).scalar_one()
        if name is None:
            raise RuntimeError(f"table {table.name} has no sequence for its id")
        _SEQUENCES[table.name] = name
    return name
