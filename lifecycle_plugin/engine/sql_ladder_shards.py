"""The compiled ladder run on several database connections at once, each deciding a share of
the customers: a whole-store backfill then uses more than the one core that a session's
statements run on (PostgreSQL runs no window function and no statement over a temporary
table in parallel workers).

    run = ShardedLadder(cursor, shards=2, also=[("since", ...)], later=[("digests", ...)])
    try:
        with transaction.atomic():
            run.create(cursor, compiled, params)
            ...  # lc_ladder_customers, _counted, _decisions, _stage_moves, _tier_moves, _since
            run.wait(cursor, "digests")  # now lc_ladder_digests too
    finally:
        run.close(cursor)  # after the transaction: the tables are outside it

How. A connection of its own reads the host's customers (numbered: `cid`, as `create_tables`
numbers them) and their counted orders once, into unlogged tables every session can read,
with the server's parallel workers. Then each of `shards` connections, on a thread of its
own, takes one range of `cid` (ranges, not a modulus: the planner estimates a range from the
table's statistics, a modulus at half a percent of the rows), copies its counted orders, and
runs the rest of the compiled statements unchanged over them: the three outputs (and the
caller's `also`) go into unlogged tables of their own, everything in between stays in its
session's temporary tables. The caller's connection reads them through temporary views with
the names `create_tables` gives (a union of the shards' tables), so what reads the outputs
does not know how they were made. The `later` outputs, over the inputs alone, are made by one
more connection while the caller goes on (writing what it has: one core for each).

The other connections see only what is committed: the caller must not have written
anything the evaluator reads in an open transaction (see `can_shard`). Their tables are
named after the caller's backend pid and dropped by `close`; tables left by a process that
died (no backend with that pid) are dropped at the next sharded run."""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import DatabaseError, connection, connections

from .sql_ladder import CompiledLadder
from .sql_ladder_parts import FUNCTIONS

SCRATCH_PREFIX = "lc_ladder_scratch_"
#: Made once for all shards (each copies its range of them), and read by the caller as views.
_INPUTS = ("customers", "counted")
#: Made by each shard for its customers, read by the caller as views of their union.
_PER_SHARD = ("decisions", "stage_moves", "tier_moves")
#: No JIT: its compile time is paid per statement, and the caller's session runs the same
#: statements without it.
_SESSION = ("SET jit = off",)
#: The shards run no parallel workers of their own: on top of the shards they would
#: oversubscribe the cores the shards are there to fill. (The inputs are read before the
#: shards start, with the server's parallel workers: the host's SELECTs are plain joins.)
_SERIAL = "SET max_parallel_workers_per_gather = 0"
_CREATE = re.compile(r"CREATE TEMP TABLE lc_ladder_(\w+) AS\s+(.*)", re.S)


def can_shard() -> bool:
    """Whether other connections can see what this one can: not inside a transaction
    (a test's, or a caller's with its own writes in it)."""
    return not connection.in_atomic_block and connection.get_autocommit()


def table_selects(compiled: CompiledLadder) -> list[tuple[str, str]]:
    """(table, SELECT) of each lc_ladder_* table the compiled statements create, in order."""
    found = [_CREATE.fullmatch(statement.strip()) for statement in compiled.statements]
    return [(match.group(1), match.group(2)) for match in found if match]


class ShardedLadder:
    """One sharded run of the evaluator for the connection of `cursor` (see the module's
    docstring). The caller's extra outputs, (name, SELECT) each, read as lc_ladder_<name>:
    `also` over the evaluator's tables, made in every shard after the evaluator; `later` over
    lc_ladder_customers and lc_ladder_counted, made beside the caller's work (see `wait`).
    Known up front, so that `close` drops them even after a run that failed halfway."""

    def __init__(self, cursor, shards: int, *, also: Sequence[tuple[str, str]] = (),
                 later: Sequence[tuple[str, str]] = ()):
        """Outside the caller's transaction (orphans are dropped here, each in its own)."""
        if shards < 2:
            raise ValueError("a sharded run needs at least two shards")
        _drop_orphans(cursor)
        self.shards = shards
        cursor.execute("SELECT pg_backend_pid()")
        self.prefix = f"{SCRATCH_PREFIX}{cursor.fetchone()[0]}_"
        self.also, self.later = tuple(also), tuple(later)
        self.per_shard = (*_PER_SHARD, *(name for name, _ in also))
        self.pool = ThreadPoolExecutor(max_workers=shards, thread_name_prefix="lifecycle-ladder-shard")
        self.pending: dict[str, Future] = {}

    def create(self, cursor, compiled: CompiledLadder, params: dict) -> None:
        """Decide; on return the outputs and `also` are readable, and `later` are being made."""
        steps = dict(table_selects(compiled))
        inputs = [(name, steps.pop(name)) for name in _INPUTS]
        rest = [*steps.items(), *self.also]
        binds = {**compiled.params, **params}
        customers = self.pool.submit(_on_own_connection, _read_inputs, self.prefix, inputs, binds).result()
        bounds = [customers * shard // self.shards for shard in range(self.shards + 1)]
        decided = [self.pool.submit(_on_own_connection, _decide_shard, self.prefix, shard, bounds[shard],
                                    bounds[shard + 1], rest, self.per_shard, binds)
                   for shard in range(self.shards)]
        for future in decided:
            future.result()
        for name, select in self.later:
            self.pending[name] = self.pool.submit(_on_own_connection, _make_later, self.prefix, name, select, binds)
        for name in _INPUTS:
            cursor.execute(f"CREATE TEMP VIEW lc_ladder_{name} AS SELECT * FROM {self.prefix}{name}")
        for name in self.per_shard:
            union = " UNION ALL ".join(f"SELECT * FROM {self.prefix}{name}_{shard}" for shard in range(self.shards))
            cursor.execute(f"CREATE TEMP VIEW lc_ladder_{name} AS {union}")

    def wait(self, cursor, name: str) -> None:
        """Once the `later` output `name` is made (its error raised here), readable as lc_ladder_<name>."""
        self.pending.pop(name).result()
        cursor.execute(f"CREATE TEMP VIEW lc_ladder_{name} AS SELECT * FROM {self.prefix}{name}")

    def close(self, cursor) -> None:
        """Wait for the other connections, then drop the views and tables (run it after the
        caller's transaction: the tables are outside it)."""
        self.pool.shutdown(wait=True)
        later = [name for name, _ in self.later]
        views = [f"lc_ladder_{name}" for name in (*_INPUTS, *self.per_shard, *later)]
        tables = [self.prefix + name for name in (*_INPUTS, *later)]
        tables += [f"{self.prefix}{name}_{shard}" for name in self.per_shard for shard in range(self.shards)]
        try:
            cursor.execute(f"DROP VIEW IF EXISTS {', '.join(views)}")
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(tables)}")


def _on_own_connection(job, *args):
    """`job(cursor, *args)` on this thread's own connection (autocommit: each table is
    committed, so the other sessions see it), closed afterwards.

    Its temporary views are dropped before it closes: PostgreSQL drops a closed session's
    temporary objects in the background, a moment after the client has gone, so views left
    to that would still depend on the run's tables when `ShardedLadder.close` drops them
    (an intermittent "cannot drop ... because other objects depend on them")."""
    own = connections[connection.alias]
    try:
        with own.cursor() as cursor:
            for statement in (*_SESSION, *FUNCTIONS):
                cursor.execute(statement)
            try:
                return job(cursor, *args)
            finally:
                _drop_own_temporary_objects(cursor)
    finally:
        own.close()


def _drop_own_temporary_objects(cursor) -> None:
    """DISCARD TEMP, unless the connection is already broken (the job's error is the one to see)."""
    try:
        cursor.execute("DISCARD TEMP")
    except DatabaseError:
        pass


def _read_inputs(cursor, run: str, inputs: list[tuple[str, str]], binds: dict) -> int:
    """The customers, numbered, and their counted orders (the host's SELECTs, read once);
    how many customers there are."""
    for name, select in inputs:  # (counted reads customers as lc_ladder_customers)
        cursor.execute(f"CREATE UNLOGGED TABLE {run}{name} AS {select}", binds)
        cursor.execute(f"ANALYZE {run}{name}")
        cursor.execute(f"CREATE TEMP VIEW lc_ladder_{name} AS SELECT * FROM {run}{name}")
    cursor.execute(f"SELECT max(cid) FROM {run}customers")
    return cursor.fetchone()[0] or 0


def _make_later(cursor, run: str, name: str, select: str, binds: dict) -> None:
    cursor.execute(_SERIAL)  # (beside the caller's statements: one core each)
    for table in _INPUTS:
        cursor.execute(f"CREATE TEMP VIEW lc_ladder_{table} AS SELECT * FROM {run}{table}")
    cursor.execute(f"CREATE UNLOGGED TABLE {run}{name} AS {select}", binds)
    cursor.execute(f"ANALYZE {run}{name}")


def _decide_shard(cursor, run: str, shard: int, first: int, last: int, steps: list[tuple[str, str]],
                  outputs: Sequence[str], binds: dict) -> None:
    """The customers numbered first+1 .. last: the compiled statements over them, the ones
    the caller reads into unlogged tables, the rest (their counted orders first, copied)
    into this session's temporary tables."""
    cursor.execute(_SERIAL)
    mine = f"cid > {int(first)} AND cid <= {int(last)}"
    cursor.execute(f"CREATE TEMP VIEW lc_ladder_customers AS SELECT * FROM {run}customers WHERE {mine}")
    cursor.execute(f"CREATE TEMP TABLE lc_ladder_counted AS SELECT * FROM {run}counted WHERE {mine}")
    cursor.execute("ANALYZE lc_ladder_counted")
    for name, select in steps:
        if name in outputs:
            table = f"{run}{name}_{shard}"
            cursor.execute(f"CREATE UNLOGGED TABLE {table} AS {select}", binds)
            cursor.execute(f"ANALYZE {table}")
            cursor.execute(f"CREATE TEMP VIEW lc_ladder_{name} AS SELECT * FROM {table}")
        else:
            cursor.execute(f"CREATE TEMP TABLE lc_ladder_{name} AS {select}", binds)
            cursor.execute(f"ANALYZE lc_ladder_{name}")


def _drop_orphans(cursor) -> None:
    """Drop the tables of sharded runs whose backend is gone (a process killed mid-run)."""
    cursor.execute("""SELECT c.relname FROM pg_class c
                      WHERE c.relkind = 'r' AND c.relpersistence = 'u' AND c.relname LIKE %s
                        AND pg_table_is_visible(c.oid)
                        AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                        WHERE a.pid::text = split_part(substr(c.relname, %s), '_', 1))""",
                   [SCRATCH_PREFIX.replace("_", r"\_") + "%", len(SCRATCH_PREFIX) + 1])
    for (name,) in cursor.fetchall():
        cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
