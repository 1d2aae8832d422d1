"""Where a backfill's time goes on the Python path (the SQL path, which `backfill` takes
when it can, is bench/backfill_statements.py's): each phase timed on its own.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lc_bench_1000000 \\
        .venv/bin/python bench/backfill_phases.py --chunks 50

Runs on the store the database already holds (generate it with bench/backfill.py
first), empties the lifecycle tables, then backfills the first `--chunks` chunks
(all with 0) with the reads in turn (no read-ahead thread, so every phase is on
one thread and the phases add up) and prints one JSON line: seconds per phase and
microseconds per customer. A diagnostic, not a figure: the read-ahead backfill of
bench/backfill.py overlaps the reads with the rest.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as common  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=50, help="Chunks of 2,000 customers (0: all).")
    parser.add_argument("--now", default=common.DEFAULT_NOW)
    args = parser.parse_args()
    common.setup_django()

    from lifecycle_plugin.engine import backfill as backfill_module

    common.empty_lifecycle_tables()
    engine = common.make_engine(common.parse_now(args.now))
    host = engine.host
    spent: dict[str, float] = defaultdict(float)

    def timed(name, function):
        return common.timed(spent, name, function)

    listing = host.customer_chunks

    def chunks(*a, **k):
        source = listing(*a, **k)
        if args.chunks:
            source = itertools.islice(source, args.chunks)
        while True:
            started = time.perf_counter()
            chunk = next(source, None)
            spent["list customers (customer_chunks)"] += time.perf_counter() - started
            if chunk is None:
                return
            yield chunk

    host.customer_chunks = chunks
    backfill_module._existing_profiles = timed("existing profiles", backfill_module._existing_profiles)
    engine.read_facts = timed("read facts (3 queries + OrderFact objects)", engine.read_facts)
    engine.decide = timed("decide (rules)", engine.decide)
    backfill_module.insert_profiles = timed("write profiles + transitions + tier changes", backfill_module.insert_profiles)
    backfill_module.update_profiles = timed("update profiles (none on an empty table)", backfill_module.update_profiles)
    host.write_projection = timed("write metadata projection", host.write_projection)
    started = time.perf_counter()
    report = backfill_module.backfill(engine, read_ahead=False, evaluator="python")
    total = time.perf_counter() - started
    spent["build rows and projections (Python)"] = total - sum(spent.values())
    common.emit(figure="backfill_phases", customers=report.customers, seconds=round(total, 3),
                per_customer_us={name: round(seconds / report.customers * 1e6, 1) for name, seconds in spent.items()},
                phase_seconds={name: round(seconds, 3) for name, seconds in spent.items()})


if __name__ == "__main__":
    main()
