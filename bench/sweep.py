"""Sweep benchmark: nothing due at a million profiles; 10,000 due among 100,000 and 1,000,000.

    .venv/bin/python bench/sweep.py --seed 1

For each store size (generated from the seed and backfilled as of the store's
`now` if it is not already; the backfill is not timed here), in a fresh child:

- idle: the clock at `now`, right after the backfill, so no profile is due
  (`next_check_at` is always after the decision time); `engine.sweep()` timed
  `--idle-repeats` times.
- due: the clock moved to the `next_check_at` of the 10,000th profile in check
  order, so exactly the first 10,000 are due; `engine.sweep()` advances them
  (facts, replayed moves, transitions, tier changes, projection, hooks), inside a
  transaction that is rolled back after the timing so that every repeat sees the
  same 10,000 due profiles. Ledger entries the hooks queue would run after commit
  (a Celery task in Saleor), so they are not part of this figure.

The ratio compares the median due sweep at the largest size with the one at the
smallest.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as common  # noqa: E402

SCRIPT = "sweep.py"


def child_sweep(now: str, due: str, idle_repeats: str, due_repeats: str) -> None:
    from django.db import connection, transaction

    backfilled = common.ensure_backfilled(now)
    moment = common.parse_now(now)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_customerprofile")
        profiles = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_customerprofile WHERE next_check_at <= %s", [moment])
        due_now = cursor.fetchone()[0]
        cursor.execute("SELECT next_check_at FROM lifecycle_plugin_customerprofile WHERE next_check_at IS NOT NULL "
                       "ORDER BY next_check_at OFFSET %s LIMIT 1", [int(due) - 1])
        due_at = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_customerprofile WHERE next_check_at <= %s", [due_at])
        due_count = cursor.fetchone()[0]

    idle_engine = common.make_engine(moment)
    idle_engine.sweep()  # warm the connection and the plan cache
    idle = []
    for _ in range(int(idle_repeats)):
        started = time.perf_counter()
        report = idle_engine.sweep()
        idle.append(time.perf_counter() - started)
        assert report.profiles == 0, report

    due_engine = common.make_engine(due_at)
    runs, swept = [], []
    for _ in range(int(due_repeats)):
        with transaction.atomic():
            started = time.perf_counter()
            report = due_engine.sweep()
            runs.append(time.perf_counter() - started)
            swept.append(report.profiles)
            transaction.set_rollback(True)
    common.answer(profiles=profiles, due_at_now=due_now, idle_seconds=idle, due_count=due_count,
                  due_at=due_at.isoformat(), due_seconds=runs, swept=swept, backfilled_here=backfilled)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--idle-repeats", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5, help="Repeats of the due sweep (default 5).")
    args = parser.parse_args()

    due_medians = {}
    for size in args.sizes:
        url = common.prepare_store(SCRIPT, args, size)
        common.log(f"{size:,}: sweeps (backfills first if needed)")
        result = common.run_child(SCRIPT, url, "sweep", args.now, str(args.due), str(args.idle_repeats),
                                  str(args.repeats))
        idle_ms = common.median(result["idle_seconds"]) * 1000
        due_s = common.median(result["due_seconds"])
        due_medians[size] = due_s
        common.emit(figure="sweep_nothing_due_ms", customers=size, profiles=result["profiles"],
                    repeats=len(result["idle_seconds"]), median=round(idle_ms, 3),
                    max=round(max(result["idle_seconds"]) * 1000, 3), target="< 50 ms", holds=idle_ms < 50)
        common.emit(figure="sweep_due_seconds", customers=size, profiles=result["profiles"],
                    due=result["due_count"], swept=result["swept"][0], repeats=len(result["due_seconds"]),
                    median=round(due_s, 3), runs=[round(s, 3) for s in result["due_seconds"]],
                    per_profile_us=round(due_s / max(result["swept"][0], 1) * 1e6, 1))
    if len(due_medians) >= 2:
        small, large = min(due_medians), max(due_medians)
        ratio = due_medians[large] / due_medians[small]
        common.emit(figure="sweep_due_scaling", due=args.due, small=small, large=large, ratio=round(ratio, 3),
                    target="<= 1.5", holds=ratio <= 1.5)


if __name__ == "__main__":
    if not common.child_main({"sweep": child_sweep}):
        main()
