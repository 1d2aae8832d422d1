"""Pure lifecycle rules: no Django, no database, no I/O; the clock is an argument.

    decision = decide(facts, config, now)
"""

from .config import DEFAULT_TIERS, ConfigError, LifecycleConfig, Tier, format_tiers, parse_tiers
from .decide import Decision, Rule, Summary, TierProgress, at_risk_after, counts, decide, tier_for, tier_progress
from .facts import CustomerFacts, OrderFact, OrderState
from .stages import (
    ACTIVE_BUYER,
    BUYER_RANK,
    DORMANT,
    PRE_PURCHASE,
    STAGE_DESCRIPTIONS,
    STAGE_LABELS,
    Stage,
    is_win_back,
    stage_label,
    tier_label,
)

__all__ = [
    "ACTIVE_BUYER",
    "BUYER_RANK",
    "DEFAULT_TIERS",
    "DORMANT",
    "PRE_PURCHASE",
    "STAGE_DESCRIPTIONS",
    "STAGE_LABELS",
    "ConfigError",
    "CustomerFacts",
    "Decision",
    "LifecycleConfig",
    "OrderFact",
    "OrderState",
    "Rule",
    "Stage",
    "Summary",
    "Tier",
    "TierProgress",
    "at_risk_after",
    "counts",
    "decide",
    "format_tiers",
    "is_win_back",
    "parse_tiers",
    "stage_label",
    "tier_for",
    "tier_label",
    "tier_progress",
]
