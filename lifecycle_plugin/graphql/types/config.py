"""The settings in force as staff read them: thresholds per stage, tiers, the whole configuration."""

from __future__ import annotations

from typing import Any

import graphene

from ...conf import label_of
from ...hooks import PluginInfo, describe_plugins
from ...rules import STAGE_DESCRIPTIONS, LifecycleConfig, Stage, stage_label, tier_label
from .values import LifecycleMoney, LifecycleStageCode, LifecycleTierCode, money_list, tier_code


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
        return stage_label(stage.value)

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


class LifecyclePlugin(graphene.ObjectType):
    """A plugin the engine calls: a built-in action, or hooks an installed package registered."""

    name = graphene.String(
        required=True,
        description="The name it is registered under: its module for a built-in "
        "(`lifecycle_plugin.actions.winback`), its entry point's name for an installed package.",
    )
    distribution = graphene.String(
        description="The package that provides it (`saleor-lifecycle` for the built-ins); "
        "null for a plugin registered by code rather than an entry point."
    )
    version = graphene.String(description="That package's version; null when `distribution` is.")
    builtin = graphene.Boolean(required=True, description="True for the actions that ship with this package.")
    hooks = graphene.List(
        graphene.NonNull(graphene.String),
        required=True,
        description="The hooks it implements, e.g. `lifecycle_stage_changed` (see the plugin-author docs).",
    )

    # The root is a hooks.PluginInfo; every field resolves by attribute.


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
    plugins = graphene.List(
        graphene.NonNull(LifecyclePlugin),
        required=True,
        description="The plugins loaded, built-in ones first, with their versions and the hooks they implement "
        "(what `manage.py lifecycle_plugins` lists).",
    )

    # The root is a rules.LifecycleConfig; the scalar fields resolve by attribute.
    @staticmethod
    def resolve_tiers(config: LifecycleConfig, info: Any) -> list[LifecycleTierDefinition]:
        return [
            LifecycleTierDefinition(key=tier.code, rank=rank, thresholds=money_list(dict(tier.thresholds)))
            for rank, tier in enumerate(config.tiers)
        ]

    @staticmethod
    def resolve_plugins(config: LifecycleConfig, info: Any) -> list[PluginInfo]:
        return describe_plugins(info.context.plugin_manager)
