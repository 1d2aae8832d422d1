"""What-if in SQL: the whole store decided twice inside PostgreSQL (`sql_ladder`, decisions
only, no history), once under the thresholds in force and once under the candidate ones,
and the two joined into counts: per stage and tier before and after, and the moves."""

from __future__ import annotations

from collections import Counter

from django.db import connection, transaction

from .sql_ladder import compile_ladder
from .sql_ladder_run import create_tables


def decide_twice(host, in_force, candidate, now) -> Counter:
    """(stage in force, tier in force, candidate stage, candidate tier) → customers."""
    sources = host.ladder_sources()
    params = dict(sources.params)
    compiled = {name: compile_ladder(config, now, customers_sql=sources.customers_sql,
                                     orders_sql=sources.orders_sql, history=False)
                for name, config in (("in_force", in_force), ("candidate", candidate))}
    with transaction.atomic(), connection.cursor() as cursor:
        try:
            cursor.execute("DROP TABLE IF EXISTS lc_what_if_before")
            create_tables(cursor, compiled["in_force"], params)
            cursor.execute("CREATE TEMP TABLE lc_what_if_before AS SELECT customer, stage, tier FROM lc_ladder_decisions")
            cursor.execute(compiled["in_force"].drop)
            create_tables(cursor, compiled["candidate"], params)
            cursor.execute("""SELECT b.stage, b.tier, a.stage, a.tier, count(*)
                              FROM lc_what_if_before b JOIN lc_ladder_decisions a USING (customer)
                              GROUP BY 1, 2, 3, 4""")
            rows = cursor.fetchall()
        finally:
            cursor.execute(compiled["candidate"].drop + ", lc_what_if_before")
    return Counter({tuple(row[:4]): row[4] for row in rows})
