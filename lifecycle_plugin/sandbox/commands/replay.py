"""`lifecycle-sandbox replay`: generate a store and watch its last days move one by one with a simulated clock."""

from __future__ import annotations

import time
from datetime import timedelta

from .common import Out, database_description, emptying_the_store, make_engine, migrate, parse_now
from .reports import print_distribution, print_tier_changes, print_transitions, print_weekly
from .steps import do_backfill, do_generate, do_replay


def cmd_replay(args, out: Out) -> int:
    from ..host import SandboxHost
    from ..replay import SimulatedClock

    started = time.perf_counter()
    now = parse_now(args.now)
    with out.step("migrating"):
        migrate()
    emptying_the_store(out)
    do_generate(out, args.customers, args.years, args.seed, now)
    start = now - timedelta(days=args.days)
    clock = SimulatedClock(start)
    engine = make_engine(SandboxHost(as_of=clock), clock)
    do_backfill(out, engine, args.chunk_size)
    out()
    out(f"Stages on {start:%Y-%m-%d} (history before it hidden from the engine until its day)")
    print_distribution(out, engine.config)
    do_replay(out, engine, clock, now)
    print_weekly(out, start)
    print_transitions(out, since=start, limit=args.transitions)
    print_tier_changes(out)
    out()
    out(f"Stages on {now:%Y-%m-%d}")
    print_distribution(out, engine.config)
    out()
    out(f"Database: {database_description()}")
    out(f"Replay finished in {time.perf_counter() - started:.1f}s")
    return 0
