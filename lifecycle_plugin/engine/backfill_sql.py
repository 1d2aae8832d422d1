"""The backfill in SQL: every customer without a profile decided by the set-based evaluator
(`sql_ladder`) over the host's SELECTs (`Host.ladder_sources`), with the history the event
path would have written had the plugin been on since their first order.

The rule for customers who already have a profile (decided by the event path, or by an
earlier backfill): their profile and history are theirs, so the SQL path does not touch
them; they go through the Python path as before (recomputed, a change recorded with
reason ``backfill`` at the time of the backfill). So does a deleted customer (a
tombstone), whose history before the deletion must not be read again. Re-running the
backfill therefore writes nothing twice: the customers it created have profiles now.

New profiles, their stage history (dated moves: ``event``, ``time``, ``win_back``; a
customer without orders gets one ``backfill`` row at the time of the backfill), their tier
changes and `stage_since` / `tier_since` (the date of the last move) are written with
INSERT ... SELECT from the evaluator's tables (temporary tables, or with several
connections the views over theirs: `sql_ladder_shards`) in one transaction, holding off
deletions (`deletion.hold_off_deletions`) until it commits. The metadata projection is
written by the host from a SELECT (`Host.write_projection_sql`), or without that method in
pages of `chunk_size` accounts. No hook fires: reconstructed moves send nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction

from ..host import CustomerRef, Projection
from ..hooks import has_implementations
from ..models import DeletedCustomer
from ..rules.ladder import why_not_exact
from .backfill_writes import PROFILE_TABLE, TIER_TABLE, TRANSITION_TABLE
from .bulk import use_c_loaders
from .deletion import DELETION_LOCK, deleted_at
from .digest_writes import evaluated_digests_select, write_digests_for_backfill
from .plans import profile_summary
from .sql_ladder import compile_ladder
from .sql_ladder_parts import FUNCTIONS
from .stage_flow_rollups import history_of_new_profiles
from .sql_ladder_run import create_tables
from .sql_ladder_shards import ShardedLadder, can_shard

#: Hooks that change facts or decisions, which the SQL evaluator cannot run.
DECISION_HOOKS = ("lifecycle_collect_facts", "lifecycle_classify")


def why_not_sql(engine) -> str | None:
    """Why the SQL evaluator cannot decide for `engine` (None: it can)."""
    if getattr(engine.host, "ladder_sources", None) is None:
        return f"the {engine.host.name} host offers no SQL (Host.ladder_sources)"
    hooks = [name for name in DECISION_HOOKS if has_implementations(engine.pm, name, new_customers=True)]
    return why_not_exact(hooks, engine.config)


def backfill_in_sql(engine, report, *, chunk_size: int, start_after: str | None, dry_run: bool,
                    progress: Callable[[int, str | None], None] | None, python_chunk: Callable,
                    connections: int = 1):
    """Fill `report` (a `BackfillReport`); `python_chunk(customers)` runs the Python path on a
    chunk. The evaluator runs on `connections` database connections at once when it can
    (`sql_ladder_shards`: not inside a caller's transaction), else on this one."""
    now = engine.clock()
    sources = engine.host.ladder_sources()
    compiled = compile_ladder(engine.config, now, customers_sql=sources.customers_sql,
                              orders_sql=sources.orders_sql)
    shards = connections if connections > 1 and can_shard() else 1
    conflicts: list[CustomerRef] = []
    digests, digest_params = evaluated_digests_select()
    later = [] if dry_run else [("digests", digests)]  # (made on a connection of their own meanwhile)
    with connection.cursor() as cursor:
        sharded = ShardedLadder(cursor, shards, also=[("since", _SINCE)], later=later) if shards > 1 else None
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(hashtextextended(%s, 0))", [DELETION_LOCK])
            if sharded is not None:  # (the shards analyze their outputs)
                sharded.create(cursor, compiled, {**sources.params, **digest_params})
                since = "lc_ladder_since"
            else:
                create_tables(cursor, compiled, dict(sources.params))
                # The evaluator leaves its outputs without statistics; grouped and joined
                # without them, the statements below are planned blind.
                cursor.execute("ANALYZE lc_ladder_stage_moves, lc_ladder_tier_moves")
                since = f"({_SINCE})"
            _split(cursor, start_after or "", now, since)
            new = _count_new(cursor, report)
            if not dry_run:
                report.created, conflicts = _write(cursor, now, new)
                if sharded is not None:
                    sharded.wait(cursor, "digests")
                write_digests_for_backfill(cursor, now, computed=sharded is not None)
                _project(engine, now, chunk_size)
        _drop_evaluator_tables(sharded, compiled)  # (not kept through the Python path below)
        report.customers += new
        report.stage_changes += report.created
        if progress is not None and new:
            progress(new, _resume_cursor(_next_rest(""), None))
        for customer in conflicts:  # an event made their profile meanwhile: redone one by one
            engine.process(customer, event="backfill", recompute=True)
        report.conflicts += len(conflicts)
        _rest_in_python(report, chunk_size, progress, python_chunk)
    finally:
        _drop_evaluator_tables(sharded, compiled)
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS lc_backfill_new, lc_backfill_rest")


def _drop_evaluator_tables(sharded: ShardedLadder | None, compiled) -> None:
    """Outside the transaction (a sharded run's tables are): safe to call twice."""
    with connection.cursor() as cursor:
        if sharded is not None:
            sharded.close(cursor)
        else:
            cursor.execute(compiled.drop)


#: The dates of each customer's last stage and tier moves (NULL: none).
_SINCE = """SELECT cid, max(stage_at) AS stage_at, max(tier_at) AS tier_at
            FROM (SELECT cid, at AS stage_at, NULL::timestamptz AS tier_at FROM lc_ladder_stage_moves
                  UNION ALL SELECT cid, NULL, at FROM lc_ladder_tier_moves) AS m
            GROUP BY cid"""


def _split(cursor, after: str, now, since: str) -> None:
    """lc_backfill_new: the decisions of customers without a profile and without a tombstone,
    each with the id its profile will have and the dates of its last moves (`since`: a
    relation of `_SINCE`'s rows);
    lc_backfill_rest: everyone else, for the Python path. Both only after `after` (resuming
    a run: the customers up to that e-mail are done)."""
    cursor.execute("DROP TABLE IF EXISTS lc_backfill_new, lc_backfill_rest")
    # Ids are drawn from the profiles' own sequence up front, so that the history, the
    # digests and the projection are written from this table alone: joined on integers,
    # never read back from the profiles. (A customer whose profile an event writes
    # meanwhile leaves a gap in the sequence, as any rolled-back insert does.)
    cursor.execute(f"""
        CREATE TEMP TABLE lc_backfill_new AS
        SELECT d.*, c.user_id, nextval(pg_get_serial_sequence('{PROFILE_TABLE}', 'id')) AS id,
               COALESCE(s.stage_at, %(now)s) AS stage_since,
               CASE WHEN d.tier IS NOT NULL THEN COALESCE(s.tier_at, %(now)s) END AS tier_since
        FROM lc_ladder_decisions d JOIN lc_ladder_customers c USING (cid)
        LEFT JOIN {since} s USING (cid)
        WHERE d.customer > %(after)s AND NOT EXISTS (SELECT 1 FROM {PROFILE_TABLE} p WHERE p.email = d.customer)
          AND NOT (c.user_id IS NOT NULL
                   AND EXISTS (SELECT 1 FROM {PROFILE_TABLE} p WHERE p.user_id = c.user_id))""",
                   {"after": after, "now": now})
    cursor.execute("CREATE UNIQUE INDEX ON lc_backfill_new (customer)")
    if DeletedCustomer.objects.exists():
        cursor.execute("DELETE FROM lc_backfill_new WHERE customer = ANY(%s)", [_tombstoned(cursor)])
    cursor.execute("ANALYZE lc_backfill_new")
    cursor.execute("""CREATE TEMP TABLE lc_backfill_rest AS
                      SELECT c.customer, c.user_id FROM lc_ladder_customers c
                      WHERE c.customer > %s
                        AND NOT EXISTS (SELECT 1 FROM lc_backfill_new n WHERE n.customer = c.customer)""", [after])
    cursor.execute("CREATE UNIQUE INDEX ON lc_backfill_rest (customer)")


def _tombstoned(cursor, page: int = 5000) -> list[str]:
    """The new customers that were deleted once (tombstones are keyed hashes: checked in Python)."""
    found, after = [], ""
    while True:
        cursor.execute("""SELECT customer, user_id FROM lc_backfill_new WHERE customer > %s
                          ORDER BY customer LIMIT %s""", [after, page])
        rows = cursor.fetchall()
        if not rows:
            return found
        found += deleted_at({email: [(email, user_id)] for email, user_id in rows})
        after = rows[-1][0]


def _count_new(cursor, report) -> int:
    cursor.execute("SELECT stage, COALESCE(tier, ''), count(*) FROM lc_backfill_new GROUP BY 1, 2")
    total = 0
    for stage, tier, count in cursor.fetchall():
        report.stage_counts[stage] += count
        report.tier_counts[tier] += count
        report.tier_changes += count if tier else 0
        total += count
    return total


def _write(cursor, now, new: int) -> tuple[int, list[CustomerRef]]:
    """The `new` profiles, then their dated history: how many profiles were written, and the
    customers whose profile an event wrote meanwhile (taken out of lc_backfill_new)."""
    cursor.execute(f"""
        INSERT INTO {PROFILE_TABLE} (
            id, user_id, email, stage, stage_since, stage_rule, tier, tier_since, orders_count,
            orders_by_currency, lifetime_spend, window_spend, first_order_at, last_order_at,
            extra_facts, history_cutoff, decided_at, next_check_at, version, created_at, updated_at)
        SELECT n.id, n.user_id, n.customer, n.stage, n.stage_since, n.rule, n.tier, n.tier_since, n.orders_count,
               n.orders_by_currency, n.lifetime_spend, n.window_spend, n.first_order_at, n.last_order_at,
               '{{}}', %(now)s, %(now)s, n.next_check_at, 1, %(now)s, %(now)s
        FROM lc_backfill_new n
        ON CONFLICT DO NOTHING""", {"now": now})
    written = cursor.rowcount
    conflicts = _take_out_conflicts(cursor) if written < new else []
    # Straight from the evaluator's tables, in their order (each customer's moves together):
    # the foreign keys to the profiles are checked at the commit. Only the profiles just
    # written: the stage flow's trigger need not look for earlier history.
    with history_of_new_profiles(cursor):
        cursor.execute(f"""
            INSERT INTO {TRANSITION_TABLE} (profile_id, from_stage, to_stage, occurred_at, recorded_at, reason,
                                            event, rule, facts)
            SELECT n.id, m.from_stage, m.to_stage, m.at, %(now)s, m.reason, '', m.rule, m.facts
            FROM lc_ladder_stage_moves m JOIN lc_backfill_new n USING (cid)""", {"now": now})
    cursor.execute(f"""
        INSERT INTO {TIER_TABLE} (profile_id, from_tier, to_tier, occurred_at, recorded_at, reason, window_spend)
        SELECT n.id, m.from_tier, m.to_tier, m.at, %(now)s, m.reason, m.window_spend
        FROM lc_ladder_tier_moves m JOIN lc_backfill_new n USING (cid)""", {"now": now})
    return written, conflicts


def _take_out_conflicts(cursor) -> list[CustomerRef]:
    """The new customers whose profile was not written (an event wrote one meanwhile)."""
    cursor.execute(f"""DELETE FROM lc_backfill_new n
                       WHERE NOT EXISTS (SELECT 1 FROM {PROFILE_TABLE} p WHERE p.id = n.id)
                       RETURNING n.customer, n.user_id""")
    return [CustomerRef(email, user_id) for email, user_id in cursor.fetchall()]


#: The new accounts' projections (`Host.write_projection_sql`'s columns): the summary as
#: `plans.profile_summary` makes it (new profiles have no prediction and are no advocates
#: yet), its times in `datetime.isoformat`'s form.
_PROJECTIONS = """
    SELECT user_id, stage, tier, %(lc_decided_at)s::timestamptz AS decided_at, false AS advocate,
           jsonb_build_object(
               'stage', stage, 'stage_since', pg_temp.lc_ladder_iso(stage_since), 'tier', tier,
               'orders', orders_count, 'lifetime_spend', lifetime_spend, 'window_spend', window_spend,
               'first_order_at', pg_temp.lc_ladder_iso(first_order_at),
               'last_order_at', pg_temp.lc_ladder_iso(last_order_at),
               'next_check_at', pg_temp.lc_ladder_iso(next_check_at), 'prediction', NULL, 'advocate', false)
               AS profile
    FROM lc_backfill_new WHERE user_id IS NOT NULL"""


def _project(engine, now, page: int) -> None:
    """The new accounts' projections: in the database when the host can write them from a
    SELECT (`Host.write_projection_sql`), else read in one statement and written `page` at a
    time (memory stays flat): a server-side cursor, where pages by keyset looked every row
    up in three indexes again (13 s of 780,000 accounts at 1,000,000 customers)."""
    if getattr(engine.host, "write_projection_sql", None) is not None:
        with connection.cursor() as cursor:
            for statement in FUNCTIONS:
                cursor.execute(statement)
            engine.host.write_projection_sql(cursor, _PROJECTIONS, {"lc_decided_at": now})
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")  # (its estimates pass JIT's thresholds; compiling costs more)
    with connection.connection.cursor(name="lc_backfill_projection") as rows:
        use_c_loaders(rows)
        # New profiles have no prediction or referral yet.
        rows.execute("""SELECT customer, user_id, stage, stage_since, tier, orders_count, lifetime_spend,
                               window_spend, first_order_at, last_order_at, next_check_at
                        FROM lc_backfill_new WHERE user_id IS NOT NULL ORDER BY user_id""")
        while batch := rows.fetchmany(max(page, 5000)):
            engine.host.write_projection([
                Projection(customer=CustomerRef(email, user_id), stage=stage, tier=tier, decided_at=now,
                           profile=profile_summary(stage=stage, stage_since=since, tier=tier, orders=orders,
                                                   lifetime_spend=lifetime, window_spend=window,
                                                   first_order_at=first_at, last_order_at=last_at,
                                                   next_check_at=next_at, prediction=None, advocate=False))
                for email, user_id, stage, since, tier, orders, lifetime, window, first_at, last_at, next_at in batch
            ])


def _rest_in_python(report, chunk_size: int, progress, python_chunk) -> None:
    """Customers with a profile (or a tombstone): the Python path, a chunk at a time in e-mail order."""
    after = ""
    while True:
        with connection.cursor() as cursor:
            cursor.execute("""SELECT customer, user_id FROM lc_backfill_rest WHERE customer > %s
                              ORDER BY customer LIMIT %s""", [after, chunk_size])
            rows = cursor.fetchall()
        if not rows:
            return
        customers = [CustomerRef(email, user_id) for email, user_id in rows]
        chunk = python_chunk(customers)
        report.add(chunk)
        after = rows[-1][0]
        if progress is not None:
            progress(len(customers), _resume_cursor(_next_rest(after), chunk.last_email))


def _next_rest(after: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(customer) FROM lc_backfill_rest WHERE customer > %s", [after])
        return cursor.fetchone()[0]


def _resume_cursor(next_rest: str | None, python_last: str | None) -> str | None:
    """The e-mail up to which every customer is done: the last new customer before the next
    customer the Python path has still to do, or the Python chunk's own cursor if later
    (the new customers were all written at once; neither names a deleted customer)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(customer) FROM lc_backfill_new WHERE %s::text IS NULL OR customer < %s",
                       [next_rest, next_rest])
        last_new = cursor.fetchone()[0]
    return max(filter(None, (last_new, python_last)), default=None)
