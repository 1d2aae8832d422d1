"""Diagnostic (no target): what the ladder digest costs the event path, batch by batch.

    .venv/bin/python bench/events_digest.py --seed 1 --pairs 10 --mode new
    .venv/bin/python bench/events_digest.py --seed 1 --mode same --compare-with /tmp/base-checkout

On a copy of the backfilled store of `bench/events.py` (`<base>_<customers>_digest`, made
fresh each run), one process drains batches of 500 `order_created` events as a worker does
(`inbox.drain`). `--mode new` gives each customer a new paid order first (the digest
changes, as in `bench/events.py`); `--mode same` does not (the event changes nothing the
digest holds: a repeated event, a checkout update without new lines).

For each batch: wall time, the worker's CPU time (`time.process_time`, less sensitive to
other load on the machine than wall time), the WAL the batch wrote (`pg_current_wal_lsn`
before and after), and the time in `digest_of` and in the digest upsert.

`--compare-with DIR`: DIR is a checkout of another commit (`git worktree add` or `git
archive`); its `rules/digest.py::digest_of` and `engine/digest_writes.py::write_digests`
are loaded beside this checkout's and the batches alternate between the two (A B, B A,
...), so both see the same machine load. Everything else runs this checkout's code.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as common  # noqa: E402

SCRIPT = "events_digest.py"
BATCH = 500


def _load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def child_run(now: str, seed: str, pairs: str, mode: str, compare_with: str) -> None:
    from django.db import connection

    import events as bench
    from lifecycle_plugin.engine import inbox, plans
    from lifecycle_plugin.host import CustomerRef

    variants = {"this": (plans.digest_of, plans.write_digests)}
    if compare_with:
        other_digest = _load("lifecycle_plugin.rules._other_digest",
                             os.path.join(compare_with, "lifecycle_plugin", "rules", "digest.py"))
        other_writes = _load("lifecycle_plugin.engine._other_digest_writes",
                             os.path.join(compare_with, "lifecycle_plugin", "engine", "digest_writes.py"))
        variants["other"] = (other_digest.digest_of, other_writes.write_digests)
    spent = {"digest_of": 0.0, "write_digests": 0.0}

    def wal() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
            return int(cursor.fetchone()[0])

    moment = common.parse_now(now)
    engine = common.make_engine(moment)
    engine.clock = lambda: moment + timedelta(minutes=2)
    count = int(pairs) * len(variants)
    picked = bench._pick(int(seed), 200 + count * BATCH)
    if mode == "new":
        bench._place_orders([user_id for user_id, _ in picked], moment + timedelta(minutes=1))
    customers = [CustomerRef(email, user_id) for user_id, email in picked]
    bench._queue_each(customers[:200])
    inbox.drain(engine)  # warm-up
    figures = {name: {"wall": [], "cpu": [], "wal": [], "digest_of": [], "write_digests": []} for name in variants}
    names = list(variants)
    start = 200
    for index in range(int(pairs)):
        for name in (names if index % 2 == 0 else names[::-1]):
            bench._queue_each(customers[start:start + BATCH])
            start += BATCH
            digest_of, write_digests = variants[name]
            plans.digest_of, plans.write_digests = (common.timed(spent, "digest_of", digest_of),
                                                        common.timed(spent, "write_digests", write_digests))
            spent.update(digest_of=0.0, write_digests=0.0)
            wal_before, cpu_before, wall_before = wal(), time.process_time(), time.perf_counter()
            report = inbox.drain(engine)
            row = figures[name]
            row["wall"].append(time.perf_counter() - wall_before)
            row["cpu"].append(time.process_time() - cpu_before)
            row["wal"].append(wal() - wal_before)
            row["digest_of"].append(spent["digest_of"])
            row["write_digests"].append(spent["write_digests"])
            if report.events != BATCH or report.failed:
                raise SystemExit(f"the drain took {report.events} of {BATCH} events ({report.failed} failed)")
    common.answer(figures=figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser)
    parser.add_argument("--customers", type=int, default=100_000, help="Store size (default 100,000).")
    parser.add_argument("--pairs", type=int, default=10, help="Batches of 500 per variant (default 10).")
    parser.add_argument("--mode", choices=("new", "same"), default="new",
                        help="new: each event counts a new order; same: the events change nothing the digest holds.")
    parser.add_argument("--compare-with", default="", help="A checkout of another commit to alternate with.")
    args = parser.parse_args()
    if args.compare_with and not os.path.isfile(os.path.join(args.compare_with, "lifecycle_plugin", "rules",
                                                             "digest.py")):
        raise SystemExit(f"--compare-with {args.compare_with}: no lifecycle_plugin/rules/digest.py there")

    url = common.prepare_store("events.py", args, args.customers)
    common.log(f"{args.customers:,}: making sure the store is backfilled")
    common.run_child("events.py", url, "prepare", args.now)
    scratch = f"{url}_digest"
    common.ensure_database(scratch, template=url, fresh=True)
    answer = common.run_child(SCRIPT, scratch, "run", args.now, str(args.seed), str(args.pairs), args.mode,
                              os.path.abspath(args.compare_with) if args.compare_with else "")
    for name, row in answer["figures"].items():
        per_event = {key: round(1000 * statistics.median(values) / BATCH, 3)
                     for key, values in row.items() if key != "wal"}
        common.emit(figure="event_digest_batches", customers=args.customers, mode=args.mode,
                    code=name if name == "this" else args.compare_with, batches=len(row["wall"]),
                    wall_ms_per_event=per_event["wall"], worker_cpu_ms_per_event=per_event["cpu"],
                    digest_of_ms_per_event=per_event["digest_of"],
                    digest_upsert_ms_per_event=per_event["write_digests"],
                    wal_bytes_per_event=round(statistics.median(row["wal"]) / BATCH),
                    wall_runs=[round(1000 * value / BATCH, 3) for value in row["wall"]])


if __name__ == "__main__":
    if not common.child_main({"run": child_run}):
        main()
