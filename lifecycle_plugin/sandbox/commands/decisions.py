"""`lifecycle-sandbox backfill | sweep`: the engine's two store-wide runs, on the store as it is."""

from __future__ import annotations

from .common import Out, database_description, make_engine, migrate, parse_now
from .reports import print_distribution
from .steps import do_backfill, do_sweep


def cmd_backfill(args, out: Out) -> int:
    from ..host import SandboxHost

    migrate()
    now = parse_now(args.now)
    engine = make_engine(SandboxHost(), lambda: now)
    do_backfill(out, engine, args.chunk_size, start_after=args.start_after)
    print_distribution(out, engine.config)
    out(f"Database: {database_description()}")
    return 0


def cmd_sweep(args, out: Out) -> int:
    from ..host import SandboxHost

    migrate()
    now = parse_now(args.now)
    engine = make_engine(SandboxHost(), lambda: now)
    do_sweep(out, engine)
    out(f"Database: {database_description()}")
    return 0
