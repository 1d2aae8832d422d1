"""`lifecycle-sandbox replay`: generate a store and watch its last days move one by one with a simulated clock."""

from __future__ import annotations

import time
from datetime import timedelta

from .common import Out, database_description, make_engine, parse_now
from .reports import print_distribution, print_tier_changes, print_transitions, print_weekly
from .steps import do_backfill, do_fresh_store, do_replay


def cmd_replay(args, out: Out) -> int:
    from ..host import SandboxHost
    from ..replay import SimulatedClock

    started = time.perf_counter()
    now = parse_now(args.now)
    do_fresh_store(out, args, now)
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
