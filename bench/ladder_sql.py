"""The SQL ladder evaluator over a whole store, against its floor, in one run.

    .venv/bin/python bench/ladder_sql.py --customers 100000
    .venv/bin/python bench/ladder_sql.py --customers 1000000 --database-url postgres://.../lc_ladder_bench

A scratch database (default `postgres://postgres@127.0.0.1:5432/lc_ladder_bench`,
created when missing) gets `--customers` customers and 5 orders per customer on
average, generated with generate_series (deterministic: `setseed`), over three years
before `--now`: 90% placed, the rest in other states, 5% unpaid, 5% partly refunded,
USD/EUR/PLN/GBP. The store is kept between runs and regenerated when its size differs.

Measured (each `--repeat` times, median reported), on one connection:
- evaluator: `engine.sql_ladder` compiled for the default settings, every statement
  (decisions, dated stage and tier moves in temporary tables), phase by phase;
- floor: one aggregate over the orders per customer written to a temporary table
  (as many rows as there are decisions), plus a bulk write of as many rows as the
  evaluator wrote moves (customer, moment, two codes, a jsonb), both INSERT ... SELECT.

Prints one JSON line per measurement; progress goes to stderr. Not a test: nothing
is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lc_ladder_bench"
DEFAULT_NOW = "2026-06-01T00:00:00+00:00"

CUSTOMERS_SQL = "SELECT customer, has_account, open_cart_lines FROM bench_customers"
ORDERS_SQL = "SELECT customer, placed_at, currency, total, refunded, state, paid FROM bench_orders"
#: The same for the evaluator and the floor (the default 4 MB makes every sort spill to disk).
WORK_MEM = "128MB"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def ensure_database(url: str) -> None:
    import psycopg
    from urllib.parse import urlsplit, urlunsplit

    name = urlsplit(url).path.lstrip("/")
    server = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def generate(conn, customers: int, now: datetime) -> None:
    found = conn.execute("SELECT to_regclass('bench_store') IS NOT NULL").fetchone()[0]
    if found and conn.execute("SELECT customers, now FROM bench_store").fetchone() == (customers, now):
        log(f"store of {customers:,} customers kept")
        return
    log(f"generating {customers:,} customers and ~{5 * customers:,} orders")
    conn.execute("DROP TABLE IF EXISTS bench_store, bench_customers, bench_orders")
    conn.execute("SELECT setseed(0.14)")
    conn.execute("""CREATE TABLE bench_customers AS
                    SELECT i AS customer, random() < 0.7 AS has_account,
                           CASE WHEN random() < 0.1 THEN 1 + (random() * 3)::int ELSE 0 END AS open_cart_lines
                    FROM generate_series(1, %s) AS i""", [customers])
    conn.execute("""CREATE TABLE bench_orders AS
                    SELECT 1 + floor(random() * %(n)s)::bigint AS customer,
                           %(now)s::timestamptz - random() * interval '1095 days' AS placed_at,
                           (ARRAY['USD','USD','USD','USD','USD','USD','EUR','EUR','PLN','GBP'])
                               [1 + floor(random() * 10)::int] AS currency,
                           round((5 + random() * 400)::numeric, 2) AS total,
                           CASE WHEN random() < 0.05 THEN round((random() * 50)::numeric, 2) ELSE 0 END AS refunded,
                           CASE WHEN random() < 0.9 THEN 'placed'
                                ELSE (ARRAY['draft','unconfirmed','cancelled','expired'])[1 + floor(random() * 4)::int]
                           END AS state,
                           random() < 0.95 AS paid
                    FROM generate_series(1, %(orders)s)""", {"n": customers, "now": now, "orders": 5 * customers})
    conn.execute("CREATE TABLE bench_store AS SELECT %s::integer AS customers, %s::timestamptz AS now",
                 [customers, now])
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE bench_customers")
    conn.execute("VACUUM ANALYZE bench_orders")
    conn.autocommit = False


def run_evaluator(conn, now: datetime) -> tuple[float, dict[str, float], dict[str, int]]:
    from lifecycle_plugin.engine.sql_ladder import compile_ladder
    from lifecycle_plugin.rules import LifecycleConfig

    compiled = compile_ladder(LifecycleConfig(), now, customers_sql=CUSTOMERS_SQL, orders_sql=ORDERS_SQL)
    phases: dict[str, float] = {}
    with conn.cursor() as cursor:
        cursor.execute(compiled.drop)
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        started = time.perf_counter()
        for statement in compiled.statements:
            begun = time.perf_counter()
            cursor.execute(statement, compiled.params)
            table = statement.split("lc_ladder_", 1)[1].split()[0].split("(")[0]
            name = f"analyze {table}" if statement.startswith("ANALYZE") else table
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - begun
        total = time.perf_counter() - started
        rows = {name: cursor.execute(f"SELECT count(*) FROM lc_ladder_{name}").fetchone()[0]
                for name in ("decisions", "stage_moves", "tier_moves")}
        cursor.execute(compiled.drop)
    conn.rollback()
    return total, phases, rows


def run_floor(conn, moves: int) -> float:
    with conn.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        started = time.perf_counter()
        cursor.execute("""CREATE TEMP TABLE floor_decisions AS
                          SELECT c.customer, o.orders, o.first_at, o.last_at, o.spend
                          FROM bench_customers c LEFT JOIN (
                              SELECT customer, count(*) AS orders, min(placed_at) AS first_at,
                                     max(placed_at) AS last_at, sum(total - refunded) AS spend
                              FROM bench_orders GROUP BY customer) AS o USING (customer)""")
        cursor.execute("""CREATE TEMP TABLE floor_moves AS
                          SELECT customer, placed_at AS at, 'repeat'::text AS from_stage, 'loyal'::text AS to_stage,
                                 '{"orders": 4}'::jsonb AS facts
                          FROM bench_orders LIMIT %s""", [moves])
        total = time.perf_counter() - started
    conn.rollback()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--now", default=DEFAULT_NOW)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    import psycopg

    now = datetime.fromisoformat(args.now)
    ensure_database(args.database_url)
    # The engine package loads Django models on import; no migration is needed here.
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "lifecycle_plugin.sandbox.settings"
    import django

    django.setup()
    with psycopg.connect(args.database_url) as conn:
        generate(conn, args.customers, now)
        orders = conn.execute("SELECT count(*) FROM bench_orders").fetchone()[0]
        conn.rollback()
        evaluator, floor = [], []
        for attempt in range(args.repeat):
            total, phases, rows = run_evaluator(conn, now)
            log(f"evaluator {total:.2f} s  " + ", ".join(f"{k} {v:.2f}" for k, v in phases.items() if v > 0.05))
            evaluator.append(total)
            floor.append(run_floor(conn, rows["stage_moves"] + rows["tier_moves"]))
            log(f"floor {floor[-1]:.2f} s")
        figure = {
            "benchmark": "ladder_sql", "customers": args.customers, "orders": orders, "rows": rows,
            "evaluator_s": round(statistics.median(evaluator), 2), "floor_s": round(statistics.median(floor), 2),
            "ratio": round(statistics.median(evaluator) / statistics.median(floor), 2),
            "phases_s": {k: round(v, 2) for k, v in phases.items()},
        }
        print(json.dumps(figure), flush=True)


if __name__ == "__main__":
    main()
