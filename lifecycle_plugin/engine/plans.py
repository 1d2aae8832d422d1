"""Decisions waiting to be written, and the set-based statements that write them.

The engine decides every customer of a batch first (a `Plan` each: the profile as
it will be, its new history rows, whether the projection changes), then writes
the whole batch with one statement per table, then calls the hooks. An event
for one customer is a batch of one; a drained inbox or a sweep batch holds
hundreds, and costs the same number of statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from datetime import datetime

from django.utils import timezone

from ..host import CustomerRef, Host, Projection
from ..models import ActionLedgerEntry, ActionStatus, CustomerProfile, StageTransition, TierChange
from ..rules import CustomerFacts, LifecycleConfig, OrderFact, counts
from ..rules.referral import advocate_of
from ..rules.digest import digest_of
from .bulk import JSON, bulk_cursor, column_params, json_text, unnest_rows
from .digest_writes import write_digests
from .context import StageChange, TierChange as TierChangeEvent


@dataclass
class Outcome:
    """What one `process` call changed."""

    profile_id: int | None
    stage: str | None
    tier: str | None
    stage_changes: list[StageChange] = field(default_factory=list)
    tier_changes: list[TierChangeEvent] = field(default_factory=list)
    created: bool = False


@dataclass
class Plan:
    """One customer's decision, before anything is written."""

    customer: CustomerRef
    profile: CustomerProfile
    facts: CustomerFacts
    outcome: Outcome
    #: Write the metadata projection (the stage or tier changed, or asked for).
    project: bool = False
    transitions: list[StageTransition] = field(default_factory=list)
    tier_changes: list[TierChange] = field(default_factory=list)
    #: The counted orders that may fire order hooks, oldest first (set when written).
    counted: list[OrderFact] = field(default_factory=list)
    #: The store event decided (``lifecycle_event_processed``); empty for the sweep and the backfill.
    event: str = ""

    @property
    def created(self) -> bool:
        """A new profile (inserted, not updated)."""
        return self.outcome.created

    def forget_written(self) -> None:
        """Undo the ids a rolled-back write left on the rows, before writing them again."""
        for row in (*self.transitions, *self.tier_changes):
            row.pk = None
        if self.created:
            self.profile.pk = None


def write_plans(plans: Sequence[Plan], host: Host) -> None:
    """New profiles, changed profiles, their ladder digests, transitions, tier changes and
    projections: a statement each."""
    new = [plan.profile for plan in plans if plan.created]
    if new:
        CustomerProfile.objects.bulk_create(new)
    changed = [plan.profile for plan in plans if not plan.created]
    if changed:
        _update_profiles(changed)
    for plan in plans:
        plan.outcome.profile_id = plan.profile.pk
    write_digests([(plan.profile.pk, digest_of(plan.facts)) for plan in plans], timezone.now())
    transitions = [row for plan in plans for row in plan.transitions]
    if transitions:
        StageTransition.objects.bulk_create(transitions)
    tier_changes = [row for plan in plans for row in plan.tier_changes]
    if tier_changes:
        TierChange.objects.bulk_create(tier_changes)
    projections = [plan.profile for plan in plans if plan.project]
    if projections:
        host.write_projection([projection_of(profile) for profile in projections])


def projection_of(profile: CustomerProfile) -> Projection:
    """What the host keeps on the customer for storefronts: stage, tier and a summary."""
    return Projection(
        customer=CustomerRef(profile.email, profile.user_id),
        stage=profile.stage,
        tier=profile.tier,
        profile=profile_summary(
            stage=profile.stage, stage_since=profile.stage_since, tier=profile.tier, orders=profile.orders_count,
            lifetime_spend=profile.lifetime_spend, window_spend=profile.window_spend,
            first_order_at=profile.first_order_at, last_order_at=profile.last_order_at,
            next_check_at=profile.next_check_at, prediction=prediction_of(profile),
            advocate=advocate_of(profile.extra_facts),
        ),
        decided_at=profile.decided_at,
        advocate=advocate_of(profile.extra_facts),
    )


def profile_summary(*, stage: str, stage_since: datetime, tier: str | None, orders: int,
                    lifetime_spend: dict, window_spend: dict, first_order_at: datetime | None,
                    last_order_at: datetime | None, next_check_at: datetime | None,
                    prediction: dict[str, Any] | None, advocate: bool) -> dict[str, Any]:
    """The `lifecycle.profile` summary, in the one shape every writer of it uses (events,
    backfills, the prediction run), so a storefront never sees keys come and go."""
    return {
        "stage": stage,
        "stage_since": stage_since.isoformat(),
        "tier": tier,
        "orders": orders,
        "lifetime_spend": lifetime_spend,
        "window_spend": window_spend,
        "first_order_at": first_order_at.isoformat() if first_order_at else None,
        "last_order_at": last_order_at.isoformat() if last_order_at else None,
        "next_check_at": next_check_at.isoformat() if next_check_at else None,
        "prediction": prediction,
        "advocate": advocate,
    }


def prediction_of(profile: CustomerProfile) -> dict[str, Any] | None:
    """The daily prediction run's figures on a profile (docs/predictions.md), None before
    the first run. Without figures, only when and why."""
    return prediction_summary(profile.predicted_orders_365, profile.probability_active, profile.predicted_spend,
                              profile.predicted_at, profile.prediction_reason)


def prediction_summary(expected_orders, probability_active, spend, predicted_at: datetime | None,
                       reason: str | None) -> dict[str, Any] | None:
    """`prediction_of` from the columns, for writers that read them in SQL."""
    if predicted_at is None:
        return None
    return {
        "expected_orders_365": expected_orders,
        "probability_active": probability_active,
        "spend": spend,
        "predicted_at": predicted_at.isoformat(),
        "reason": reason or None,
    }


_PROFILE = CustomerProfile._meta.db_table
# JSON goes as text and is cast in the SET list: binding jsonb arrays would need the
# texts wrapped one by one.
_JSON_COLUMNS = frozenset({"orders_by_currency", "lifetime_spend", "window_spend", "extra_facts"})
_UPDATE_COLUMNS = (
    ("id", "bigint"), ("user_id", "bigint"), ("email", "text"), ("stage", "text"), ("stage_since", "timestamptz"),
    ("stage_rule", "text"), ("tier", "text"), ("tier_since", "timestamptz"), ("orders_count", "integer"),
    ("orders_by_currency", "text"), ("lifetime_spend", "text"), ("window_spend", "text"),
    ("first_order_at", "timestamptz"), ("last_order_at", "timestamptz"), ("extra_facts", "text"),
    ("history_cutoff", "timestamptz"), ("decided_at", "timestamptz"), ("next_check_at", "timestamptz"),
    ("version", "integer"),
)
_UPDATE_SQL = f"""
    UPDATE {_PROFILE} AS p SET
        {", ".join(f"{name} = v.{name}::jsonb" if name in _JSON_COLUMNS else f"{name} = v.{name}"
                   for name, _ in _UPDATE_COLUMNS[1:])},
        updated_at = %(now)b
    FROM ({unnest_rows(_UPDATE_COLUMNS)}) AS v
    WHERE p.id = v.id
"""


def _update_profiles(profiles: Sequence[CustomerProfile]) -> None:
    """The profiles as decided, in one UPDATE (their rows are locked by the caller)."""
    stamp = timezone.now()  # what `auto_now` would have written
    columns: list[list] = [[] for _ in _UPDATE_COLUMNS]
    for profile in profiles:
        profile.updated_at = stamp
        for column, (name, _) in zip(columns, _UPDATE_COLUMNS):
            value = getattr(profile, "pk" if name == "id" else name)
            if name in _JSON_COLUMNS:
                value = json_text(value) if name != "extra_facts" else JSON.encode(value)
            column.append(value)
    with bulk_cursor(len(profiles)) as cursor:
        cursor.execute(_UPDATE_SQL, {"now": stamp, **column_params(columns)})


def once_only_key(what: str, profile_id: int, key: str) -> str:
    return f"event:{what}:{profile_id}:{key}"


def mark_once_only(plans: Sequence[Plan], config: LifecycleConfig, now: datetime) -> set[str]:
    """Ledger marks for the orders each plan's hooks are about; the keys that are new.

    Each counted order fires `lifecycle_order_counted` once, and once fulfilled,
    `lifecycle_order_fulfilled` once, however often its events arrive: one
    ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` for the whole batch tells which
    of them are seen for the first time.
    """
    keys: list[str] = []
    actions: list[str] = []
    profile_ids: list[int] = []
    for plan in plans:
        cutoff = plan.profile.history_cutoff
        plan.counted = sorted((o for o in plan.facts.orders if counts(o, config) and o.placed_at > cutoff),
                              key=lambda o: o.placed_at)
        for order in plan.counted:
            for what, applies in (("order_counted", True),
                                  ("order_fulfilled", order.fulfilled_at is not None and order.fulfilled_at > cutoff)):
                if applies:
                    keys.append(once_only_key(what, plan.profile.pk, order.order_id))
                    actions.append(f"event:{what}")
                    profile_ids.append(plan.profile.pk)
    if not keys:
        return set()
    stamp = timezone.now()  # what the model's auto_now fields would hold
    with bulk_cursor(len(keys)) as cursor:
        cursor.execute(
            f"""INSERT INTO {ActionLedgerEntry._meta.db_table}
                    (dedupe_key, action, profile_id, status, payload, result, attempts, last_error,
                     created_at, updated_at, completed_at)
                SELECT v.key, v.action, v.profile_id, %(done)b, '{{}}', '{{}}', 0, '', %(stamp)b, %(stamp)b, %(now)b
                FROM unnest(%(keys)b::text[], %(actions)b::text[], %(profiles)b::bigint[]) AS v(key, action, profile_id)
                ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key""",
            {"done": str(ActionStatus.DONE), "stamp": stamp, "now": now, "keys": keys, "actions": actions,
             "profiles": profile_ids},
        )
        return {key for (key,) in cursor.fetchall()}
