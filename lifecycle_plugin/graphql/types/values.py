"""Values every part of the schema shares: scalars, the stage, tier and reason enums,
money, and the small stage and tier objects (see the package's docstring for how
stages and tiers are shown)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from typing import Any

import graphene
from graphene.types.generic import GenericScalar
from graphql_relay import to_global_id

from ...models import StageTransition
from ...rules import DEFAULT_TIERS, STAGE_DESCRIPTIONS, Stage, stage_label, tier_label

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
    return f"{stage_label(stage.value)}: {STAGE_DESCRIPTIONS[stage]}"


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


def tier_rank(key: str, info: Any) -> int | None:
    codes = info.context.config.tier_codes
    return codes.index(key) if key in codes else None


def stage_code(key: str) -> str:
    return key if key in BUILTIN_STAGE_KEYS else CUSTOM_STAGE




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
