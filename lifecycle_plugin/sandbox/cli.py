"""`lifecycle-sandbox`: a synthetic store to try the lifecycle engine on, no Saleor needed.

    lifecycle-sandbox demo                    # store of 20,000 customers, backfill, last 14 days live
    lifecycle-sandbox replay --days 120       # watch stages move day by day over 120 days
    lifecycle-sandbox generate --customers 100000 --reset
    lifecycle-sandbox backfill | sweep | stats | serve | reset --yes
    lifecycle-sandbox settings at_risk_days=60   # save settings; recompute whom they affect

The database is DATABASE_URL when set, otherwise an embedded PostgreSQL server
(see lifecycle_plugin/sandbox/embedded_pg.py). Each command is a module of
sandbox/commands/; this one parses the command line.
"""

from __future__ import annotations

import argparse
import os
import sys

from .commands.common import Out, database_description, setup_django
from .commands.decisions import cmd_backfill, cmd_sweep
from .commands.demo import cmd_demo
from .commands.replay import cmd_replay
from .commands.serve import cmd_serve, parse_origin
from .commands.settings import cmd_settings
from .commands.store import cmd_generate, cmd_reset, cmd_stats


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lifecycle-sandbox",
        description="A synthetic store for the Saleor lifecycle engine: demo, replay, generate, backfill, sweep.",
    )
    parser.add_argument("--no-progress", action="store_true", help="Hide progress bars.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def store_options(sub, customers: int):
        sub.add_argument("--customers", type=int, default=customers, help=f"Customers to generate (default {customers:,}).")
        sub.add_argument("--seed", type=int, default=42, help="Random seed (default 42): same seed, same store.")
        sub.add_argument("--years", type=float, default=3, help="Years of history (default 3).")
        sub.add_argument("--now", help="The store's 'now' as an ISO date-time (default: the current time).")

    demo = commands.add_parser("demo", help="Generate a store, backfill it, replay the last days, show the stages.")
    store_options(demo, 20_000)
    demo.add_argument("--chunk-size", type=int, default=2000, help="Backfill chunk size (default 2000).")
    # Two weeks: every kind of move and every action shows, and the demo stays short.
    demo.add_argument("--live-days", type=int, default=14,
                      help="Backfill as of this many days ago, then replay those days live (default 14; 0: backfill now).")
    demo.add_argument("--transitions", type=int, default=30, help="Kinds of transitions to list (default 30).")
    demo.set_defaults(handler=cmd_demo)

    replay = commands.add_parser("replay", help="Generate a store and replay its last days with a simulated clock.")
    store_options(replay, 20_000)
    replay.add_argument("--days", type=int, default=120, help="Days to replay (default 120).")
    replay.add_argument("--chunk-size", type=int, default=2000, help="Backfill chunk size (default 2000).")
    replay.add_argument("--transitions", type=int, default=30, help="Kinds of transitions to list (default 30).")
    replay.set_defaults(handler=cmd_replay)

    generate = commands.add_parser("generate", help="Fill the store with synthetic customers and orders.")
    store_options(generate, 20_000)
    generate.add_argument("--reset", action="store_true", help="Empty the store first if it has customers.")
    generate.set_defaults(handler=cmd_generate)

    backfill = commands.add_parser("backfill", help="Decide every customer's stage from the store's history.")
    backfill.add_argument("--chunk-size", type=int, default=2000, help="Customers per chunk (default 2000).")
    backfill.add_argument("--start-after", help="Resume after this (normalised) e-mail.")
    backfill.add_argument("--now", help="The engine's clock as an ISO date-time (default: the current time).")
    backfill.set_defaults(handler=cmd_backfill)

    sweep = commands.add_parser("sweep", help="Apply time-based moves that are due.")
    sweep.add_argument("--now", help="The engine's clock as an ISO date-time (default: the current time).")
    sweep.set_defaults(handler=cmd_sweep)

    stats = commands.add_parser("stats", help="Show the store and the stage and tier distribution.")
    stats.add_argument("--transitions", type=int, default=30, help="Kinds of transitions to list (default 30).")
    stats.set_defaults(handler=cmd_stats)

    serve = commands.add_parser("serve", help="Serve the lifecycle GraphQL API with GraphiQL on this machine.")
    serve.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
    serve.add_argument("--port", type=int, default=8000, help="Port (default 8000).")
    serve.add_argument("--cors-origin", action="append", default=[], type=parse_origin, metavar="ORIGIN",
                       help="Let pages of this origin (e.g. http://localhost:3000) call the API from a browser; "
                            "repeatable. Default: only the server's own pages.")
    serve.set_defaults(handler=cmd_serve)

    settings = commands.add_parser("settings", help="Show or save settings (NAME=VALUE); a changed threshold "
                                                     "recomputes the customers it affects.")
    settings.add_argument("assignments", nargs="*", metavar="NAME=VALUE")
    settings.add_argument("--no-run", action="store_true", help="Queue the recompute only (lifecycle_recompute runs it).")
    settings.add_argument("--chunk-size", type=int, default=500, help="Profiles per transaction (default 500).")
    settings.add_argument("--now", help="The engine's clock as an ISO date-time (default: the current time).")
    settings.set_defaults(handler=cmd_settings)

    reset = commands.add_parser("reset", help="Empty the sandbox store and the lifecycle tables.")
    reset.add_argument("--yes", action="store_true", help="Do not ask.")
    reset.set_defaults(handler=cmd_reset)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("customers", "chunk_size", "days"):
        if getattr(args, name, 1) is not None and getattr(args, name, 1) < (0 if name == "customers" else 1):
            print(f"lifecycle-sandbox: --{name.replace('_', '-')} is too small", file=sys.stderr)
            return 2
    if getattr(args, "live_days", 0) < 0:
        print("lifecycle-sandbox: --live-days must not be negative", file=sys.stderr)
        return 2
    if not os.environ.get("DATABASE_URL"):
        from .embedded_pg import stop_on_sigterm

        stop_on_sigterm()  # so a `kill` stops the embedded server too, as Ctrl-C does
    setup_django()
    out = Out(progress=not args.no_progress)
    out(f"lifecycle-sandbox {args.command}: database {database_description()}")
    return args.handler(args, out)


if __name__ == "__main__":
    sys.exit(main())
