"""Recompute after one threshold change, next to the backfill measured in the same run.

    .venv/bin/python bench/recompute.py --seed 1 --sizes 100000

For each store size (generated from the seed if needed), in a fresh child:

- reference: the lifecycle tables emptied, then `lifecycle_backfill`'s backfill as of the
  store's `now`, timed (the issue's target: the recompute takes no longer than this);
- recompute: `at_risk_days` 90 -> 60 saved as a Dashboard save does (`request_recompute`),
  then `run_recompute` as the Celery task runs it (chunks of 500), timed; the longest
  gap between two progress commits is reported (target: at most 5 s).

The recompute runs on the backfilled profiles; its figures include every profile in
scope (customers with counted orders), the moves it made and the engine's path.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as common  # noqa: E402

SCRIPT = "recompute.py"


def child_recompute(now: str, chunk_size: str) -> None:
    from django.db import connection

    from lifecycle_plugin.engine.backfill import backfill
    from lifecycle_plugin.engine.recompute import request_recompute, run_recompute
    from lifecycle_plugin.models import RecomputeRun

    moment = common.parse_now(now)
    common.empty_lifecycle_tables()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE lifecycle_plugin_recomputerun")
    engine = common.make_engine(moment)
    started = time.perf_counter()
    report = backfill(engine)
    backfill_seconds = time.perf_counter() - started

    new = dataclasses.replace(engine.config, at_risk_days=60)
    request_recompute(engine.config, new, now=moment)
    engine.config = new
    commits = []
    started = time.perf_counter()
    state = run_recompute(engine, chunk_size=int(chunk_size), progress=lambda s: commits.append(time.perf_counter()))
    recompute_seconds = time.perf_counter() - started
    gaps = [b - a for a, b in zip([started, *commits], commits)]
    run = RecomputeRun.objects.get()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_stagetransition WHERE reason = 'settings_change'")
        moves = cursor.fetchone()[0]
    common.answer(backfilled=report.customers, backfill_path=report.path, backfill_seconds=backfill_seconds,
                  recompute_seconds=recompute_seconds, done=state.done, total=state.total, moved=state.moved,
                  settings_change_moves=moves, longest_progress_gap=max(gaps) if gaps else None,
                  chunks=len(commits), run_seconds=run.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--chunk-size", type=int, default=500)
    args = parser.parse_args()
    for size in args.sizes:
        url = common.prepare_store(SCRIPT, args, size)
        common.log(f"{size:,}: backfill (reference), then the recompute after at_risk_days 90 -> 60")
        result = common.run_child(SCRIPT, url, "recompute", args.now, str(args.chunk_size))
        ratio = result["recompute_seconds"] / result["backfill_seconds"]
        common.emit(figure="recompute_after_threshold_change", customers=size, **result,
                    ratio_to_backfill=round(ratio, 3), target="<= backfill; progress every <= 5 s",
                    holds=ratio <= 1 and (result["longest_progress_gap"] or 0) <= 5)


if __name__ == "__main__":
    if not common.child_main({"recompute": child_recompute}):
        main()
