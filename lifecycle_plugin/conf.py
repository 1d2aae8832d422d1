"""Every setting of the plugin, defined once.

The Saleor plugin builds its Dashboard fields (CONFIG_STRUCTURE and
DEFAULT_CONFIGURATION) from `SETTINGS`; the sandbox reads the same definitions.
Values arrive as strings from the Dashboard; `load_settings` parses and validates
all of them and raises `ConfigError` naming every bad field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .rules import ConfigError, LifecycleConfig
from .rules.config import format_tiers

# Saleor's ConfigurationTypeField values, repeated so this module needs no Saleor.
STRING = "String"
MULTILINE = "Multiline"
BOOLEAN = "Boolean"
SECRET = "Secret"


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    type: str
    label: str
    help_text: str
    #: Parses the string value; raises ValueError with a plain-words message.
    parse: Callable[[str], Any] | None = None


_DEFAULTS = LifecycleConfig()

#: Stage rules and tiers; their validation lives in LifecycleConfig.
RULE_SETTINGS = [
    Setting("at_risk_days", str(_DEFAULTS.at_risk_days), STRING, "At risk after (days)",
            "A buyer with no order for this many days is at risk. Must be fewer than 'Lapsed after'."),
    Setting("lapsed_days", str(_DEFAULTS.lapsed_days), STRING, "Lapsed after (days)",
            "A buyer with no order for this many days has lapsed."),
    Setting("loyal_min_orders", str(_DEFAULTS.loyal_min_orders), STRING, "Loyal: minimum orders",
            "Orders needed inside the loyalty window to count as loyal (at least 2)."),
    Setting("loyal_window_days", str(_DEFAULTS.loyal_window_days), STRING, "Loyal: window (days)",
            "The trailing window, in days, in which loyal customers place their orders."),
    Setting("personal_gap_min_orders", str(_DEFAULTS.personal_gap_min_orders), STRING,
            "Personal rhythm: minimum orders",
            "From this many orders on, a customer is also at risk when overdue on their own rhythm."),
    Setting("personal_gap_multiplier", str(_DEFAULTS.personal_gap_multiplier), STRING,
            "Personal rhythm: multiplier",
            "At risk after this many times the customer's median gap between orders (e.g. 2 or 1.5)."),
    Setting("personal_gap_floor_days", str(_DEFAULTS.personal_gap_floor_days), STRING,
            "Personal rhythm: minimum days",
            "The personal at-risk threshold is never shorter than this many days."),
    Setting("count_only_paid", "false", BOOLEAN, "Count only paid orders",
            "When on, an order counts as a purchase only once it is fully paid."),
    Setting("tier_window_days", str(_DEFAULTS.tier_window_days), STRING, "Tier spend window (days)",
            "Loyalty tiers are reached by spend in this trailing window."),
    Setting("tiers", format_tiers(_DEFAULTS.tiers), MULTILINE, "Loyalty tiers",
            "One tier per line, lowest first: 'name: USD 100, EUR 100'. A tier is reached by spending "
            "at least its threshold in any one currency; amounts in different currencies never add up."),
]

#: Settings of the built-in actions; the actions package appends its own here.
ACTION_SETTINGS: list[Setting] = []


def all_settings() -> list[Setting]:
    return [*RULE_SETTINGS, *ACTION_SETTINGS]


def default_values() -> dict[str, str]:
    return {s.name: s.default for s in all_settings()}


@dataclass(frozen=True)
class LoadedSettings:
    config: LifecycleConfig
    #: Parsed action settings by name (and the raw rule settings, for reference).
    values: Mapping[str, Any]


def load_settings(values: Mapping[str, Any]) -> LoadedSettings:
    """Parse and validate every setting; missing or empty ones take their default.

    Raises ConfigError whose `errors` maps each bad field's name to what is allowed.
    """
    merged = {**default_values(), **{k: v for k, v in values.items() if v not in (None, "")}}
    errors: dict[str, str] = {}
    try:
        config = LifecycleConfig.from_settings({s.name: merged[s.name] for s in RULE_SETTINGS})
    except ConfigError as exc:
        errors.update(exc.errors)
        config = None
    parsed: dict[str, Any] = {}
    for setting in ACTION_SETTINGS:
        raw = merged.get(setting.name, setting.default)
        try:
            parsed[setting.name] = setting.parse(raw) if setting.parse else raw
        except ValueError as exc:
            errors[setting.name] = str(exc)
    if errors:
        raise ConfigError(errors)
    return LoadedSettings(config=config, values=parsed)


def normalise_dashboard_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The Dashboard stores Boolean fields as booleans; the parsers take strings."""
    return {name: ("true" if value is True else "false" if value is False else value) for name, value in values.items()}


def label_of(name: str) -> str:
    for setting in all_settings():
        if setting.name == name:
            return setting.label
    return name
