"""`lifecycle-sandbox generate | stats | reset`: fill, show and empty the sandbox store."""

from __future__ import annotations

import sys

from .common import Out, database_description, emptying_the_store, make_engine, migrate, parse_now
from .reports import print_distribution, print_outbox, print_store, print_tier_changes, print_transitions
from .steps import do_generate


def cmd_generate(args, out: Out) -> int:
    from ..generator import store_is_empty

    migrate()
    if not store_is_empty():
        if not args.reset:
            out("The sandbox store already has customers: add --reset to empty it first.")
            return 2
        emptying_the_store(out)
    do_generate(out, args.customers, args.years, args.seed, parse_now(args.now))
    out(f"Database: {database_description()}")
    return 0


def cmd_stats(args, out: Out) -> int:
    from ..host import SandboxHost

    migrate()
    engine = make_engine(SandboxHost(), None)
    print_store(out)
    print_distribution(out, engine.config)
    print_transitions(out, limit=args.transitions)
    print_tier_changes(out)
    print_outbox(out)
    out()
    out(f"Database: {database_description()}")
    return 0


def cmd_reset(args, out: Out) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            out("Refusing to empty the store without --yes.")
            return 2
        answer = input(f"Empty the sandbox store in {database_description()}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 1
    migrate()
    emptying_the_store(out)
    return 0
