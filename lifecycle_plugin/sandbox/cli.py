"""`lifecycle-sandbox`: a synthetic store to try the lifecycle engine on, no Saleor needed.

    lifecycle-sandbox demo                    # store of 20,000 customers, backfill, last 14 days live
    lifecycle-sandbox replay --days 120       # watch stages move day by day over 120 days
    lifecycle-sandbox generate --customers 100000 --reset
    lifecycle-sandbox backfill | sweep | stats | reset --yes

The database is DATABASE_URL when set, otherwise an embedded PostgreSQL server
(see lifecycle_plugin/sandbox/embedded_pg.py).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

SETTINGS_MODULE = "lifecycle_plugin.sandbox.settings"


# ---------------------------------------------------------------------------- set-up

def setup_django() -> None:
    # Always the sandbox's settings: `reset` empties the accounts table, so this tool
    # must never run against another project's database by accident.
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    import django

    django.setup()


def database_description() -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    where = f"postgres://{db.get('USER') or ''}@{db.get('HOST') or 'localhost'}"
    where += f":{db['PORT']}" if db.get("PORT") else ""
    where += f"/{db.get('NAME')}"
    if not os.environ.get("DATABASE_URL"):
        try:
            from .embedded_pg import data_dir

            return f"embedded PostgreSQL, data in {data_dir()} ({where})"
        except Exception:  # noqa: BLE001 - the description is informative only
            return f"embedded PostgreSQL ({where})"
    return f"DATABASE_URL {where}"


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


class Out:
    """Printing with step timings."""

    def __init__(self, stream=None, progress: bool = True):
        self.stream = stream or sys.stdout
        self.progress = progress

    def __call__(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    @contextmanager
    def step(self, title: str):
        self(f"- {title} ...")
        started = time.perf_counter()
        yield
        self(f"  done in {time.perf_counter() - started:.1f}s")

    def bar(self, total: int | None, desc: str, unit: str = "customer"):
        from tqdm import tqdm

        return tqdm(total=total, desc=f"  {desc}", unit=unit, unit_scale=True, disable=not self.progress,
                    file=sys.stderr, leave=False, dynamic_ncols=True)


def parse_now(text: str | None) -> datetime:
    if not text:
        return datetime.now(timezone.utc).replace(microsecond=0)
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


#: The demo shows the built-in actions at work: every one switched on, messages to the
#: sandbox outbox (the notify channel). Settings in LIFECYCLE_SETTINGS win over these.
DEMO_ACTION_SETTINGS = {
    "delivery_channel": "notify",
    "repeat_purchase_enabled": "true",
    "tier_upgrade_enabled": "true",
    "review_request_enabled": "true",
    # A week rather than the default fortnight, so the replayed days see requests fall due.
    "review_request_delay_days": "7",
    "winback_reminder_enabled": "true",
}


def make_engine(host, clock, *, demo_actions: bool = False):
    """An engine with the owner's settings (LIFECYCLE_SETTINGS); `demo_actions` switches the actions on first."""
    from ..runtime import get_engine

    return get_engine(host, defaults=DEMO_ACTION_SETTINGS if demo_actions else None, clock=clock)


# ---------------------------------------------------------------------------- steps

def do_generate(out: Out, customers: int, years: float, seed: int, now: datetime):
    from .generator import generate_store

    with out.step(f"generating {customers:,} customers over {years:g} years up to {now:%Y-%m-%d %H:%M} UTC (seed {seed})"):
        bar = out.bar(customers, "generate")
        summary = generate_store(customers=customers, years=years, seed=seed, now=now, progress=bar.update)
        bar.close()
    out(f"  {summary.accounts:,} accounts, {summary.guests:,} guests "
        f"({summary.guests_registered_later:,} guests registered later), {summary.orders:,} orders, "
        f"{summary.order_lines:,} order lines, {summary.checkouts:,} checkouts: "
        f"{summary.rows / max(summary.seconds, 1e-9):,.0f} rows/s")
    return summary


def do_backfill(out: Out, engine, chunk_size: int, *, start_after: str | None = None, total: int | None = None):
    from ..engine.backfill import backfill

    with out.step(f"backfilling every customer as of {engine.clock():%Y-%m-%d %H:%M} UTC (chunks of {chunk_size:,})"):
        if total is None:
            counter = getattr(engine.host, "count_customers", None)
            total = counter() if counter else None
        bar = out.bar(total, "backfill")
        report = backfill(engine, chunk_size=chunk_size, start_after=start_after,
                          progress=lambda done, last_email: bar.update(done))
        bar.close()
    out(f"  {report.customers:,} customers: {report.created:,} profiles created, {report.updated:,} updated, "
        f"{report.stage_changes:,} stage and {report.tier_changes:,} tier changes, {report.conflicts} conflicts")
    return report


def do_replay(out: Out, engine, clock, until: datetime, *, weekly: bool = True):
    from .replay import replay_days

    days = max((until - clock.now).days, 0)
    with out.step(f"replaying {days} days up to {until:%Y-%m-%d %H:%M} UTC (each day: its events, then the sweep)"):
        bar = out.bar(days, "replay", unit="day")
        reports = replay_days(engine, clock, until, on_day=lambda report: bar.update(1))
        bar.close()
    events = sum(sum(r.events.values()) for r in reports)
    out(f"  {events:,} events processed at the moment they happened, "
        f"{sum(r.swept for r in reports):,} profiles swept at the ends of days")
    return reports


def do_sweep(out: Out, engine):
    with out.step(f"sweeping (time-based moves due by {engine.clock():%Y-%m-%d %H:%M} UTC)"):
        report = engine.sweep()
    out(f"  {report.profiles:,} profiles due: {report.stage_changes:,} stage and {report.tier_changes:,} tier changes")
    return report


# ---------------------------------------------------------------------------- reports

def print_distribution(out: Out, config) -> None:
    from django.db.models import Count

    from ..models import CustomerProfile
    from ..rules import Stage

    stages = dict(CustomerProfile.objects.values_list("stage").annotate(n=Count("id")).order_by())
    total = sum(stages.values())
    out()
    out(f"Stages ({total:,} profiles)")
    out(f"  {'stage':<10} {'customers':>10} {'share':>7}")
    for stage in Stage:
        count = stages.pop(stage.value, 0)
        out(f"  {stage.value:<10} {count:>10,} {100 * count / max(total, 1):>6.1f}%")
    for code, count in sorted(stages.items()):  # stages added by plugins
        out(f"  {code:<10} {count:>10,} {100 * count / max(total, 1):>6.1f}%")

    tiers = dict(CustomerProfile.objects.values_list("tier").annotate(n=Count("id")).order_by())
    out()
    out("Loyalty tiers (trailing spend, per currency)")
    out(f"  {'tier':<10} {'customers':>10} {'share':>7}")
    for code in (None, *config.tier_codes):
        count = tiers.pop(code, 0)
        out(f"  {code or '(none)':<10} {count:>10,} {100 * count / max(total, 1):>6.1f}%")
    for code, count in sorted(tiers.items(), key=lambda item: str(item[0])):
        out(f"  {code:<10} {count:>10,} {100 * count / max(total, 1):>6.1f}%")


def print_transitions(out: Out, *, since: datetime | None = None, limit: int = 30) -> None:
    from django.db.models import Count

    from ..models import StageTransition

    rows = StageTransition.objects.all()
    if since is not None:
        rows = rows.filter(occurred_at__gt=since)
    grouped = list(
        rows.values_list("from_stage", "to_stage", "reason", "rule").annotate(n=Count("id")).order_by("-n")
    )
    out()
    title = "Stage transitions" + (f" after {since:%Y-%m-%d %H:%M} UTC" if since else "")
    out(f"{title} ({sum(row[4] for row in grouped):,})")
    out(f"  {'from':<10}    {'to':<10} {'reason':<10} {'count':>8}  rule")
    for from_stage, to_stage, reason, rule, count in grouped[:limit]:
        out(f"  {from_stage or '(none)':<10} -> {to_stage:<10} {reason:<10} {count:>8,}  {rule}")
    if len(grouped) > limit:
        out(f"  ... {len(grouped) - limit} more kinds")


def print_weekly(out: Out, since: datetime) -> None:
    from django.db.models import Count
    from django.db.models.functions import TruncWeek

    from ..models import StageTransition

    rows = (
        StageTransition.objects.filter(occurred_at__gt=since)
        .annotate(week=TruncWeek("occurred_at"))
        .values_list("week", "from_stage", "to_stage", "reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    weeks: dict[datetime, Counter] = {}
    for week, from_stage, to_stage, reason, count in rows:
        counter = weeks.setdefault(week, Counter())
        counter["all"] += count
        counter[to_stage] += count
        if reason == "win_back":
            counter["win_back"] += count
        if from_stage == "loyal" and to_stage == "repeat":
            counter["loyal>repeat"] += count
    columns = ("new", "repeat", "loyal", "at_risk", "lapsed", "prospect", "lead", "visitor")
    out()
    out("Transitions per week (by stage entered)")
    out(f"  {'week of':<10} {'all':>6} " + " ".join(f"{c:>8}" for c in columns) + f" {'win-back':>8} {'loyal>rep':>9}")
    for week in sorted(weeks):
        counter = weeks[week]
        out(f"  {week:%Y-%m-%d} {counter['all']:>6,} " + " ".join(f"{counter[c]:>8,}" for c in columns)
            + f" {counter['win_back']:>8,} {counter['loyal>repeat']:>9,}")


def print_outbox(out: Out, *, latest: int = 10) -> None:
    """What the actions sent: the sandbox outbox per action, and its latest messages."""
    from django.db.models import Count

    from ..models import ActionLedgerEntry, ActionStatus
    from .models import OutboxMessage, Voucher

    per_action = dict(OutboxMessage.objects.values_list("action").annotate(n=Count("id")).order_by())
    out()
    out(f"Outbox ({sum(per_action.values()):,} messages, {Voucher.objects.count():,} vouchers issued)")
    if not per_action:
        out("  empty: no action is switched on, or nobody qualified yet")
        return
    skipped = dict(
        ActionLedgerEntry.objects.filter(status=ActionStatus.SKIPPED, action__in=list(per_action))
        .values_list("action").annotate(n=Count("id")).order_by()
    )
    out(f"  {'action':<18} {'messages':>9} {'skipped':>8}")
    for action, count in sorted(per_action.items(), key=lambda item: -item[1]):
        out(f"  {action:<18} {count:>9,} {skipped.get(action, 0):>8,}")
    out(f"  latest {min(latest, sum(per_action.values()))}:")
    for message in reversed(OutboxMessage.objects.order_by("-id")[:latest]):
        out(f"    {message.action:<18} {message.subject:<44} to {message.email}")


def print_store(out: Out) -> None:
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from .host import SandboxHost
    from .models import Checkout, Order, OutboxMessage, Voucher

    User = get_user_model()
    out()
    out("Store")
    out(f"  customers (accounts + guest e-mails): {SandboxHost().count_customers():,}")
    out(f"  accounts: {User.objects.filter(is_staff=False).count():,}")
    statuses = dict(Order.objects.values_list("status").annotate(n=Count("id")).order_by())
    out(f"  orders: {sum(statuses.values()):,} ("
        + ", ".join(f"{status} {count:,}" for status, count in sorted(statuses.items(), key=lambda i: -i[1])) + ")")
    out(f"  open checkouts with lines: {Checkout.objects.filter(lines_count__gt=0).count():,}")
    out(f"  vouchers: {Voucher.objects.count():,}, outbox messages: {OutboxMessage.objects.count():,}")


# ---------------------------------------------------------------------------- commands

def cmd_demo(args, out: Out) -> int:
    from ..models import StageTransition
    from .generator import reset_store
    from .host import SandboxHost
    from .replay import SimulatedClock

    started = time.perf_counter()
    now = parse_now(args.now)
    with out.step("migrating"):
        migrate()
    with out.step("emptying the sandbox store and the lifecycle tables"):
        reset_store()
    do_generate(out, args.customers, args.years, args.seed, now)
    clock = SimulatedClock(now - timedelta(days=args.live_days))
    host = SandboxHost(as_of=clock)
    # The backfill messages nobody; the live days that follow run the actions.
    engine = make_engine(host, clock, demo_actions=True)
    do_backfill(out, engine, args.chunk_size)
    backfilled_at = clock.now
    if args.live_days:
        do_replay(out, engine, clock, now)
    clock.now = now
    do_sweep(out, engine)
    print_distribution(out, engine.config)
    print_transitions(out, limit=args.transitions)
    if args.live_days and StageTransition.objects.filter(occurred_at__gt=backfilled_at).exists():
        print_weekly(out, backfilled_at)
    print_outbox(out)
    out()
    out(f"Database: {database_description()}")
    out(f"Demo finished in {time.perf_counter() - started:.1f}s")
    return 0


def cmd_replay(args, out: Out) -> int:
    from .generator import reset_store
    from .host import SandboxHost
    from .replay import SimulatedClock

    started = time.perf_counter()
    now = parse_now(args.now)
    with out.step("migrating"):
        migrate()
    with out.step("emptying the sandbox store and the lifecycle tables"):
        reset_store()
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
    out()
    out(f"Stages on {now:%Y-%m-%d}")
    print_distribution(out, engine.config)
    out()
    out(f"Database: {database_description()}")
    out(f"Replay finished in {time.perf_counter() - started:.1f}s")
    return 0


def cmd_generate(args, out: Out) -> int:
    from .generator import reset_store, store_is_empty

    migrate()
    if not store_is_empty():
        if not args.reset:
            out("The sandbox store already has customers: add --reset to empty it first.")
            return 2
        with out.step("emptying the sandbox store and the lifecycle tables"):
            reset_store()
    do_generate(out, args.customers, args.years, args.seed, parse_now(args.now))
    out(f"Database: {database_description()}")
    return 0


def cmd_backfill(args, out: Out) -> int:
    from .host import SandboxHost

    migrate()
    now = parse_now(args.now)
    engine = make_engine(SandboxHost(), lambda: now)
    do_backfill(out, engine, args.chunk_size, start_after=args.start_after)
    print_distribution(out, engine.config)
    out(f"Database: {database_description()}")
    return 0


def cmd_sweep(args, out: Out) -> int:
    from .host import SandboxHost

    migrate()
    now = parse_now(args.now)
    engine = make_engine(SandboxHost(), lambda: now)
    do_sweep(out, engine)
    out(f"Database: {database_description()}")
    return 0


def cmd_stats(args, out: Out) -> int:
    from .host import SandboxHost

    migrate()
    engine = make_engine(SandboxHost(), None)
    print_store(out)
    print_distribution(out, engine.config)
    print_transitions(out, limit=args.transitions)
    print_outbox(out)
    out()
    out(f"Database: {database_description()}")
    return 0


def cmd_reset(args, out: Out) -> int:
    from .generator import reset_store

    if not args.yes:
        if not sys.stdin.isatty():
            out("Refusing to empty the store without --yes.")
            return 2
        answer = input(f"Empty the sandbox store in {database_description()}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 1
    migrate()
    with out.step("emptying the sandbox store and the lifecycle tables"):
        reset_store()
    return 0


def explorer_tokens() -> dict[str, str]:
    """Bearer tokens to try the GraphQL API with: a staff member with MANAGE_USERS and a customer."""
    from django.contrib.auth.models import Permission, User

    from .auth import issue_sandbox_token
    from ..models import CustomerProfile

    staff, _ = User.objects.get_or_create(
        username="sandbox-staff", defaults={"email": "staff@sandbox.example", "is_staff": True}
    )
    # The sandbox's stand-in for Saleor's MANAGE_USERS (see sandbox/auth.py).
    staff.user_permissions.add(Permission.objects.get(codename="change_user", content_type__app_label="auth"))
    tokens = {"staff (MANAGE_USERS)": issue_sandbox_token(staff)}
    customer = CustomerProfile.objects.filter(user__isnull=False).select_related("user").order_by("id").first()
    if customer is not None:
        tokens[f"customer {customer.user.email} ({customer.stage})"] = issue_sandbox_token(customer.user)
    return tokens


def parse_origin(text: str) -> str:
    """An exact web origin, ``scheme://host[:port]``, as browsers send it in ``Origin``."""
    parts = urlsplit(text.strip())
    if text.strip() in ("*", "null") or parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not an origin such as http://localhost:3000")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise argparse.ArgumentTypeError(f"{text!r}: an origin is only scheme://host[:port], without a path")
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


def cmd_serve(args, out: Out) -> int:
    from django.conf import settings
    from django.core.management import call_command

    if not is_loopback(args.host):
        print(f"lifecycle-sandbox: WARNING: --host {args.host} is not a loopback address: anyone who can reach "
              "it can call the GraphQL API, and the printed tokens give a staff member's access to every "
              "customer. The sandbox is meant for 127.0.0.1.", file=sys.stderr, flush=True)
    # Read per request by the GraphQL view (graphql/views.py): the server's own pages,
    # and only these other origins, may read its answers.
    settings.ALLOWED_GRAPHQL_ORIGINS = list(args.cors_origin)
    migrate()
    address = f"{args.host}:{args.port}"
    out(f"GraphiQL: http://{address}/graphql/  (put a header {{\"Authorization\": \"Bearer <token>\"}})")
    for who, token in explorer_tokens().items():
        out(f"  {who}: {token}")
    call_command("runserver", address, use_reloader=False)
    return 0


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
    # Two weeks: every kind of move and every action shows, and the demo stays near a minute.
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
    setup_django()
    out = Out(progress=not args.no_progress)
    out(f"lifecycle-sandbox {args.command}: database {database_description()}")
    return args.handler(args, out)


if __name__ == "__main__":
    sys.exit(main())
