"""`lifecycle-sandbox demo`: generate a store, backfill it as of a few days ago, replay those days live, report.

The report explains its own figures (who is counted, what each column means) and
ends with customers to look at and a GraphQL query, ready to paste, that reads one
of them from `lifecycle-sandbox serve`.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

from .common import Out, database_description, make_engine, parse_now
from .kpi_report import print_kpis
from .reports import print_distribution, print_outbox, print_tier_changes, print_transitions, print_weekly
from .results import print_action_results
from .steps import do_backfill, do_fresh_store, do_predict, do_replay, do_sweep

#: Stages whose customers show the most in their history; one of each is suggested.
SHOWCASE_STAGES = ("loyal", "at_risk", "lapsed", "repeat", "new")

CUSTOMER_QUERY = (
    '{ customerLifecycle(email: "%s") { userId email stage { key label since } tier { key label } '
    "ordersCount lifetimeSpend { amount currency } "
    "history { fromStage { key } toStage { key } reason rule occurredAt } "
    "tierHistory { fromTier { key } toTier { key } reason occurredAt } } }"
)


def cmd_demo(args, out: Out) -> int:
    from ...models import StageTransition
    from ..host import SandboxHost
    from ..replay import SimulatedClock

    started = time.perf_counter()
    now = parse_now(args.now)
    do_fresh_store(out, args, now)
    clock = SimulatedClock(now - timedelta(days=args.live_days))
    host = SandboxHost(as_of=clock)
    # The backfill messages nobody; the live days that follow run the actions.
    engine = make_engine(host, clock, demo_actions=True)
    report = do_backfill(out, engine, args.chunk_size)
    backfilled_at = clock.now
    if args.live_days:
        explain_the_backfilled_customers(out, report.customers, SandboxHost().count_customers(), args.live_days)
        do_replay(out, engine, clock, now)
    clock.now = now
    do_sweep(out, engine)
    do_predict(out, engine)
    print_distribution(out, engine.config)
    print_transitions(out, limit=args.transitions)
    print_tier_changes(out)
    if args.live_days and StageTransition.objects.filter(occurred_at__gt=backfilled_at).exists():
        print_weekly(out, backfilled_at)
    print_outbox(out)
    print_action_results(out, engine, since=backfilled_at,
                         what=f"what the actions did in the {args.live_days} replayed days")
    print_kpis(out, SandboxHost(), engine.config, now)
    print_try_it(out)
    out()
    out(f"Database: {database_description()}")
    out(f"Demo finished in {time.perf_counter() - started:.1f}s")
    return 0


def explain_the_backfilled_customers(out: Out, backfilled: int, in_store: int, live_days: int) -> None:
    later = in_store - backfilled
    out(f"  ({backfilled:,} of the store's {in_store:,} customers had shown up {live_days} days ago: the backfill "
        f"sees the store as it stood then; the other {later:,} first appear in the replayed days, "
        "and each is decided when their first account, checkout or order event arrives)")


def showcase_customers() -> list[tuple[str, str, str]]:
    """(e-mail, Saleor-style user ID, stage) of a registered customer in each showcase stage that has one."""
    from ...graphql.types import saleor_user_id
    from ...models import CustomerProfile

    chosen = []
    for stage in SHOWCASE_STAGES:
        profile = (CustomerProfile.objects.filter(stage=stage, user__isnull=False)
                   .order_by("-orders_count", "id").only("email", "user_id", "stage").first())
        if profile is not None:
            chosen.append((profile.email, saleor_user_id(profile.user_id), profile.stage))
    return chosen


def customer_query(email: str) -> str:
    return CUSTOMER_QUERY % email


def print_try_it(out: Out) -> None:
    customers = showcase_customers()
    if not customers:
        return
    out()
    out("Customers to look at (e-mail, Saleor user ID, stage):")
    for email, user_id, stage in customers:
        out(f"  {email:<40} {user_id:<14} {stage}")
    body = json.dumps({"query": customer_query(customers[0][0])})
    out()
    out("Read one over GraphQL: start the API on this store (same folder, same DATABASE_URL) with")
    out("  lifecycle-sandbox serve")
    out("then paste the query into GraphiQL at http://127.0.0.1:8000/graphql/ with the staff token serve prints,")
    out(f"  {customer_query(customers[0][0])}")
    out("or ask with curl:")
    out("  curl -s http://127.0.0.1:8000/graphql/ -H 'Content-Type: application/json' "
        f"-H 'Authorization: Bearer <staff token>' -d '{body}'")
