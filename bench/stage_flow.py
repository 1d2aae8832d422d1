"""Stage flow (`lifecycleStageFlow`) over a whole sandbox store.

    .venv/bin/python bench/stage_flow.py --seed 1 --sizes 100000

For each store size (generated from the seed and backfilled as of the store's `now` if it
is not already, in a child of its own; neither is timed), a fresh child times, with
`--repeat` runs each (the first is the cold one), `engine.stage_flow.stage_flow`:

- the year up to the store's `now` by week (53 points) and by day (366 points);
- three years by month (37 points);
- the year by week for one channel (which reads the store's orders to find each
  customer's first channel).

The reference, measured in the same child once the queries are timed: the year by week
read straight from the history (one window pass over every move for the counts, and per
path the period's entries with each one's next move), as the engine computed it before the
rollups. Its figures must equal the engine's, or the run fails.

Target (issue #15): at most 1 s warm, 3 s cold at 1,000,000 customers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as common  # noqa: E402

SCRIPT = "stage_flow.py"


def child_backfill(now: str) -> None:
    common.answer(backfilled=common.ensure_backfilled(now))


# Customers per stage at each point from one pass over the history, and per path the
# entries in the period with each one's first later move into the to-stages.
REFERENCE_COUNTS_SQL = """
    WITH moves AS (
        SELECT t.to_stage, t.occurred_at,
               lead(t.occurred_at) OVER (PARTITION BY t.profile_id ORDER BY t.occurred_at, t.id) AS left_at
        FROM lifecycle_plugin_stagetransition t WHERE t.occurred_at <= %(last)s)
    SELECT d.idx, m.to_stage, sum(d.delta)
    FROM moves m
    CROSS JOIN LATERAL (VALUES (m.occurred_at, 1), (m.left_at, -1)) AS d0(at, delta)
    CROSS JOIN LATERAL (SELECT width_bucket(d0.at - interval '1 microsecond', %(points)s::timestamptz[]) AS idx,
                               d0.delta) AS d
    WHERE d0.at IS NOT NULL
    GROUP BY d.idx, m.to_stage"""
REFERENCE_CONVERSION_SQL = """
    WITH entries AS (
        SELECT DISTINCT ON (t.profile_id) t.profile_id, t.occurred_at, t.id
        FROM lifecycle_plugin_stagetransition t
        WHERE t.to_stage = ANY(%(from)s) AND (t.from_stage IS NULL OR t.from_stage <> ALL(%(from)s))
          AND t.occurred_at >= %(since)s AND t.occurred_at < %(until)s AND t.reason <> 'settings_change'
        ORDER BY t.profile_id, t.occurred_at, t.id)
    SELECT count(*), count(c.at),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.at - e.occurred_at) / 86400)
    FROM entries e
    LEFT JOIN LATERAL (
        SELECT t.occurred_at AS at FROM lifecycle_plugin_stagetransition t
        WHERE t.profile_id = e.profile_id AND t.to_stage = ANY(%(to)s) AND t.reason <> 'settings_change'
          AND (t.occurred_at, t.id) > (e.occurred_at, e.id) AND t.occurred_at < %(until)s
        ORDER BY t.occurred_at, t.id LIMIT 1) c ON true"""


def reference_flow(scope, points, paths) -> tuple[list[dict], dict]:
    """The counts at `points` and each path's (entered, converted, median days), from the history."""
    from collections import defaultdict

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(REFERENCE_COUNTS_SQL, {"last": points[-1], "points": points})
        deltas = defaultdict(dict)
        for index, stage, delta in cursor.fetchall():
            deltas[index][stage] = int(delta)
        held, counts = defaultdict(int), []
        for index in range(len(points)):
            for stage, delta in deltas.get(index, {}).items():
                held[stage] += delta
            counts.append({stage: count for stage, count in held.items() if count})
        conversions = {}
        for path in paths:
            cursor.execute(REFERENCE_CONVERSION_SQL, {"from": list(path.from_stages), "to": list(path.to_stages),
                                                      "since": scope.since, "until": scope.until})
            entered, converted, median = cursor.fetchone()
            conversions[path.name] = (entered, converted, None if median is None else round(float(median), 9))
    return counts, conversions


def child_flow(now: str, repeat: str) -> None:
    from django.db import connection

    from lifecycle_plugin.engine.kpi_orders import Scope
    from lifecycle_plugin.engine.stage_flow import PATHS, Interval, stage_flow

    moment = common.parse_now(now)
    engine = common.make_engine(moment)
    year = Scope.checked(moment - timedelta(days=365), moment)
    three_years = Scope.checked(moment - timedelta(days=3 * 365), moment)
    pln = Scope.checked(moment - timedelta(days=365), moment, channel="channel-pln")
    queries = {
        "flow_year_by_week": lambda: stage_flow(engine.host, engine.config, year, Interval.WEEK),
        "flow_year_by_day": lambda: stage_flow(engine.host, engine.config, year, Interval.DAY),
        "flow_3_years_by_month": lambda: stage_flow(engine.host, engine.config, three_years, Interval.MONTH),
        "flow_year_by_week_one_channel": lambda: stage_flow(engine.host, engine.config, pln, Interval.WEEK),
    }
    timings, results = common.time_queries(queries, int(repeat))
    engine_flow = results["flow_year_by_week"]
    started = time.perf_counter()
    counts, conversions = reference_flow(year, [point.at for point in engine_flow.points], PATHS)
    reference_seconds = time.perf_counter() - started
    assert counts == [point.stages for point in engine_flow.points], "the engine's counts differ from the history's"
    assert conversions == {c.path.name: (c.entered, c.converted, None if c.median_days is None else
                                         round(c.median_days, 9)) for c in engine_flow.conversions}, conversions
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_customerprofile")
        profiles = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_stagetransition")
        moves = cursor.fetchone()[0]
    common.answer(profiles=profiles, moves=moves, timings=timings, reference_seconds=reference_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each query (the first is cold).")
    args = parser.parse_args()

    for size in args.sizes:
        url = common.prepare_store(SCRIPT, args, size)
        common.log(f"{size:,}: backfill if needed, then the flow queries in a fresh child")
        common.run_child(SCRIPT, url, "backfill", args.now)
        result = common.run_child(SCRIPT, url, "flow", args.now, str(args.repeat))
        common.emit_timings(result, size, profiles=result["profiles"], moves=result["moves"])
        common.emit(figure="reference_year_by_week_from_the_history", customers=size,
                    seconds=round(result["reference_seconds"], 2))

if __name__ == "__main__":
    if not common.child_main({"backfill": child_backfill, "flow": child_flow}):
        main()
