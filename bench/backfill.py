"""Backfill benchmark: the full backfill against a floor and against the naive way.

    .venv/bin/python bench/backfill.py --seed 1                      # 100,000 and 1,000,000 customers
    .venv/bin/python bench/backfill.py --sizes 100000 --repeats 3    # one size

For each store size (generated from the seed by the sandbox generator, kept in
the database `<base>_<size>` for later runs), each repeat runs naive, backfill and
floor in that order, each in a fresh child process (the store is left backfilled):

- backfill: the lifecycle tables emptied (not timed), then `backfill()` over every
  customer: facts, decisions, profiles, transitions, tier changes, metadata
  projection, committed. Peak memory: the child's ru_maxrss (os.wait4).
- floor: one plain SQL aggregate over the same orders (per customer and currency:
  count, net spend, first and last order; counted statuses only), computed in full
  by the server (`SELECT count(*) FROM (aggregate)`), plus bulk writes
  (INSERT ... SELECT) of exactly as many rows as the backfill of the same repeat wrote:
  profiles, history rows, tier changes, ladder digests and metadata rows, each into a logged table with
  the real table's columns, defaults, indexes, storage parameters and foreign keys (checked
  at the commit, as the real tables' are); committed. Written twice, in two children:
  with rows made up to those counts (narrow: two-key JSON objects, short arrays), and with
  the very rows the backfill wrote (copied untimed into temporary tables first, then
  written with one INSERT ... SELECT a table). Also reported: the first with the aggregate
  fetched into the client (a lenient floor).
- naive: one ORM query per customer (account, orders, carts), the same rules and
  history (`rules.timeline`), and ORM writes of the same rows (profile, a transition per
  stage move, a tier change per tier move, digest, metadata) for a 10,000-customer
  sample (consecutive customers in e-mail order from a seeded random start),
  inside one transaction rolled back at the end; extrapolated per customer.

Figures: medians over `--repeats` runs, and the ratios the targets are about.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))

import _common as common  # noqa: E402

SCRIPT = "backfill.py"
NAIVE_SAMPLE = 10_000


# ---------------------------------------------------------------------------- children

def child_backfill(now: str, connections: str = "2") -> None:
    from django.db import connection

    from lifecycle_plugin.engine.backfill import backfill

    common.empty_lifecycle_tables()
    engine = common.make_engine(common.parse_now(now))
    started = time.perf_counter()
    report = backfill(engine, connections=int(connections))
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_customerprofile")
        profiles = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_stagetransition")
        transitions = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM lifecycle_sandbox_customermetadata")
        metadata = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_tierchange")
        tier_rows = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_ladderdigest")
        digest_rows = cursor.fetchone()[0]
    import resource

    common.answer(seconds=seconds, customers=report.customers, profiles=profiles, transitions=transitions,
                  tier_changes=report.tier_changes, tier_rows=tier_rows, digest_rows=digest_rows,
                  metadata_rows=metadata,
                  conflicts=report.conflicts, path=report.path, path_reason=report.path_reason,
                  self_maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


FLOOR_AGGREGATE = """
    SELECT COALESCE(o.user_id::text, lower(trim(o.user_email))) AS customer, o.currency,
           count(*), sum(o.total_amount - o.refunded_amount), min(o.created_at), max(o.created_at)
    FROM lifecycle_sandbox_order o
    WHERE o.status NOT IN ('draft', 'unconfirmed', 'canceled', 'expired')
    GROUP BY 1, 2
"""

FLOOR_WRITE = """
    INSERT INTO bench_floor_profile (
        id, user_id, email, stage, stage_since, stage_rule, tier, tier_since, orders_count,
        orders_by_currency, lifetime_spend, window_spend, first_order_at, last_order_at,
        extra_facts, history_cutoff, decided_at, next_check_at, version, created_at, updated_at)
    SELECT i, u.id, 'customer' || i || '@example.com', 'repeat', %(now)s, 'min_orders', 'bronze', %(now)s, 5,
           '{"USD": 5}', '{"USD": "312.50"}', '{"USD": "120.00"}',
           %(now)s - interval '900 days', %(now)s - interval '20 days', '{}', %(now)s, %(now)s,
           %(now)s + (i %% 1000) * interval '1 hour', 1, %(now)s, %(now)s
    FROM generate_series(1, %(rows)s) AS i
    -- As many profiles with an account (an existing user: the foreign key is checked) as the
    -- backfill wrote metadata rows for; the rest are guests.
    LEFT JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM auth_user) u
           ON u.n = i AND i <= %(accounts)s
"""


FLOOR_HISTORY_WRITES = (
    """INSERT INTO bench_floor_transition (id, profile_id, from_stage, to_stage, occurred_at, recorded_at, reason,
                                          event, rule, facts)
       SELECT i, 1 + i %% %(profiles)s, 'new', 'repeat', %(now)s - (i %% 1000) * interval '1 day', %(now)s,
              'event', '', 'min_orders', '{"orders": 2, "last_order_at": "2025-01-01T00:00:00+00:00"}'
       FROM generate_series(1, %(rows)s) AS i""",
    """INSERT INTO bench_floor_tier (id, profile_id, from_tier, to_tier, occurred_at, recorded_at, reason,
                                    window_spend)
       SELECT i, 1 + i %% %(profiles)s, NULL, 'bronze', %(now)s - (i %% 1000) * interval '1 day', %(now)s,
              'event', '{"USD": "312.50"}'
       FROM generate_series(1, %(rows)s) AS i""",
    # A customer's digest as the backfill writes it: five orders in one currency.
    """INSERT INTO bench_floor_digest (profile_id, version, has_account, open_cart_lines, moments, paid_moments,
                                      median_gap_us, paid_median_gap_us, spend_currencies, spend_starts,
                                      spend_moments, spend_from, paid_spend_from, written_at)
       SELECT i, 1, true, 0, m, m, 86400000000 * 60, 86400000000 * 60, '{USD}', '{1,7}',
              m || 9223372036854775807, '{312.50,250.00,187.50,125.00,62.50,0}', '{312.50,250.00,187.50,125.00,62.50,0}',
              %(now)s
       FROM generate_series(1, %(rows)s) AS i,
            LATERAL (SELECT array_agg(1700000000000000 + i * 1000 + k * 5184000000000) AS m
                     FROM generate_series(0, 4) AS k) AS moments""",
    """INSERT INTO bench_floor_metadata (user_id, metadata, private_metadata)
       SELECT u.id, '{"lifecycle.stage": "repeat", "lifecycle.tier": "bronze"}',
              jsonb_build_object('lifecycle.profile', '{"stage": "repeat", "tier": "bronze", "orders": 5, '
                                 || '"lifetime_spend": {"USD": "312.50"}, "window_spend": {"USD": "120.00"}}')
       FROM (SELECT id FROM auth_user ORDER BY id LIMIT %(rows)s) AS u""",
)
FLOOR_TABLES = {"bench_floor_profile": "lifecycle_plugin_customerprofile",
                "bench_floor_transition": "lifecycle_plugin_stagetransition",
                "bench_floor_tier": "lifecycle_plugin_tierchange",
                "bench_floor_digest": "lifecycle_plugin_ladderdigest",
                "bench_floor_metadata": "lifecycle_sandbox_customermetadata",
                # The stage flow's rollups, which the history's triggers write in the backfill's
                # transaction: the own-rows floor writes them too; the made-up one does not.
                "bench_floor_stagecount": "lifecycle_plugin_stagecountchange",
                "bench_floor_stageentry": "lifecycle_plugin_stageentry"}


def child_floor(now: str, rows: str, transitions: str = "0", tier_rows: str = "0", digest_rows: str = "0",
                metadata_rows: str = "0", rows_from: str = "synthetic") -> None:
    """The floor. `rows_from`: "synthetic" writes rows made up to the counts given (narrow
    ones: two-key JSON objects); "backfill" writes the very rows the backfill just wrote,
    copied first (untimed) into temporary tables and written from there."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        for table, like in FLOOR_TABLES.items():
            cursor.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
            cursor.execute(f"CREATE TABLE {table} (LIKE {like} INCLUDING DEFAULTS INCLUDING INDEXES "
                           "INCLUDING CONSTRAINTS)")
            # Nor does LIKE copy storage parameters (the profiles' fillfactor).
            cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [like])
            options = cursor.fetchone()[0]
            if options:
                cursor.execute(f"ALTER TABLE {table} SET ({', '.join(options)})")
        # LIKE copies no foreign keys, but every row written to the real tables has its keys
        # checked (deferred: at the commit). The real tables' keys, pointed at the floor's tables.
        for table, like in FLOOR_TABLES.items():
            cursor.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                           "AND contype = 'f'", [like])
            for (definition,) in cursor.fetchall():
                for floor_table, real in FLOOR_TABLES.items():
                    definition = definition.replace(f"REFERENCES {real}(", f"REFERENCES {floor_table}(")
                cursor.execute(f"ALTER TABLE {table} ADD {definition}")
        if rows_from == "backfill":
            for table, real in FLOOR_TABLES.items():
                cursor.execute(f"CREATE TEMP TABLE staged_{table} AS SELECT * FROM {real}")
    # A plain psycopg cursor (C loaders for every column, PostgreSQL's own plan with its
    # parallel workers): the cheapest way to run the aggregate and get it into the client.
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        # The aggregate computed in full by the server, only its size sent back.
        started = time.perf_counter()
        cursor.execute(f"SELECT count(*) FROM ({FLOOR_AGGREGATE}) AS aggregate")
        cursor.fetchone()
        server_seconds = time.perf_counter() - started
        connection.connection.commit()
        # The same aggregate fetched into the client, as a program that decides from it must.
        started = time.perf_counter()
        cursor.execute(FLOOR_AGGREGATE)
        aggregated = cursor.fetchall()
        client_seconds = time.perf_counter() - started
        connection.connection.commit()
        del aggregated
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if rows_from == "backfill":
            for table in FLOOR_TABLES:  # profiles first, as the keys want
                cursor.execute(f"INSERT INTO {table} SELECT * FROM staged_{table}")
        else:
            cursor.execute(FLOOR_WRITE, {"now": common.parse_now(now), "rows": int(rows),
                                         "accounts": int(metadata_rows)})
            for statement, count in zip(FLOOR_HISTORY_WRITES, (transitions, tier_rows, digest_rows, metadata_rows)):
                if int(count):
                    cursor.execute(statement, {"now": common.parse_now(now), "rows": int(count),
                                               "profiles": max(int(rows), 1)})
    write_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE " + ", ".join(FLOOR_TABLES) + " CASCADE")
    common.answer(seconds=server_seconds + write_seconds, client_seconds=client_seconds + write_seconds,
                  aggregate_seconds=server_seconds, aggregate_fetch_seconds=client_seconds,
                  write_seconds=write_seconds, rows_written=int(rows), rows_from=rows_from)


def child_naive(now: str, seed: str, sample: str) -> None:
    from django.db import transaction

    from lifecycle_plugin.sandbox.host import SandboxHost

    import _naive

    common.empty_lifecycle_tables()
    moment = common.parse_now(now)
    host = SandboxHost()
    rng = random.Random(int(seed))
    start = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(2))
    customers = []
    for chunk in host.customer_chunks(2000, start_after=start):
        customers.extend(chunk)
        if len(customers) >= int(sample):
            break
    customers = customers[: int(sample)]
    engine = common.make_engine(moment)
    started = time.perf_counter()
    with transaction.atomic():
        written = _naive.naive_backfill(engine, customers, moment)
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    common.answer(seconds=seconds, customers=len(customers), profiles_written=written, start_after=start)


# ---------------------------------------------------------------------------- orchestrator

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-sample", type=int, default=NAIVE_SAMPLE)
    parser.add_argument("--connections", type=int, default=2,
                        help="Connections the backfill's SQL evaluator runs on (default 2, as lifecycle_backfill).")
    args = parser.parse_args()

    peaks = {}
    for size in args.sizes:
        url = common.prepare_store(SCRIPT, args, size)
        runs, floors, exact_floors, naives = [], [], [], []
        # Naive first (it empties the lifecycle tables), then the backfill, then the floor
        # writing as many rows as that backfill did: each repeat leaves the store backfilled
        # (bench/sweep.py and bench/events.py then need not backfill it again).
        for repeat in range(args.repeats):
            common.log(f"{size:,}: repeat {repeat + 1}/{args.repeats}")
            naives.append(common.run_child(SCRIPT, url, "naive", args.now, str(args.seed + repeat),
                                           str(args.naive_sample)))
            common.log(f"  naive {naives[-1]['seconds']:.1f}s for {naives[-1]['customers']:,}")
            runs.append(common.run_child(SCRIPT, url, "backfill", args.now, str(args.connections)))
            common.log(f"  backfill ({runs[-1]['path']}) {runs[-1]['seconds']:.1f}s, "
                       f"peak {runs[-1]['child_maxrss_mb']:.0f} MB")
            floors.append(common.run_child(SCRIPT, url, "floor", args.now, str(runs[-1]["profiles"]),
                                           str(runs[-1]["transitions"]), str(runs[-1]["tier_rows"]),
                                           str(runs[-1]["digest_rows"]), str(runs[-1]["metadata_rows"])))
            common.log(f"  floor {floors[-1]['seconds']:.1f}s")
            exact_floors.append(common.run_child(SCRIPT, url, "floor", args.now, str(runs[-1]["profiles"]),
                                                 "0", "0", "0", "0", "backfill"))
            common.log(f"  floor of the backfill's own rows {exact_floors[-1]['seconds']:.1f}s")
            if runs[-1]["profiles"] != size:
                common.log(f"  note: {runs[-1]['profiles']:,} profiles written, the floor wrote {size:,} rows")
        backfill_s = common.median([r["seconds"] for r in runs])
        floor_s = common.median([f["seconds"] for f in floors])
        customers = runs[0]["customers"]
        per_customer_us = backfill_s / customers * 1e6
        naive_us = common.median([n["seconds"] / n["customers"] for n in naives]) * 1e6
        peak = max(r["child_maxrss_mb"] for r in runs)
        peaks[size] = peak
        common.emit(figure="backfill_seconds", customers=size, repeats=args.repeats, median=round(backfill_s, 3),
                    runs=[round(r["seconds"], 3) for r in runs], per_customer_us=round(per_customer_us, 1),
                    profiles=runs[0]["profiles"], transitions=runs[0]["transitions"],
                    tier_rows=runs[0]["tier_rows"], digest_rows=runs[0]["digest_rows"],
                    metadata_rows=runs[0]["metadata_rows"],
                    conflicts=runs[0]["conflicts"], path=runs[0]["path"])
        floor_client_s = common.median([f["client_seconds"] for f in floors])
        common.emit(figure="floor_seconds", customers=size, repeats=args.repeats, median=round(floor_s, 3),
                    runs=[round(f["seconds"], 3) for f in floors],
                    aggregate_median=round(common.median([f["aggregate_seconds"] for f in floors]), 3),
                    write_median=round(common.median([f["write_seconds"] for f in floors]), 3),
                    what="aggregate computed by the server + bulk write")
        common.emit(figure="floor_with_fetch_seconds", customers=size, repeats=args.repeats,
                    median=round(floor_client_s, 3), runs=[round(f["client_seconds"], 3) for f in floors],
                    aggregate_fetch_median=round(common.median([f["aggregate_fetch_seconds"] for f in floors]), 3),
                    what="aggregate fetched into the client + bulk write")
        exact_floor_s = common.median([f["seconds"] for f in exact_floors])
        common.emit(figure="floor_exact_rows_seconds", customers=size, repeats=args.repeats,
                    median=round(exact_floor_s, 3), runs=[round(f["seconds"], 3) for f in exact_floors],
                    write_median=round(common.median([f["write_seconds"] for f in exact_floors]), 3),
                    what="aggregate computed by the server + bulk write of the very rows the backfill wrote")
        ratio = backfill_s / floor_s
        common.emit(figure="backfill_vs_floor", customers=size, ratio=round(ratio, 2), target="<= 2.5",
                    holds=ratio <= 2.5)
        common.emit(figure="backfill_vs_floor_exact_rows", customers=size, ratio=round(backfill_s / exact_floor_s, 2),
                    target="<= 2.5 (the floor writing the backfill's own rows)", holds=backfill_s / exact_floor_s <= 2.5)
        common.emit(figure="backfill_vs_floor_with_fetch", customers=size, ratio=round(backfill_s / floor_client_s, 2),
                    target="<= 2.5 (the lenient reading of the floor)", holds=backfill_s / floor_client_s <= 2.5)
        common.emit(figure="naive_per_customer_us", customers=size, sample=naives[0]["customers"],
                    repeats=args.repeats, median=round(naive_us, 1),
                    extrapolated_seconds=round(naive_us * customers / 1e6, 1))
        speedup = naive_us / per_customer_us
        common.emit(figure="backfill_speedup_vs_naive", customers=size, ratio=round(speedup, 1), target=">= 30",
                    holds=speedup >= 30)
        common.emit(figure="backfill_peak_rss_mb", customers=size, repeats=args.repeats, max=round(peak, 1),
                    runs=[round(r["child_maxrss_mb"], 1) for r in runs], measured="ru_maxrss of the backfill child")
    if 100_000 in peaks and 1_000_000 in peaks:
        ratio = peaks[1_000_000] / peaks[100_000]
        common.emit(figure="backfill_peak_rss_1m_vs_100k", ratio=round(ratio, 3), peak_1m_mb=round(peaks[1_000_000], 1),
                    target="<= 1.25 and <= 400 MB", holds=ratio <= 1.25 and peaks[1_000_000] <= 400)


if __name__ == "__main__":
    if not common.child_main({"backfill": child_backfill, "floor": child_floor, "naive": child_naive}):
        main()
