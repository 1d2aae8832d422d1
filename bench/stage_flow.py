"""Stage flow (`lifecycleStageFlow`) over a whole sandbox store.

    .venv/bin/python bench/stage_flow.py --seed 1 --sizes 100000

For each store size (generated from the seed and backfilled as of the store's `now` if it
is not already, in a child of its own; neither is timed), a fresh child times, with
`--repeat` runs each (the first is the cold one), `engine.stage_flow.stage_flow`:

- the year up to the store's `now` by week (53 points) and by day (366 points);
- three years by month (37 points);
- the year by week for one channel (which reads the store's orders to find each
  customer's first channel).

Target (issue #15): at most 1 s warm, 3 s cold at 1,000,000 customers.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as common  # noqa: E402

SCRIPT = "stage_flow.py"


def child_backfill(now: str) -> None:
    common.answer(backfilled=common.ensure_backfilled(now))


def child_flow(now: str, repeat: str) -> None:
    from django.db import connection

    from lifecycle_plugin.engine.kpi_orders import Scope
    from lifecycle_plugin.engine.stage_flow import Interval, stage_flow

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
    timings, _ = common.time_queries(queries, int(repeat))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_customerprofile")
        profiles = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_stagetransition")
        moves = cursor.fetchone()[0]
    common.answer(profiles=profiles, moves=moves, timings=timings)


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

if __name__ == "__main__":
    if not common.child_main({"backfill": child_backfill, "flow": child_flow}):
        main()
