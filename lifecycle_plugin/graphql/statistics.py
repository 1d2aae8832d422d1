"""Counts of customers per stage and tier, now, at a past moment, and moving between stages.

The staff fields `lifecycleStageCounts`, `lifecycleTierCounts` and `lifecycleFunnel`,
read from the plugin's own tables (profiles and the dated stage history).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from datetime import timezone as dt_timezone

from django.db import connection
from django.db.models import Count

from ..engine import stage_flow
from ..models import CustomerProfile, StageTransition
from ..rules import LifecycleConfig, Stage
from .errors import bad_input
from .types import (
    BUILTIN_STAGE_KEYS,
    LifecycleFunnel,
    LifecycleFunnelStage,
    LifecycleStageCount,
    LifecycleStageMove,
    LifecycleTierCount,
)


def aware(moment: datetime) -> datetime:
    """Times without a zone are read as UTC."""
    return moment.replace(tzinfo=dt_timezone.utc) if moment.tzinfo is None else moment


def stage_counts(counts: Counter) -> list[LifecycleStageCount]:
    """Every built-in stage (zeros included, in ladder order), then plugins' stages by key."""
    keys = [stage.value for stage in Stage] + sorted(key for key in counts if key not in BUILTIN_STAGE_KEYS)
    return [LifecycleStageCount(stage=key, count=counts.get(key, 0)) for key in keys]


def tier_counts(counts: Counter, config: LifecycleConfig) -> list[LifecycleTierCount]:
    """Every configured tier (zeros included, lowest first), retired tiers, then "no tier"."""
    configured = list(config.tier_codes)
    retired = sorted(code for code in counts if code is not None and code not in configured)
    return [LifecycleTierCount(tier=code, count=counts.get(code, 0)) for code in [*configured, *retired, None]]


def count_stage_tier_pairs() -> Counter:
    """Customers per (stage, tier) now, in one GROUP BY (an index-only scan of the stage-tier index).

    The request context keeps it (`LifecycleContext.stage_tier_pairs`), so the stage, tier and
    stage x tier counts of one request (the overview asks all three) cost one scan."""
    rows = CustomerProfile.objects.values_list("stage", "tier").annotate(count=Count("id")).order_by()
    return Counter({(stage, tier): count for stage, tier, count in rows})


def stage_counts_now(pairs: Counter) -> list[LifecycleStageCount]:
    """Customers per stage now, from `pairs` (the profiles' count per stage and tier)."""
    counts: Counter = Counter()
    for (stage, _), count in pairs.items():
        counts[stage] += count
    return stage_counts(counts)


def stage_counts_at(at: datetime) -> list[LifecycleStageCount]:
    """Customers per stage at a past moment: each one's stage after their last move at or
    before it, read through the stage flow's rollups of the history."""
    return stage_counts(Counter(stage_flow.stage_counts_at(aware(at))))


def current_tier_counts(config: LifecycleConfig, pairs: Counter) -> list[LifecycleTierCount]:
    counts: Counter = Counter()
    for (_, tier), count in pairs.items():
        counts[tier] += count
    return tier_counts(counts, config)


#: Customers who were in each stage at some time in [since, until): the stage they
#: held at `since` (their last move before it) or one they entered during the period.
STAGE_POPULATION_SQL = f"""
    SELECT stage, COUNT(DISTINCT profile_id) FROM (
        (SELECT DISTINCT ON (profile_id) profile_id, to_stage AS stage
         FROM {StageTransition._meta.db_table}
         WHERE occurred_at < %(since)s
         ORDER BY profile_id, occurred_at DESC, id DESC)
        UNION
        (SELECT profile_id, to_stage
         FROM {StageTransition._meta.db_table}
         WHERE occurred_at >= %(since)s AND occurred_at < %(until)s)
    ) AS present
    GROUP BY stage
"""


def funnel(since: datetime, until: datetime) -> LifecycleFunnel:
    since, until = aware(since), aware(until)
    if since >= until:
        raise bad_input("since must be before until.")
    moves = list(
        StageTransition.objects.filter(occurred_at__gte=since, occurred_at__lt=until)
        .values("from_stage", "to_stage")
        .annotate(count=Count("id"), customers=Count("profile_id", distinct=True))
        .order_by()
    )
    with connection.cursor() as cursor:
        cursor.execute(STAGE_POPULATION_SQL, {"since": since, "until": until})
        population = dict(cursor.fetchall())

    entered: Counter = Counter()
    left: Counter = Counter()
    for move in moves:
        entered[move["to_stage"]] += move["count"]
        if move["from_stage"] is not None:
            left[move["from_stage"]] += move["count"]

    def rate(move: dict) -> float | None:
        present = population.get(move["from_stage"]) if move["from_stage"] is not None else None
        return round(move["customers"] / present, 4) if present else None

    ladder = {stage.value: rank for rank, stage in enumerate(Stage)}

    def order(key: str | None) -> tuple:
        return (key is not None, ladder.get(key, len(ladder)), key or "")

    moves.sort(key=lambda move: (order(move["from_stage"]), order(move["to_stage"])))
    stage_keys = sorted(set(population) | set(entered) | set(left), key=order)
    return LifecycleFunnel(
        since=since,
        until=until,
        moves=[
            LifecycleStageMove(
                from_stage=move["from_stage"],
                to_stage=move["to_stage"],
                count=move["count"],
                customers=move["customers"],
                rate=rate(move),
            )
            for move in moves
        ],
        stages=[
            LifecycleFunnelStage(stage=key, customers=population.get(key, 0), entered=entered[key], left=left[key])
            for key in stage_keys
        ],
    )
