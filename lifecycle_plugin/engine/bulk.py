"""Bulk SQL helpers for the engine's set-based paths (backfill, sweep).

Django's psycopg 3 cursors bind parameters on the client: every element of a
2,000-element array is quoted into the SQL text, which costs more than the
statement itself. `bulk_cursor` binds on the server instead, with `%b` (binary)
placeholders, on the same connection and inside the same transaction as the ORM.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection

#: One encoder for every JSON text the bulk paths write (json.dumps(..., default=str)
#: builds a new encoder on every call).
JSON = json.JSONEncoder(default=str)


#: Arrays from this length on may pass PostgreSQL's JIT thresholds (see `bulk_cursor`).
JIT_ROWS = 200


@contextmanager
def bulk_cursor(rows: int = JIT_ROWS) -> Iterator[Any]:
    """A Django-wrapped cursor (errors, logging) whose parameters are bound on the server.

    Use `%b` placeholders for arrays. For `rows` of `JIT_ROWS` or more, PostgreSQL's
    JIT is switched off for the current transaction: at a million rows the planner's
    estimates for 2,000-element arrays pass the JIT thresholds, and compiling costs
    more than running the query. A small batch (one event) spares that round trip.
    """
    import psycopg

    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    with connection._prepare_cursor(raw) as cursor:
        if connection.in_atomic_block and rows >= JIT_ROWS:
            cursor.execute("SET LOCAL jit = off")
        yield cursor


def use_c_loaders(cursor) -> None:
    """Read timestamps and jsonb on `cursor` with psycopg's C loaders: Django's load
    timestamps in Python (to attach its time zone; the connection's is UTC already) and
    jsonb as text. For rows read by the hundred thousand (the projections of a backfill
    or a prediction run), where that was a third of the time at 100,000 customers."""
    from psycopg.types.datetime import TimestamptzLoader
    from psycopg.types.json import JsonbLoader

    cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
    cursor.adapters.register_loader("jsonb", JsonbLoader)


def unnest_rows(columns: Sequence[tuple[str, str]]) -> str:
    """A numbered row source over column arrays: ``SELECT * FROM unnest(...) WITH ORDINALITY``.

    `columns` are (name, SQL type) pairs; array `i` is the parameter named `c<i>`
    (see `column_params`), bound in binary, and `position` keeps the rows' order.
    """
    arrays = ", ".join(f"%(c{index})b::{kind}[]" for index, (_, kind) in enumerate(columns))
    names = ", ".join(name for name, _ in columns)
    return f"SELECT * FROM unnest({arrays}) WITH ORDINALITY AS v({names}, position)"


def column_params(columns: Sequence[list]) -> dict[str, list]:
    """The column arrays as the parameters `unnest_rows` names."""
    return {f"c{index}": column for index, column in enumerate(columns)}


def _plain(key: str) -> bool:
    return key.isascii() and key.isalnum()


def json_text(mapping: Mapping[str, Any]) -> str:
    """`json.dumps(dict(mapping), default=str)`, with a fast path for the flat maps the
    engine writes (currency -> amount string or count, plain keys)."""
    if not mapping:
        return "{}"
    parts = []
    for key, value in mapping.items():
        if type(key) is not str or not _plain(key):
            return JSON.encode(dict(mapping))
        kind = type(value)
        if kind is str and '"' not in value and "\\" not in value and value.isprintable() and value.isascii():
            parts.append(f'"{key}": "{value}"')
        elif kind is int:
            parts.append(f'"{key}": {value}')
        else:
            return JSON.encode(dict(mapping))
    return "{" + ", ".join(parts) + "}"
