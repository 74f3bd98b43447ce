"""Inserting many rows at once and learning their ids, in the order given, on both databases.

The ORM's unit of work builds an object, its instance state and its history for every row; for the
message hot path (hundreds of rows per commit) that was most of the writer's time. These helpers insert
plain rows with Core in one round trip and still return the new ids in the order of the rows, which the
events and the senders' acknowledgements need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, func, insert, select
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
    # PostgreSQL: "insertmanyvalues" sends a few multi-row INSERT … RETURNING statements and sorts what
    # comes back into the order of the parameter sets.
    result = db.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows))
    return [int(i) for i in result.scalars()]
