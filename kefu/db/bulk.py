"""Inserting many rows at once and learning their ids, in the order given, on both databases.

The ORM's unit of work builds an object, its instance state and its history for every row; for the
message hot path (hundreds of rows per commit) that was most of the writer's time. These helpers insert
plain rows with Core in one round trip and still return the new ids in the order of the rows, which the
events and the senders' acknowledgements need.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Select, Table, func, insert, select, text
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
        largest = _LARGEST.get(table.name)
        if largest is None:
            largest = _LARGEST[table.name] = select(func.coalesce(func.max(table.c.id), 0))
        start = int(connection.execute(largest).scalar_one()) + 1
        ids = list(range(start, start + len(rows)))
        _insert_many(connection, table, rows, ids)
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
    _insert_many(connection, table, rows, ids)
    return ids


#: One bind processor (or None) per column key, in statement order.
_Binders = list[tuple[str, Callable[[Any], Any] | None]]
#: (statement, binders) by (statement kind, table, dialect, keys); None where the driver path does not apply.
_PLANS: dict[tuple[str, str, str, tuple[str, ...]], tuple[str, _Binders] | None] = {}


def _insert_many(connection: Connection, table: Table, rows: Sequence[dict[str, Any]], ids: list[int]) -> None:
    """One executemany of a fixed INSERT through the driver, each value converted by its column type's own
    bind processor (so stored exactly as an ORM or Core insert would store it). Core's ``insert`` does the
    same, but spends most of its time per row in generic parameter handling; on the message hot path that
    was the largest share of the writer thread, which holds the GIL against the event loop."""
    keys = tuple(rows[0])
    cache_key = ("insert", table.name, connection.dialect.name, keys)
    plan = _PLANS[cache_key] if cache_key in _PLANS else _insert_plan(connection, table, keys)
    if plan is None or any(len(row) != len(keys) for row in rows):
        connection.execute(insert(table), [{**row, "id": new_id} for row, new_id in zip(rows, ids, strict=True)])
        return
    sql, binders = plan
    connection.exec_driver_sql(sql, _bound(rows, binders, first=ids))


def update_many(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """``UPDATE table SET <the rows' other keys> WHERE id = row["id"]`` for each row, in one executemany
    through the driver (as ``_insert_many``); every row has the same keys, ``id`` among them."""
    if not rows:
        return
    keys = tuple(k for k in rows[0] if k != "id")
    cache_key = ("update", table.name, connection.dialect.name, keys)
    plan = _PLANS.get(cache_key)
    if plan is None:
        quote, marker = connection.dialect.identifier_preparer.quote, _marker(connection)
        if marker is None:
            raise RuntimeError(f"update_many does not know the {connection.dialect.paramstyle} parameter style")
        assignments = ", ".join(f"{quote(k)} = {marker}" for k in keys)
        # Only our own table's and columns' names (quoted) go into the text; values are bound.
        sql = f"UPDATE {quote(table.name)} SET {assignments} WHERE {quote('id')} = {marker}"  # noqa: S608
        plan = _PLANS[cache_key] = (sql, _binders(connection, table, (*keys, "id")))
    sql, binders = plan
    connection.exec_driver_sql(sql, _bound(rows, binders))


def _bound(
    rows: Sequence[dict[str, Any]], binders: _Binders, first: Sequence[Any] | None = None
) -> list[tuple[Any, ...]]:
    """The rows as parameter tuples, each value through its column's processor, as Core does (None
    included). A value that is the very same object as the previous row's (a batch shares one timestamp)
    is converted once."""
    last: list[tuple[Any, Any]] = [(_NOTHING, None)] * len(binders)
    params: list[tuple[Any, ...]] = []
    for n, row in enumerate(rows):
        values = [] if first is None else [first[n]]
        for i, (key, process) in enumerate(binders):
            value = row[key]
            if process is None:
                values.append(value)
                continue
            seen, converted = last[i]
            if value is not seen:
                converted = process(value)
                last[i] = (value, converted)
            values.append(converted)
        params.append(tuple(values))
    return params


_NOTHING = object()


def _marker(connection: Connection) -> str | None:
    return {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(connection.dialect.paramstyle)


def _binders(connection: Connection, table: Table, keys: Sequence[str]) -> _Binders:
    dialect = connection.dialect
    return [(key, table.c[key].type.dialect_impl(dialect).bind_processor(dialect)) for key in keys]


def _insert_plan(connection: Connection, table: Table, keys: tuple[str, ...]) -> tuple[str, _Binders] | None:
    marker = _marker(connection)
    names = [c.name for c in table.columns]
    plan: tuple[str, _Binders] | None = None
    # Only for rows that give every column but the id (nothing left to a default), in a known param style.
    if marker is not None and "id" not in keys and set(keys) | {"id"} == set(names) and len(keys) == len(names) - 1:
        quote = connection.dialect.identifier_preparer.quote
        order = ["id", *keys]
        # Only our own table's and columns' names (quoted) go into the text; values are bound.
        into = f"{quote(table.name)} ({', '.join(quote(n) for n in order)})"
        sql = f"INSERT INTO {into} VALUES ({', '.join([marker] * len(order))})"  # noqa: S608
        plan = (sql, _binders(connection, table, keys))
    _PLANS[("insert", table.name, connection.dialect.name, keys)] = plan
    return plan


_SEQUENCES: dict[str, str] = {}
_LARGEST: dict[str, Select[Any]] = {}


def _sequence_of(db: Session, table: Table) -> str:
    name = _SEQUENCES.get(table.name)
    if name is None:
        name = db.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}).scalar_one()
        if name is None:
            raise RuntimeError(f"table {table.name} has no sequence for its id")
        _SEQUENCES[table.name] = name
    return name
