"""The daily prediction run end to end on the sandbox store: reading, fitting, scoring, writing.

    .venv/bin/python bench/predict_task.py --seed 1 --sizes 100000

For each store size (generated from the seed and backfilled as of the store's `now` if
it is not already, in a child of its own; neither is timed), a fresh child runs `engine.predictions.run_predictions`
as the daily `predict` task does, with the clock at the store's `now`: every profile's
counted orders read from the ladder digests, both models
fitted, every customer scored, the figures written with one UPDATE per chunk, each
account's `lifecycle.profile` projection rewritten, and the fits recorded. Timed in the
child; the reading (`engine.predictions.read_counted_orders`) is also timed on its own
first, and, as references, each in a child of its own, the reading through `Host.read_facts`
(up to `--facts-reference` customers) and in SQL over the host's orders SELECT (up to
`--host-sql-reference`); peak memory is the child's
`ru_maxrss` (Django, psycopg, numpy and scipy included).

Targets (issue #15, for the fit and scoring): at most 120 s and 400 MB at 1,000,000 customers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as common  # noqa: E402

SCRIPT = "predict_task.py"


def child_backfill(now: str) -> None:
    common.answer(backfilled=common.ensure_backfilled(now))


def child_read_through_facts(now: str) -> None:
    from lifecycle_plugin.engine.prediction_orders import read_counted_orders_through_facts

    engine = common.make_engine(common.parse_now(now))
    started = time.perf_counter()
    orders = read_counted_orders_through_facts(engine)
    common.answer(seconds=time.perf_counter() - started, orders=len(orders.profile))


def child_read_host_sql(now: str) -> None:
    from lifecycle_plugin.engine.prediction_orders_sql import read_counted_orders_in_sql

    engine = common.make_engine(common.parse_now(now))
    started = time.perf_counter()
    orders = read_counted_orders_in_sql(engine.host.ladder_sources(), engine.config, engine.clock())
    common.answer(seconds=time.perf_counter() - started, orders=len(orders.profile))


def child_predict(now: str, project: str) -> None:
    from django.db import connection

    from lifecycle_plugin.engine.predictions import read_counted_orders, run_predictions

    backfilled = common.ensure_backfilled(now)
    engine = common.make_engine(common.parse_now(now))
    started = time.perf_counter()
    orders = read_counted_orders(engine)
    reading = time.perf_counter() - started
    order_count = len(orders.profile)
    del orders
    started = time.perf_counter()
    report = run_predictions(engine, project=project == "yes")
    total = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_customerprofile")
        profiles = cursor.fetchone()[0]
    common.answer(profiles=profiles, orders=order_count, customers=report.customers,
                  repeat_buyers=report.repeat_buyers, predicted=report.predicted, reason=report.reason,
                  reading_seconds=reading, run_seconds=total, backfilled_here=backfilled,
                  fits=[{"model": fit.model, "currency": fit.currency, "parameters": fit.parameters,
                         "reason": fit.reason} for fit in report.fits])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--no-projection", action="store_true", help="Leave the lifecycle.profile projection alone.")
    parser.add_argument("--facts-reference", type=int, default=200_000, metavar="N",
                        help="Also time the reading through Host.read_facts (the reference) up to N customers.")
    parser.add_argument("--host-sql-reference", type=int, default=200_000, metavar="N",
                        help="Also time the reading in SQL over the host's orders SELECT (the reader before the "
                             "digests) up to N customers.")
    args = parser.parse_args()

    for size in args.sizes:
        url = common.prepare_store(SCRIPT, args, size)
        common.log(f"{size:,}: backfill if needed, then the prediction run in a fresh child")
        common.run_child(SCRIPT, url, "backfill", args.now)
        result = common.run_child(SCRIPT, url, "predict", args.now, "no" if args.no_projection else "yes")
        reference = (common.run_child(SCRIPT, url, "read_through_facts", args.now)
                     if size <= args.facts_reference else None)
        host_sql = (common.run_child(SCRIPT, url, "read_host_sql", args.now)
                    if size <= args.host_sql_reference else None)
        common.emit(figure="predict_task", customers=size, profiles=result["profiles"], orders=result["orders"],
                    with_orders=result["customers"], repeat_buyers=result["repeat_buyers"],
                    predicted=result["predicted"], reason=result["reason"],
                    reading_seconds=round(result["reading_seconds"], 2),
                    reading_through_facts_seconds=round(reference["seconds"], 2) if reference else None,
                    reading_host_sql_seconds=round(host_sql["seconds"], 2) if host_sql else None,
                    run_seconds=round(result["run_seconds"], 2),
                    peak_mb=round(result["child_maxrss_mb"], 1), projection=not args.no_projection,
                    fits=result["fits"])


if __name__ == "__main__":
    if not common.child_main({"backfill": child_backfill, "predict": child_predict,
                                  "read_through_facts": child_read_through_facts,
                                  "read_host_sql": child_read_host_sql}):
        main()
