"""What the commands print about the store and the engine's tables, each table with what its columns mean."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from ...rules import stage_label, tier_label
from .common import Out

#: What a transition's reason means, in the words the reports print.
REASON_MEANINGS = (
    ("backfill", "the first decision, from the store's history, of a customer without orders (or any, in Python)"),
    ("event", "an account, checkout or order event (the backfill's dated at the order)"),
    ("time", "time passed without an order (the sweep, or the backfill dating it)"),
    ("win_back", "an order from an at-risk or lapsed customer"),
    ("recompute", "decided again after a settings change or on request"),
)


def _share(count: int, total: int) -> str:
    return f"{100 * count / max(total, 1):>6.1f}%"


def print_distribution(out: Out, config) -> None:
    from django.db.models import Count

    from ...models import CustomerProfile
    from ...rules import Stage

    stages = dict(CustomerProfile.objects.values_list("stage").annotate(n=Count("id")).order_by())
    total = sum(stages.values())
    out()
    out(f"Stages ({total:,} profiles: one per customer the engine has decided)")
    out(f"  {'stage':<10} {'label':<16} {'customers':>10} {'share':>7}")
    codes = [stage.value for stage in Stage] + sorted(set(stages) - {stage.value for stage in Stage})
    for code in codes:  # the built-in ladder, then stages added by plugins
        count = stages.get(code, 0)
        out(f"  {code:<10} {stage_label(code):<16} {count:>10,} {_share(count, total)}")

    tiers = dict(CustomerProfile.objects.values_list("tier").annotate(n=Count("id")).order_by())
    out()
    out(f"Loyalty tiers (by spend in the trailing {config.tier_window_days} days; any one currency's "
        "threshold reaches a tier, amounts of two currencies are never added)")
    out(f"  {'tier':<10} {'label':<16} {'customers':>10} {'share':>7}")
    for code in (None, *config.tier_codes, *sorted(set(tiers) - {None, *config.tier_codes})):
        count = tiers.get(code, 0)
        label = tier_label(code) if code else "below every tier"
        out(f"  {code or '(none)':<10} {label:<16} {count:>10,} {_share(count, total)}")


def print_reasons(out: Out) -> None:
    for index, (code, meaning) in enumerate(REASON_MEANINGS):
        out(f"  {'reason' if index == 0 else '':<8} {code}: {meaning}")


def print_transitions(out: Out, *, since: datetime | None = None, limit: int = 30) -> None:
    from django.db.models import Count

    from ...models import StageTransition

    rows = StageTransition.objects.all()
    if since is not None:
        rows = rows.filter(occurred_at__gt=since)
    grouped = list(
        rows.values_list("from_stage", "to_stage", "reason", "rule").annotate(n=Count("id")).order_by("-n")
    )
    out()
    title = "Stage transitions" + (f" after {since:%Y-%m-%d %H:%M} UTC" if since else "")
    out(f"{title} ({sum(row[4] for row in grouped):,} moves, most frequent kinds first)")
    print_reasons(out)
    out("  rule: the rule that decided the stage entered, stored with the facts it used")
    out(f"  {'from':<10}    {'to':<10} {'reason':<10} {'count':>8}  rule")
    for from_stage, to_stage, reason, rule, count in grouped[:limit]:
        out(f"  {from_stage or '(none)':<10} -> {to_stage:<10} {reason:<10} {count:>8,}  {rule}")
    if len(grouped) > limit:
        out(f"  ... {len(grouped) - limit} more kinds (--transitions N lists more)")


def print_tier_changes(out: Out, *, limit: int = 12) -> None:
    from django.db.models import Count

    from ...models import TierChange

    grouped = list(
        TierChange.objects.values_list("from_tier", "to_tier", "reason").annotate(n=Count("id")).order_by("-n")
    )
    out()
    out(f"Tier changes ({sum(row[3] for row in grouped):,}; (none): below the lowest tier)")
    out(f"  {'from':<10}    {'to':<10} {'reason':<10} {'count':>8}")
    for from_tier, to_tier, reason, count in grouped[:limit]:
        out(f"  {from_tier or '(none)':<10} -> {to_tier or '(none)':<10} {reason:<10} {count:>8,}")
    if len(grouped) > limit:
        out(f"  ... {len(grouped) - limit} more kinds")


def print_weekly(out: Out, since: datetime) -> None:
    from django.db.models import Count
    from django.db.models.functions import TruncWeek

    from ...models import StageTransition

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
    out("Transitions per week: moves into each stage, win-backs, and loyal customers who fell back to repeat")
    out(f"  {'week of':<10} {'all':>6} " + " ".join(f"{c:>8}" for c in columns) + f" {'win-back':>8} {'loyal>rep':>9}")
    for week in sorted(weeks):
        counter = weeks[week]
        out(f"  {week:%Y-%m-%d} {counter['all']:>6,} " + " ".join(f"{counter[c]:>8,}" for c in columns)
            + f" {counter['win_back']:>8,} {counter['loyal>repeat']:>9,}")


def print_outbox(out: Out, *, latest: int = 10) -> None:
    """What the actions sent: the sandbox outbox per action, and its latest messages."""
    from django.db.models import Count

    from ...models import ActionLedgerEntry, ActionStatus
    from ..models import OutboxMessage, Voucher

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
    out("  messages: sent to the outbox (the sandbox's notify channel); skipped: due but not sent "
        "(no consent, already told, nothing to offer)")
    out(f"  {'action':<18} {'messages':>9} {'skipped':>8}")
    for action, count in sorted(per_action.items(), key=lambda item: -item[1]):
        out(f"  {action:<18} {count:>9,} {skipped.get(action, 0):>8,}")
    out(f"  latest {min(latest, sum(per_action.values()))}:")
    for message in reversed(OutboxMessage.objects.order_by("-id")[:latest]):
        out(f"    {message.action:<18} {message.subject:<44} to {message.email}")


def print_store(out: Out) -> None:
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from ..host import SandboxHost
    from ..models import Checkout, Order, OutboxMessage, Voucher

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
