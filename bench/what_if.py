"""The whole-store what-if (`lifecycleWhatIf`) on each evaluator, in one run.

    .venv/bin/python bench/what_if.py --seed 1 --sizes 20000 100000

For each store size (generated from the seed if needed, then backfilled as of the store's
`now`, which writes the profiles and their ladder digests), in a fresh child:

- digest fill: every digest deleted, then written again set-based from the store's orders
  (`engine.digest_writes.fill_missing`, what `lifecycle_digest` does after an upgrade): what
  the digest costs a backfill in SQL, about;
- sql: the what-if over the digests (`evaluator="auto"`, which must choose SQL), candidate
  `at_risk_days` 90 -> 60 and gold raised; the first run (cold) and the median of 5;
- python and sql_ladder, once each, as references: `decide` twice per customer over the
  facts read in chunks, and the full set-based evaluator (`sql_ladder`) twice. Their
  counts must equal the digest path's (checked; the run fails otherwise).

Targets (issue #14): <= 0.3 s at 20,000 customers, <= 3 s at 1,000,000.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as common  # noqa: E402

SCRIPT = "what_if.py"
TARGETS = {20_000: 0.3, 1_000_000: 3.0}
COMPARED = ("customers_evaluated", "stages", "tiers", "current_stages", "current_tiers", "stage_moves", "tier_moves")


def _candidate(config):
    from lifecycle_plugin.rules import Tier

    tiers = tuple(Tier(t.code, {c: a * Decimal(2) for c, a in t.thresholds.items()}) if t.code == "gold" else t
                  for t in config.tiers)
    return dataclasses.replace(config, at_risk_days=60, tiers=tiers).validate()


def child_what_if(now: str, references: str, keep_digests: str = "") -> None:
    from lifecycle_plugin.engine.digest_writes import DIGEST_TABLE, fill_missing, missing_count
    from lifecycle_plugin.engine.what_if import what_if
    from lifecycle_plugin.sandbox.host import SandboxHost
    from django.db import connection

    moment = common.parse_now(now)
    backfilled = common.ensure_backfilled(now)
    host = SandboxHost()
    filled, fill_seconds = 0, None
    if keep_digests != "keep" or missing_count():
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {DIGEST_TABLE}")
        started = time.perf_counter()
        filled = fill_missing(host, moment)
        fill_seconds = round(time.perf_counter() - started, 2)
    assert missing_count() == 0
    with connection.cursor() as cursor:
        # The steady state of a live store (autovacuum has passed): right after a bulk
        # write, the first scans set hint bits and race autovacuum, nearly twice as slow.
        cursor.execute(f"VACUUM (ANALYZE) {DIGEST_TABLE}")
        cursor.execute("VACUUM (ANALYZE) lifecycle_plugin_customerprofile")
        cursor.execute(f"SELECT pg_total_relation_size('{DIGEST_TABLE}')")
        digest_bytes = cursor.fetchone()[0]

    engine = common.make_engine(moment)
    in_force = engine.config
    candidate = _candidate(in_force)
    runs, result = [], None
    for _ in range(6):
        started = time.perf_counter()
        result = what_if(host, in_force, candidate, moment)
        runs.append(time.perf_counter() - started)
    assert result.evaluator == "sql", result.evaluator_reason
    figures = dict(backfilled_now=backfilled, profiles=result.customers_evaluated, digests_filled=filled,
                   digest_fill_seconds=fill_seconds, digest_table_mb=round(digest_bytes / 2**20, 1),
                   sql_cold_seconds=round(runs[0], 3), sql_median_seconds=round(statistics.median(runs[1:]), 3),
                   stage_moves=sum(result.stage_moves.values()), tier_moves=sum(result.tier_moves.values()))
    for evaluator in (references.split(",") if references else ()):
        started = time.perf_counter()
        other = what_if(host, in_force, candidate, moment, evaluator=evaluator)
        figures[f"{evaluator}_seconds"] = round(time.perf_counter() - started, 2)
        for name in COMPARED:
            if getattr(other, name) != getattr(result, name):
                raise SystemExit(f"{evaluator} and the digest path differ on {name}")
    common.answer(**figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--references", default="python,sql_ladder",
                        help="Reference evaluators run once each (comma-separated; empty: none).")
    parser.add_argument("--keep-digests", action="store_true",
                        help="Time no digest fill when every profile has a digest (the fill goes through the host's "
                             "SELECTs a chunk at a time: slow at 1,000,000; the SQL backfill writes them in one pass).")
    args = parser.parse_args()
    for size in args.sizes:
        url = common.prepare_store(SCRIPT, args, size)
        common.log(f"{size:,}: backfill if needed, digest fill, what-if (sql x6, then {args.references or 'no references'})")
        load_before = os.getloadavg()
        result = common.run_child(SCRIPT, url, "what_if", args.now, args.references,
                                  "keep" if args.keep_digests else "")
        target = TARGETS.get(size)
        common.emit(figure="what_if_whole_store", customers=size, **result, target_seconds=target,
                    holds=None if target is None else result["sql_median_seconds"] <= target,
                    load_average=[round(x, 1) for x in (*load_before, *os.getloadavg())])


if __name__ == "__main__":
    if not common.child_main({"what_if": child_what_if}):
        main()
