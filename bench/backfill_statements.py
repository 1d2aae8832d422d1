"""Where the SQL backfill's time goes: each statement, the commit and the projection timed.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lc_bench_1000000 \\
        .venv/bin/python bench/backfill_statements.py --top 25

Runs on the store the database already holds (generate it with bench/backfill.py
first), empties the lifecycle tables, backfills every customer as `lifecycle_backfill`
does, and prints one JSON line: the total, the seconds of each statement sent through
Django's connection (by its first words, the same statement's runs added up), the commits
(where PostgreSQL checks Django's deferred foreign keys), the host's projection writes,
and the rest (Python, and the projection's fetches through a server-side cursor, which
no wrapper sees). A diagnostic, not a figure: the wrapper costs a little per statement.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as common  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--now", default=common.DEFAULT_NOW)
    parser.add_argument("--top", type=int, default=25, help="How many statements to list (the longest).")
    parser.add_argument("--connections", type=int, default=1,
                        help="Connections the evaluator runs on (default 1: every statement on the one timed "
                             "here; with more, the evaluator's statements run elsewhere and count as the rest).")
    args = parser.parse_args()
    common.setup_django()

    from django.db import connection

    from lifecycle_plugin.engine.backfill import backfill

    common.empty_lifecycle_tables()
    engine = common.make_engine(common.parse_now(args.now))
    statements: dict[str, float] = defaultdict(float)
    spent: dict[str, float] = defaultdict(float)

    def timed_statement(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements[" ".join(str(sql).split())[:90]] += time.perf_counter() - started

    connection.ensure_connection()
    connection._commit = common.timed(spent, "commits (deferred foreign-key checks)", connection._commit)
    engine.host.write_projection = common.timed(spent, "projection writes (host.write_projection)", engine.host.write_projection)
    engine.host.write_projection_sql = common.timed(spent, "projection writes (host.write_projection_sql)",
                                                    engine.host.write_projection_sql)
    started = time.perf_counter()
    with connection.execute_wrapper(timed_statement):
        report = backfill(engine, connections=args.connections)
    total = time.perf_counter() - started
    # The projection's own statements pass the wrapper too: counted once, as the projection's.
    in_statements = sum(statements.values())
    projection_sql = sum(seconds for sql, seconds in statements.items() if "_sandbox_customermetadata" in sql)
    spent["statements (but the projection's)"] = in_statements - projection_sql
    spent["rest (Python, the projection's fetches)"] = total - sum(spent.values())
    longest = sorted(statements.items(), key=lambda item: -item[1])[: args.top]
    common.emit(figure="backfill_statements", customers=report.customers, path=report.path, seconds=round(total, 3),
                parts={name: round(seconds, 2) for name, seconds in spent.items()},
                statements={sql: round(seconds, 2) for sql, seconds in longest})


if __name__ == "__main__":
    main()
