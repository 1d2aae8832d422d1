"""The owner's KPIs and cohort retention over a whole sandbox store.

    .venv/bin/python bench/kpis.py --seed 1 --sizes 100000

For each store size (generated from the seed and backfilled as of the store's `now` if it
is not already, in a child of its own; neither is timed), a fresh child times, with
`--repeat` runs each (the first is the cold one: a fresh process, and the store's pages
as the previous step left them), over the year up to the store's `now`:

- `lifecycleKpis` grouped by stage, by tier and by cohort (every channel and currency),
  and by stage for one channel;
- `lifecycleRetention` over three years of cohorts, 12 months each;
- as the reference, once each, the KPIs by stage and the retention read from the host's
  orders (as every such query did before the ladder digests were read:
  `from_digests=False`); their figures must equal the digests' or the run fails;

each as the engine computes it (`engine.kpis.kpis`, `engine.retention.retention`), the
GraphQL layer's conversion left out (it is per row, not per order).

Target (issue #15): at most 1 s warm, 3 s cold at 1,000,000 customers and 5,000,000 orders.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as common  # noqa: E402

SCRIPT = "kpis.py"


def child_backfill(now: str) -> None:
    common.answer(backfilled=common.ensure_backfilled(now))


def child_kpis(now: str, repeat: str) -> None:
    from django.db import connection

    from lifecycle_plugin.engine.kpi_orders import Scope
    from lifecycle_plugin.engine.kpis import kpis
    from lifecycle_plugin.engine.retention import retention

    moment = common.parse_now(now)
    engine = common.make_engine(moment)
    year = Scope.checked(moment - timedelta(days=365), moment)
    pln = Scope.checked(moment - timedelta(days=365), moment, channel="channel-pln")
    three_years = Scope.checked(moment - timedelta(days=3 * 365), moment)
    queries = {
        "kpis_by_stage": lambda: kpis(engine.host, engine.config, year, "stage"),
        "kpis_by_tier": lambda: kpis(engine.host, engine.config, year, "tier"),
        "kpis_by_cohort": lambda: kpis(engine.host, engine.config, year, "cohort"),
        "kpis_by_stage_one_channel": lambda: kpis(engine.host, engine.config, pln, "stage"),
        "retention_3_years": lambda: retention(engine.host, engine.config, three_years, 12),
    }
    timings, results = common.time_queries(queries, int(repeat))
    # The reference: the same figures read from the host's orders, as every query did
    # before the digests were read (one run: it is the slow one). The figures must agree.
    reference, from_orders = common.time_queries({
        "reference_kpis_by_stage_from_orders": lambda: kpis(engine.host, engine.config, year, "stage",
                                                            from_digests=False),
        "reference_retention_3_years_from_orders": lambda: retention(engine.host, engine.config, three_years, 12,
                                                                     from_digests=False),
    }, 1)
    timings.update(reference)
    same_figures(results["kpis_by_stage"], from_orders["reference_kpis_by_stage_from_orders"])
    mine, theirs = results["retention_3_years"], from_orders["reference_retention_3_years_from_orders"]
    assert (mine.reads, theirs.reads) == ("digests", "orders") and mine.cohorts == theirs.cohorts, "retention differs"
    orders = results["kpis_by_stage"].total.orders
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_customerprofile")
        profiles = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM lifecycle_sandbox_order")
        store_orders = cursor.fetchone()[0]
    common.answer(profiles=profiles, store_orders=store_orders, orders_in_year=orders, timings=timings)


def same_figures(from_digests, from_orders) -> None:
    """Equal reports, the mean lifespans up to float rounding; else the run fails."""
    import dataclasses
    import math

    assert from_digests.reads == "digests" and from_orders.reads == "orders", (from_digests.reads, from_orders.reads)
    for mine, theirs in zip((from_digests.total, *from_digests.rows), (from_orders.total, *from_orders.rows),
                            strict=True):
        assert dataclasses.replace(mine, lifespan_days=None) == dataclasses.replace(theirs, lifespan_days=None), mine
        assert (mine.lifespan_days is None) == (theirs.lifespan_days is None)
        assert mine.lifespan_days is None or math.isclose(mine.lifespan_days, theirs.lifespan_days, rel_tol=1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each query (the first is cold).")
    args = parser.parse_args()

    for size in args.sizes:
        url = common.prepare_store(SCRIPT, args, size)
        common.log(f"{size:,}: backfill if needed, then the KPI queries in a fresh child")
        common.run_child(SCRIPT, url, "backfill", args.now)
        result = common.run_child(SCRIPT, url, "kpis", args.now, str(args.repeat))
        common.emit_timings(result, size, profiles=result["profiles"], store_orders=result["store_orders"])

if __name__ == "__main__":
    if not common.child_main({"backfill": child_backfill, "kpis": child_kpis}):
        main()
