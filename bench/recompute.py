"""Recompute after one threshold change, next to the backfill measured in the same run.

    .venv/bin/python bench/recompute.py --seed 1 --sizes 100000

For each store size (generated from the seed if needed), in a fresh child:

- reference: the lifecycle tables emptied, then `lifecycle_backfill`'s backfill as of the
  store's `now`, timed (the issue's target: the recompute takes no longer than this);
- recompute: `at_risk_days` 90 -> 60 saved as a Dashboard save does (`request_recompute`),
  then `run_recompute` as the Celery task runs it (its default chunks: 4,000 profiles
  sorted in SQL, 500 on the event path), timed; the longest gap between two progress
  commits is reported (target: at most 5 s);
- then the way back, 60 -> 90, timed the same way (a higher threshold moves every active
  buyer's next check later, the other direction of the sort).

`--evaluator python` runs both recomputes on the event path alone (the reference for what
the SQL sort saves). The recomputes run on the backfilled profiles; the figures include
every profile in scope (customers with counted orders), the moves made and the evaluator.
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


def child_recompute(now: str, chunk_size: str, evaluator: str) -> None:
    from django.db import connection

    from lifecycle_plugin.engine.backfill import backfill

    moment = common.parse_now(now)
    common.empty_lifecycle_tables()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE lifecycle_plugin_recomputerun")
    engine = common.make_engine(moment)
    started = time.perf_counter()
    report = backfill(engine)
    backfill_seconds = time.perf_counter() - started

    figures = {}
    for label, days in (("down", 60), ("up", 90)):
        figures[label] = _recompute(engine, days, int(chunk_size) or None, evaluator)
    common.answer(backfilled=report.customers, backfill_path=report.path, backfill_seconds=backfill_seconds,
                  recompute_seconds=figures["down"]["seconds"], **figures)


def _recompute(engine, days: int, chunk_size: int | None, evaluator: str) -> dict:
    from django.db import connection

    from lifecycle_plugin.engine.recompute import request_recompute, run_recompute
    from lifecycle_plugin.models import RecomputeRun

    new = dataclasses.replace(engine.config, at_risk_days=days)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_stagetransition WHERE reason = 'settings_change'")
        moves_before = cursor.fetchone()[0]
    request_recompute(engine.config, new, now=engine.clock())
    engine.config = new
    commits = []
    started = time.perf_counter()
    state = run_recompute(engine, chunk_size=chunk_size, evaluator=evaluator,
                          progress=lambda s: commits.append(time.perf_counter()))
    seconds = time.perf_counter() - started
    gaps = [b - a for a, b in zip([started, *commits], commits)]
    run = RecomputeRun.objects.order_by("-id").first()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_stagetransition WHERE reason = 'settings_change'")
        moves = cursor.fetchone()[0] - moves_before
    return {"change": f"at_risk_days -> {days}", "seconds": seconds, "done": state.done, "total": state.total,
            "moved": state.moved, "settings_change_moves": moves, "evaluator": state.evaluator,
            "longest_progress_gap": max(gaps) if gaps else None,
            # (which report ended each of the three longest gaps: 0 is the first, after the scope's count)
            "longest_gaps": sorted(((round(g, 2), i) for i, g in enumerate(gaps)), reverse=True)[:3],
            "chunks": len(commits), "run_seconds": run.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--chunk-size", type=int, default=0, help="Profiles per chunk (default: the run's own).")
    parser.add_argument("--evaluator", choices=("auto", "python"), default="auto")
    args = parser.parse_args()
    for size in args.sizes:
        url = common.prepare_store(SCRIPT, args, size)
        common.log(f"{size:,}: backfill (reference), then the recompute after at_risk_days 90 -> 60 and back")
        result = common.run_child(SCRIPT, url, "recompute", args.now, str(args.chunk_size), args.evaluator)
        for label in ("down", "up"):
            ratio = result[label]["seconds"] / result["backfill_seconds"]
            result[label]["ratio_to_backfill"] = round(ratio, 3)
            result[label]["holds"] = ratio <= 1 and (result[label]["longest_progress_gap"] or 0) <= 5
        common.emit(figure="recompute_after_threshold_change", customers=size, **result,
                    target="<= backfill; progress every <= 5 s")


if __name__ == "__main__":
    if not common.child_main({"recompute": child_recompute}):
        main()
