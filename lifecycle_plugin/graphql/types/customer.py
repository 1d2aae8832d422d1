"""The customer's lifecycle as a shopper (and staff, for the MANAGE_USERS fields) reads it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import graphene

from ...models import CustomerProfile, StageTransition
from ...rules import STAGE_DESCRIPTIONS, Stage, stage_label, tier_label, tier_progress
from ...rules.referral import advocate_of
from .prediction import LifecyclePrediction
from .values import (
    BUILTIN_STAGE_KEYS,
    JSON,
    LifecycleCurrencyCount,
    LifecycleMoney,
    LifecycleStage,
    LifecycleStageCode,
    LifecycleTier,
    LifecycleTierCode,
    LifecycleTransitionReason,
    money_list,
    saleor_user_id,
    stage_code,
    staff_only,
    tier_code,
    tier_rank,
)


class LifecycleCustomerStage(graphene.ObjectType):
    """The stage a customer is in now."""

    code = graphene.Field(LifecycleStageCode, required=True)
    key = graphene.String(required=True, description="The stored stage code, e.g. `at_risk`.")
    label = graphene.String(required=True)
    description = graphene.String(description="What the stage means; null for a plugin's stage.")
    since = graphene.DateTime(required=True, description="When the customer entered this stage.")

    # The root is the CustomerProfile.
    @staticmethod
    def resolve_code(profile: CustomerProfile, info: Any) -> str:
        return stage_code(profile.stage)

    @staticmethod
    def resolve_key(profile: CustomerProfile, info: Any) -> str:
        return profile.stage

    @staticmethod
    def resolve_label(profile: CustomerProfile, info: Any) -> str:
        return stage_label(profile.stage)

    @staticmethod
    def resolve_description(profile: CustomerProfile, info: Any) -> str | None:
        return STAGE_DESCRIPTIONS[Stage(profile.stage)] if profile.stage in BUILTIN_STAGE_KEYS else None

    @staticmethod
    def resolve_since(profile: CustomerProfile, info: Any):
        return profile.stage_since


class LifecycleCustomerTier(graphene.ObjectType):
    """The loyalty tier a customer holds now."""

    code = graphene.Field(LifecycleTierCode, required=True)
    key = graphene.String(required=True, description="The tier's code in the settings, e.g. `gold`.")
    label = graphene.String(required=True)
    rank = graphene.Int(
        description="Position in the configured tiers, 0 for the lowest; null if the tier is no longer configured."
    )
    since = graphene.DateTime(description="When the customer reached this tier.")

    # The root is the CustomerProfile.
    @staticmethod
    def resolve_code(profile: CustomerProfile, info: Any) -> str:
        return tier_code(profile.tier)

    @staticmethod
    def resolve_key(profile: CustomerProfile, info: Any) -> str:
        return profile.tier

    @staticmethod
    def resolve_label(profile: CustomerProfile, info: Any) -> str:
        return tier_label(profile.tier)

    @staticmethod
    def resolve_rank(profile: CustomerProfile, info: Any) -> int | None:
        return tier_rank(profile.tier, info)

    @staticmethod
    def resolve_since(profile: CustomerProfile, info: Any):
        return profile.tier_since


class LifecycleTierProgress(graphene.ObjectType):
    """How much more spend in one currency reaches the next tier."""

    currency = graphene.String(required=True)
    next_tier = graphene.Field(LifecycleTier, required=True, description="The next tier reachable in this currency.")
    spend = graphene.Field(LifecycleMoney, required=True, description="Spend in the tier window so far.")
    remaining = graphene.Field(LifecycleMoney, required=True, description="Spend still needed for `nextTier`.")

    # The root is a rules.TierProgress.
    @staticmethod
    def resolve_spend(progress: Any, info: Any) -> LifecycleMoney:
        return LifecycleMoney(currency=progress.currency, amount=progress.spend)

    @staticmethod
    def resolve_remaining(progress: Any, info: Any) -> LifecycleMoney:
        return LifecycleMoney(currency=progress.currency, amount=progress.remaining)


class LifecycleStageTransition(graphene.ObjectType):
    """One move between stages, with the rule that decided it and the facts it used."""

    from_stage = graphene.Field(LifecycleStage, description="Null for the first stage a customer was given.")
    to_stage = graphene.Field(LifecycleStage, required=True)
    occurred_at = graphene.DateTime(required=True, description="When the move took effect.")
    recorded_at = graphene.DateTime(required=True, description="When the engine noticed it (may be later).")
    reason = graphene.Field(LifecycleTransitionReason, required=True)
    event = graphene.String(description="The store event that caused the move, if any.")
    rule = graphene.String(required=True, description="The rule that fired, e.g. `at_risk:no_order_for_at_risk_days`.")
    facts = graphene.Field(JSON, required=True, description="The facts the rule used.")

    # The root is a StageTransition row.
    @staticmethod
    def resolve_event(row: StageTransition, info: Any) -> str | None:
        return row.event or None


class LifecycleTierChange(graphene.ObjectType):
    """One change of loyalty tier (up or down)."""

    from_tier = graphene.Field(LifecycleTier, description="Null when the customer had no tier before.")
    to_tier = graphene.Field(LifecycleTier, description="Null when the customer dropped out of every tier.")
    occurred_at = graphene.DateTime(required=True)
    recorded_at = graphene.DateTime(required=True)
    reason = graphene.Field(LifecycleTransitionReason, required=True)
    tier_window_spend = graphene.List(
        graphene.NonNull(LifecycleMoney), required=True, description="Spend in the tier window at the change."
    )

    @staticmethod
    def resolve_tier_window_spend(row: Any, info: Any) -> list[LifecycleMoney]:
        return money_list(row.window_spend)


# ---------------------------------------------------------------------- the customer


class CustomerLifecycle(graphene.ObjectType):
    """A customer's lifecycle: stage, loyalty tier, progress and counters.

    Fields marked "MANAGE_USERS" show how decisions were made and need that permission
    even on one's own profile.
    """

    user_id = graphene.ID(description="Saleor's global ID of the account; null for a guest (e-mail only).")
    email = graphene.String(required=True, description="The customer's e-mail, lower-cased.")
    stage = graphene.Field(LifecycleCustomerStage, required=True)
    tier = graphene.Field(LifecycleCustomerTier, description="The loyalty tier; null below the lowest tier.")
    tier_progress = graphene.List(
        graphene.NonNull(LifecycleTierProgress),
        required=True,
        description="Per currency that has a higher tier: the spend still needed to reach it.",
    )
    orders_count = graphene.Int(required=True, description="Counted orders (placed, not cancelled or refunded).")
    orders_by_currency = graphene.List(graphene.NonNull(LifecycleCurrencyCount), required=True)
    lifetime_spend = graphene.List(
        graphene.NonNull(LifecycleMoney), required=True, description="All counted spend, per currency."
    )
    tier_window_spend = graphene.List(
        graphene.NonNull(LifecycleMoney),
        required=True,
        description="Spend in the trailing tier window (what tiers are judged by), per currency.",
    )
    first_order_at = graphene.DateTime()
    last_order_at = graphene.DateTime()
    referrals_made = graphene.Int(
        required=True, description="New customers whose first order used this customer's referral code and was "
        "accepted (docs/actions.md, referral and advocacy).")
    referrals_rewarded = graphene.Int(
        required=True, description="Of those, the ones whose reward was issued (paid and kept past the return window).")
    advocate = graphene.Boolean(
        required=True, description="A rewarded referral or a review: public metadata lifecycle.advocate. A flag, "
        "not a stage.")

    stage_rule = graphene.String(description="MANAGE_USERS. The rule that decided the current stage.")
    decided_at = graphene.DateTime(description="MANAGE_USERS. When the engine last decided.")
    next_check_at = graphene.DateTime(
        description="MANAGE_USERS. When the stage or tier changes next if nothing else happens."
    )
    extra_facts = graphene.Field(JSON, description="MANAGE_USERS. Facts that plugins contributed.")
    prediction = graphene.Field(
        LifecyclePrediction,
        description="MANAGE_USERS. Predicted orders, activity and spend from the daily prediction run; "
        "null before its first run.",
    )
    history = graphene.List(
        graphene.NonNull(LifecycleStageTransition),
        description="MANAGE_USERS. Every stage move, oldest first, with its rule and facts.",
    )
    tier_history = graphene.List(
        graphene.NonNull(LifecycleTierChange), description="MANAGE_USERS. Every tier change, oldest first."
    )

    # The root is a CustomerProfile row.
    @staticmethod
    def resolve_user_id(profile: CustomerProfile, info: Any) -> str | None:
        return saleor_user_id(profile.user_id)

    @staticmethod
    def resolve_stage(profile: CustomerProfile, info: Any) -> CustomerProfile:
        return profile

    @staticmethod
    def resolve_tier(profile: CustomerProfile, info: Any) -> CustomerProfile | None:
        return profile if profile.tier else None

    @staticmethod
    def resolve_tier_progress(profile: CustomerProfile, info: Any) -> list:
        spend = {currency: Decimal(amount) for currency, amount in profile.window_spend.items()}
        return tier_progress(spend, profile.tier, info.context.config)

    @staticmethod
    def resolve_orders_by_currency(profile: CustomerProfile, info: Any) -> list[LifecycleCurrencyCount]:
        return [
            LifecycleCurrencyCount(currency=currency, count=count)
            for currency, count in sorted(profile.orders_by_currency.items())
        ]

    @staticmethod
    def resolve_lifetime_spend(profile: CustomerProfile, info: Any) -> list[LifecycleMoney]:
        return money_list(profile.lifetime_spend)

    @staticmethod
    def resolve_tier_window_spend(profile: CustomerProfile, info: Any) -> list[LifecycleMoney]:
        return money_list(profile.window_spend)

    @staticmethod
    def resolve_referrals_made(profile: CustomerProfile, info: Any) -> int:
        return int(profile.extra_facts.get("referrals_made", 0) or 0)

    @staticmethod
    def resolve_referrals_rewarded(profile: CustomerProfile, info: Any) -> int:
        return int(profile.extra_facts.get("referrals_rewarded", 0) or 0)

    @staticmethod
    def resolve_advocate(profile: CustomerProfile, info: Any) -> bool:
        return advocate_of(profile.extra_facts)

    @staticmethod
    @staff_only
    def resolve_stage_rule(profile: CustomerProfile, info: Any) -> str:
        return profile.stage_rule

    @staticmethod
    @staff_only
    def resolve_decided_at(profile: CustomerProfile, info: Any):
        return profile.decided_at

    @staticmethod
    @staff_only
    def resolve_next_check_at(profile: CustomerProfile, info: Any):
        return profile.next_check_at

    @staticmethod
    @staff_only
    def resolve_extra_facts(profile: CustomerProfile, info: Any) -> dict:
        return profile.extra_facts

    @staticmethod
    @staff_only
    def resolve_prediction(profile: CustomerProfile, info: Any) -> CustomerProfile | None:
        return profile if profile.predicted_at is not None else None

    @staticmethod
    @staff_only
    def resolve_history(profile: CustomerProfile, info: Any):
        return info.context.transitions.load(profile.pk)

    @staticmethod
    @staff_only
    def resolve_tier_history(profile: CustomerProfile, info: Any):
        return info.context.tier_changes.load(profile.pk)


class LifecycleCustomerConnection(graphene.relay.Connection):
    """A page of customers, ordered by their profile's creation (oldest first)."""

    class Meta:
        node = CustomerLifecycle

    total_count = graphene.Int(required=True, description="Customers matching the filter, on every page.")

    @staticmethod
    def resolve_total_count(connection: Any, info: Any) -> int:
        return connection.matching.count()
