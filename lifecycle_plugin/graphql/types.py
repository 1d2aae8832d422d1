"""GraphQL types of the lifecycle API (graphene 2).

Every type name starts with ``Lifecycle`` (or is ``CustomerLifecycle``) so that a
federation gateway composing this schema with Saleor's never meets two different
types of the same name; only the shared scalars (DateTime, JSON) and relay's
PageInfo, which are identical to Saleor's, are not prefixed.

Stages and tiers are shown the same way: an enum ``code`` with a value for each
code of the default ladder plus ``CUSTOM``, and the stored code as ``key``. The enum
is fixed when the schema is built, so it cannot list what a store adds at run time
(a plugin's ``advocate`` stage, a ``vip`` tier named in the Dashboard): those are
``CUSTOM`` with their own ``key``, and the exported schema stays the same for every
store. `lifecycleConfig.tiers` lists the tiers in force, lowest first.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from typing import Any

import graphene
from graphene.types.generic import GenericScalar
from graphql_relay import to_global_id

from ..conf import label_of
from ..models import CustomerProfile, StageTransition
from ..rules import DEFAULT_TIERS, STAGE_DESCRIPTIONS, STAGE_LABELS, LifecycleConfig, Stage, tier_progress

#: The enum value that stands for every stage a plugin added (its code is in `key`).
CUSTOM_STAGE = "custom"
BUILTIN_STAGE_KEYS = frozenset(stage.value for stage in Stage)
#: The enum value that stands for every tier the owner named otherwise than the defaults.
CUSTOM_TIER = "custom"
DEFAULT_TIER_KEYS = tuple(tier.code for tier in DEFAULT_TIERS)
SALEOR_USER_TYPE = "User"


def staff_only(resolver: Callable) -> Callable:
    """Fields with internals (rules, facts, history) need MANAGE_USERS even on one's own profile."""

    @wraps(resolver)
    def guarded(root: Any, info: Any, **kwargs: Any) -> Any:
        info.context.require_manage_users()
        return resolver(root, info, **kwargs)

    return guarded


def saleor_user_id(pk: int | None) -> str | None:
    """Saleor's global ID of an account: base64 of "User:<pk>"."""
    return to_global_id(SALEOR_USER_TYPE, pk) if pk is not None else None


def money_list(amounts: dict[str, Any]) -> list[LifecycleMoney]:
    """Stored amounts (currency -> decimal string) as Money objects, by currency code."""
    return [LifecycleMoney(currency=currency, amount=Decimal(amount)) for currency, amount in sorted(amounts.items())]


# ---------------------------------------------------------------------- scalars and enums


class JSON(GenericScalar):
    """Any JSON value (object, list, string, number, boolean or null)."""


StageCodeValues = enum.Enum(
    "LifecycleStageCode", [(stage.name, stage.value) for stage in Stage] + [("CUSTOM", CUSTOM_STAGE)]
)


def _describe_stage_code(value: Any) -> str:
    if value is None:
        return (
            "A lifecycle stage of the built-in ladder. The codes are stable API. CUSTOM stands for any "
            "stage that an installed plugin added (for example `advocate`); its own code is in `key`."
        )
    if value.value == CUSTOM_STAGE:
        return "A stage added by an installed plugin; read its code from `key`."
    stage = Stage(value.value)
    return f"{STAGE_LABELS[stage]}: {STAGE_DESCRIPTIONS[stage]}"


LifecycleStageCode = graphene.Enum.from_enum(StageCodeValues, description=_describe_stage_code)

TransitionReasonValues = enum.Enum(
    "LifecycleTransitionReason", [(code.upper(), code) for code, _ in StageTransition.REASON_CHOICES]
)
_REASON_LABELS = dict(StageTransition.REASON_CHOICES)

LifecycleTransitionReason = graphene.Enum.from_enum(
    TransitionReasonValues,
    description=lambda value: "Why a customer changed stage or tier." if value is None else _REASON_LABELS[value.value],
)


TierCodeValues = enum.Enum(
    "LifecycleTierCode", [(key.upper(), key) for key in DEFAULT_TIER_KEYS] + [("CUSTOM", CUSTOM_TIER)]
)


def _describe_tier_code(value: Any) -> str:
    if value is None:
        return (
            "A loyalty tier. The default tiers have their own values; a tier the store owner named otherwise "
            "in the `tiers` setting (for example `vip`) is CUSTOM, with its own code in `key`. "
            "`lifecycleConfig { tiers }` lists the tiers in force."
        )
    if value.value == CUSTOM_TIER:
        return "A tier named in the store's settings that is not a default tier; read its code from `key`."
    return f"The default tier `{value.value}` (its thresholds are the store's settings)."


LifecycleTierCode = graphene.Enum.from_enum(TierCodeValues, description=_describe_tier_code)


def tier_code(key: str) -> str:
    return key if key in DEFAULT_TIER_KEYS else CUSTOM_TIER


def tier_label(key: str) -> str:
    return key.replace("_", " ").title()


def tier_rank(key: str, info: Any) -> int | None:
    codes = info.context.config.tier_codes
    return codes.index(key) if key in codes else None


def stage_code(key: str) -> str:
    return key if key in BUILTIN_STAGE_KEYS else CUSTOM_STAGE


def stage_label(key: str) -> str:
    if key in BUILTIN_STAGE_KEYS:
        return STAGE_LABELS[Stage(key)]
    return key.replace("_", " ").capitalize()


# ---------------------------------------------------------------------- small value types


class LifecycleMoney(graphene.ObjectType):
    """An amount in one currency. Amounts of different currencies are never added up."""

    currency = graphene.String(required=True, description="ISO 4217 code, e.g. USD.")
    amount = graphene.Float(required=True)


class LifecycleCurrencyCount(graphene.ObjectType):
    currency = graphene.String(required=True)
    count = graphene.Int(required=True)


class LifecycleStage(graphene.ObjectType):
    """A stage: its enum code, its stored key and its label."""

    code = graphene.Field(LifecycleStageCode, required=True)
    key = graphene.String(
        required=True,
        description="The stage's stored code, e.g. `at_risk` (or `advocate` for a plugin's stage); "
        "the same value as the `lifecycle.stage` public metadata.",
    )
    label = graphene.String(required=True)

    # The root is the stage key (a string).
    @staticmethod
    def resolve_code(key: str, info: Any) -> str:
        return stage_code(key)

    @staticmethod
    def resolve_key(key: str, info: Any) -> str:
        return key

    @staticmethod
    def resolve_label(key: str, info: Any) -> str:
        return stage_label(key)


class LifecycleTier(graphene.ObjectType):
    """A loyalty tier: its enum code, its key in the settings, its label and rank."""

    code = graphene.Field(LifecycleTierCode, required=True)
    key = graphene.String(
        required=True,
        description="The tier's code in the settings, e.g. `gold` (or `vip`); the same value as the "
        "`lifecycle.tier` public metadata.",
    )
    label = graphene.String(required=True)
    rank = graphene.Int(
        description="Position in the configured tiers, 0 for the lowest; null if the tier is no longer configured."
    )

    # The root is the tier key (a string).
    @staticmethod
    def resolve_code(key: str, info: Any) -> str:
        return tier_code(key)

    @staticmethod
    def resolve_key(key: str, info: Any) -> str:
        return key

    @staticmethod
    def resolve_label(key: str, info: Any) -> str:
        return tier_label(key)

    @staticmethod
    def resolve_rank(key: str, info: Any) -> int | None:
        return tier_rank(key, info)


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

    stage_rule = graphene.String(description="MANAGE_USERS. The rule that decided the current stage.")
    decided_at = graphene.DateTime(description="MANAGE_USERS. When the engine last decided.")
    next_check_at = graphene.DateTime(
        description="MANAGE_USERS. When the stage or tier changes next if nothing else happens."
    )
    extra_facts = graphene.Field(JSON, description="MANAGE_USERS. Facts that plugins contributed.")
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


# ---------------------------------------------------------------------- statistics


class LifecycleStageCount(graphene.ObjectType):
    stage = graphene.Field(LifecycleStage, required=True)
    count = graphene.Int(required=True)


class LifecycleTierCount(graphene.ObjectType):
    tier = graphene.Field(LifecycleTier, description="Null counts the customers below every tier.")
    count = graphene.Int(required=True)


class LifecycleStageMove(graphene.ObjectType):
    """Moves from one stage to another within a period."""

    from_stage = graphene.Field(LifecycleStage, description="Null for customers first seen in the period.")
    to_stage = graphene.Field(LifecycleStage, required=True)
    count = graphene.Int(required=True, description="Moves (a customer may make the same move twice).")
    customers = graphene.Int(required=True, description="Distinct customers who made this move.")
    rate = graphene.Float(
        description="`customers` divided by the customers who were in `fromStage` at some time in the period "
        "(at its start or by entering it); null when `fromStage` is null."
    )


class LifecycleFunnelStage(graphene.ObjectType):
    stage = graphene.Field(LifecycleStage, required=True)
    customers = graphene.Int(
        required=True,
        description="Customers in this stage at some time in the period (at its start or by entering it).",
    )
    entered = graphene.Int(required=True, description="Moves into this stage in the period.")
    left = graphene.Int(required=True, description="Moves out of this stage in the period.")


class LifecycleFunnel(graphene.ObjectType):
    """Stage moves in the half-open period [since, until), from the transition history."""

    since = graphene.DateTime(required=True)
    until = graphene.DateTime(required=True)
    moves = graphene.List(graphene.NonNull(LifecycleStageMove), required=True)
    stages = graphene.List(graphene.NonNull(LifecycleFunnelStage), required=True)


# ---------------------------------------------------------------------- configuration


class LifecycleThreshold(graphene.ObjectType):
    """One setting a stage's rule uses, with the value in force."""

    name = graphene.String(required=True, description="The setting's name, e.g. `at_risk_days`.")
    label = graphene.String(required=True)
    value = graphene.String(required=True)


STAGE_THRESHOLDS: dict[Stage, tuple[str, ...]] = {
    Stage.VISITOR: (),
    Stage.LEAD: (),
    Stage.PROSPECT: (),
    Stage.NEW: ("count_only_paid",),
    Stage.REPEAT: ("count_only_paid",),
    Stage.LOYAL: ("loyal_min_orders", "loyal_window_days", "count_only_paid"),
    Stage.AT_RISK: ("at_risk_days", "personal_gap_min_orders", "personal_gap_multiplier", "personal_gap_floor_days"),
    Stage.LAPSED: ("lapsed_days",),
}


def setting_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


class LifecycleStageDefinition(graphene.ObjectType):
    """A stage of the built-in ladder and the thresholds its rule uses now."""

    code = graphene.Field(LifecycleStageCode, required=True)
    key = graphene.String(required=True)
    label = graphene.String(required=True)
    description = graphene.String(required=True)
    thresholds = graphene.List(graphene.NonNull(LifecycleThreshold), required=True)

    # The root is a rules.Stage.
    @staticmethod
    def resolve_code(stage: Stage, info: Any) -> str:
        return stage.value

    @staticmethod
    def resolve_key(stage: Stage, info: Any) -> str:
        return stage.value

    @staticmethod
    def resolve_label(stage: Stage, info: Any) -> str:
        return STAGE_LABELS[stage]

    @staticmethod
    def resolve_description(stage: Stage, info: Any) -> str:
        return STAGE_DESCRIPTIONS[stage]

    @staticmethod
    def resolve_thresholds(stage: Stage, info: Any) -> list[LifecycleThreshold]:
        config = info.context.config
        return [
            LifecycleThreshold(name=name, label=label_of(name), value=setting_text(getattr(config, name)))
            for name in STAGE_THRESHOLDS[stage]
        ]


class LifecycleTierDefinition(graphene.ObjectType):
    """A tier in force and the spend that reaches it."""

    code = graphene.Field(LifecycleTierCode, required=True)
    key = graphene.String(required=True, description="The tier's code in the settings, e.g. `gold`.")
    label = graphene.String(required=True)
    rank = graphene.Int(required=True, description="0 for the lowest tier.")
    thresholds = graphene.List(
        graphene.NonNull(LifecycleMoney),
        required=True,
        description="Spend in the tier window that reaches the tier, per currency (any one suffices).",
    )

    # Built with key, rank and thresholds (see LifecycleConfiguration.resolve_tiers).
    @staticmethod
    def resolve_code(definition: Any, info: Any) -> str:
        return tier_code(definition.key)

    @staticmethod
    def resolve_label(definition: Any, info: Any) -> str:
        return tier_label(definition.key)


class LifecycleConfiguration(graphene.ObjectType):
    """Every threshold of the rules (see the plugin settings for their meaning)."""

    at_risk_days = graphene.Int(required=True)
    lapsed_days = graphene.Int(required=True)
    loyal_min_orders = graphene.Int(required=True)
    loyal_window_days = graphene.Int(required=True)
    personal_gap_min_orders = graphene.Int(required=True)
    personal_gap_multiplier = graphene.Float(required=True)
    personal_gap_floor_days = graphene.Int(required=True)
    count_only_paid = graphene.Boolean(required=True)
    tier_window_days = graphene.Int(required=True)
    tiers = graphene.List(graphene.NonNull(LifecycleTierDefinition), required=True, description="Lowest first.")

    # The root is a rules.LifecycleConfig; the scalar fields resolve by attribute.
    @staticmethod
    def resolve_tiers(config: LifecycleConfig, info: Any) -> list[LifecycleTierDefinition]:
        return [
            LifecycleTierDefinition(key=tier.code, rank=rank, thresholds=money_list(dict(tier.thresholds)))
            for rank, tier in enumerate(config.tiers)
        ]


class LifecycleMoneyInput(graphene.InputObjectType):
    currency = graphene.String(required=True, description="ISO 4217 code, e.g. USD.")
    amount = graphene.Float(required=True)


class LifecycleTierInput(graphene.InputObjectType):
    code = graphene.String(required=True, description="Lower-case letters, digits and underscores, e.g. `gold`.")
    thresholds = graphene.List(graphene.NonNull(LifecycleMoneyInput), required=True)


class LifecycleConfigInput(graphene.InputObjectType):
    """Candidate thresholds. A field left out keeps the value in force."""

    at_risk_days = graphene.Int()
    lapsed_days = graphene.Int()
    loyal_min_orders = graphene.Int()
    loyal_window_days = graphene.Int()
    personal_gap_min_orders = graphene.Int()
    personal_gap_multiplier = graphene.Float()
    personal_gap_floor_days = graphene.Int()
    count_only_paid = graphene.Boolean()
    tier_window_days = graphene.Int()
    tiers = graphene.List(graphene.NonNull(LifecycleTierInput), description="The whole tier list, lowest first.")


class LifecycleWhatIfMove(graphene.ObjectType):
    from_stage = graphene.Field(LifecycleStage, required=True, description="The stage under the thresholds in force.")
    to_stage = graphene.Field(LifecycleStage, required=True, description="The stage under the candidate thresholds.")
    count = graphene.Int(required=True)


class LifecycleWhatIf(graphene.ObjectType):
    """The stage and tier distribution candidate thresholds would produce. Nothing is written."""

    evaluated_at = graphene.DateTime(required=True, description="The clock the rules were run for.")
    customers_read = graphene.Int(required=True, description="Customers read from the store.")
    customers_evaluated = graphene.Int(
        required=True, description="Customers with an account, an order or a cart (the others have no stage)."
    )
    complete = graphene.Boolean(required=True, description="False when `sampleLimit` stopped the run early.")
    config = graphene.Field(LifecycleConfiguration, required=True, description="The candidate thresholds in full.")
    stages = graphene.List(graphene.NonNull(LifecycleStageCount), required=True)
    tiers = graphene.List(graphene.NonNull(LifecycleTierCount), required=True)
    current_stages = graphene.List(
        graphene.NonNull(LifecycleStageCount),
        required=True,
        description="The same customers under the thresholds in force, for comparison (built-in rules only).",
    )
    current_tiers = graphene.List(graphene.NonNull(LifecycleTierCount), required=True)
    stage_moves = graphene.List(
        graphene.NonNull(LifecycleWhatIfMove), required=True, description="Customers whose stage would change."
    )


# ---------------------------------------------------------------------- inputs of the staff list


class LifecycleDateTimeRangeInput(graphene.InputObjectType):
    gte = graphene.DateTime(description="At or after (a time without zone is read as UTC).")
    lte = graphene.DateTime(description="At or before (a time without zone is read as UTC).")


class LifecycleCustomerFilterInput(graphene.InputObjectType):
    stages = graphene.List(graphene.NonNull(LifecycleStageCode), description="Any of these stages.")
    tiers = graphene.List(
        graphene.NonNull(LifecycleTierCode), description="Any of these tiers; CUSTOM: any tier that is not a default."
    )
    tier_keys = graphene.List(
        graphene.NonNull(graphene.String), description="Any of these tiers by their code in the settings, e.g. `vip`."
    )
    has_tier = graphene.Boolean(description="True: in some tier; false: below every tier.")
    has_account = graphene.Boolean(description="True: registered customers; false: guests.")
    stage_since = graphene.Field(LifecycleDateTimeRangeInput, description="When they entered their stage.")
    tier_since = graphene.Field(LifecycleDateTimeRangeInput, description="When they reached their tier.")
    first_order_at = graphene.Field(LifecycleDateTimeRangeInput)
    last_order_at = graphene.Field(LifecycleDateTimeRangeInput)


class LifecycleRecomputePayload(graphene.ObjectType):
    customer = graphene.Field(CustomerLifecycle, description="The profile after the recompute.")
    stage_changed = graphene.Boolean(required=True)
    tier_changed = graphene.Boolean(required=True)
