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
from .rules.config import MAX_AMOUNT, MAX_DAYS, MAX_MULTIPLIER, MAX_ORDERS, format_tiers

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
_LABELS = LifecycleConfig.FIELD_LABELS

RULE_SETTINGS = [
    Setting("at_risk_days", str(_DEFAULTS.at_risk_days), STRING, _LABELS["at_risk_days"],
            f"A buyer with no order for this many days is at risk (1 to {MAX_DAYS}). Must be fewer than "
            "'Lapsed after'."),
    Setting("lapsed_days", str(_DEFAULTS.lapsed_days), STRING, _LABELS["lapsed_days"],
            f"A buyer with no order for this many days has lapsed (2 to {MAX_DAYS})."),
    Setting("loyal_min_orders", str(_DEFAULTS.loyal_min_orders), STRING, _LABELS["loyal_min_orders"],
            f"Orders needed inside the loyalty window to count as loyal (2 to {MAX_ORDERS})."),
    Setting("loyal_window_days", str(_DEFAULTS.loyal_window_days), STRING, _LABELS["loyal_window_days"],
            f"The trailing window, in days, in which loyal customers place their orders (1 to {MAX_DAYS})."),
    Setting("personal_gap_min_orders", str(_DEFAULTS.personal_gap_min_orders), STRING,
            _LABELS["personal_gap_min_orders"],
            "From this many orders on, a customer is also at risk when overdue on their own rhythm "
            f"(2 to {MAX_ORDERS})."),
    Setting("personal_gap_multiplier", str(_DEFAULTS.personal_gap_multiplier), STRING,
            _LABELS["personal_gap_multiplier"],
            "At risk after this many times the customer's median gap between orders (e.g. 2 or 1.5; "
            f"more than 0, at most {MAX_MULTIPLIER})."),
    Setting("personal_gap_floor_days", str(_DEFAULTS.personal_gap_floor_days), STRING,
            _LABELS["personal_gap_floor_days"],
            "The personal at-risk threshold is never shorter than this many days (1 to 'At risk after')."),
    Setting("count_only_paid", "false", BOOLEAN, _LABELS["count_only_paid"],
            "When on, an order counts as a purchase only once it is fully paid."),
    Setting("tier_window_days", str(_DEFAULTS.tier_window_days), STRING, _LABELS["tier_window_days"],
            f"Loyalty tiers are reached by spend in this trailing window (1 to {MAX_DAYS} days)."),
    Setting("tiers", format_tiers(_DEFAULTS.tiers), MULTILINE, _LABELS["tiers"],
            "One tier per line, lowest first: 'name: USD 100, EUR 100'. A tier is reached by spending "
            "at least its threshold in any one currency; amounts in different currencies never add up. "
            f"Thresholds: more than 0, at most {MAX_AMOUNT:,}."),
]

#: Settings of the built-in actions; the actions package appends its own here.
ACTION_SETTINGS: list[Setting] = []

# ---------------------------------------------------------------------------- built-in actions
# The parsers live beside the actions (lifecycle_plugin/actions/options.py, which
# imports no Django models), so this module stays free of import cycles.
from .actions import MESSAGE_ACTIONS  # noqa: E402
from .actions import options as _actions  # noqa: E402
from .actions.rendering import PARTS as _TEMPLATE_PARTS  # noqa: E402
from .actions.rendering import template_setting_name  # noqa: E402

_OFF_BY_DEFAULT = (
    " Off by default: decide on consent and amounts first, then switch it on. Switching it off "
    "stops new messages and vouchers and keeps the history of what was sent."
)
_DISCOUNT_HELP = (
    "A percentage of the whole order such as '15%' (1 to 100), or fixed amounts per currency such as "
    f"'USD 10, EUR 10, PLN 40', each more than 0 and at most {MAX_AMOUNT:,} (a channel whose currency is "
    "not listed gets no voucher)."
)

ACTION_SETTINGS.extend([
    # How messages leave, and who may receive them.
    Setting("delivery_channel", _actions.DELIVERY_EMAIL, STRING, "Messages: delivery channel",
            "'email': the plugin sends e-mail itself with Django's mail settings (in Saleor, EMAIL_URL and "
            "DEFAULT_FROM_EMAIL). 'notify': a notify event lifecycle_<action> that apps subscribed to "
            "NOTIFY_USER receive with the message and its data.",
            _actions.parse_delivery_channel),
    Setting("marketing_consent_key", "", STRING, "Messages: marketing consent metadata key",
            "The customer metadata key that records consent to marketing (private metadata wins over "
            "public). Customers whose value is not true/yes/1/on/granted get no marketing messages or "
            "vouchers; every built-in action is marketing. Empty: no consent check.",
            _actions.parse_metadata_key),
    # Repeat-purchase discount.
    Setting("repeat_purchase_enabled", "false", BOOLEAN, "Repeat-purchase discount: on",
            "Send customers a personal single-use voucher when they enter one of the chosen stages "
            "(by default 'new': after their first order)." + _OFF_BY_DEFAULT,
            _actions.parse_switch),
    Setting("repeat_purchase_stages", "new", STRING, "Repeat-purchase discount: stages",
            "Stage codes, separated by commas, whose customers earn the voucher: new, repeat, loyal, "
            "at_risk, lapsed. A customer earns it once per stage; it is issued in the channel of their "
            "latest order.",
            _actions.stage_list_parser(_actions.BUYER_STAGES, "a voucher is issued in the channel of an order")),
    Setting("repeat_purchase_discount", "10%", STRING, "Repeat-purchase discount: discount",
            _DISCOUNT_HELP, _actions.parse_discount),
    Setting("repeat_purchase_valid_days", "30", STRING, "Repeat-purchase discount: valid for (days)",
            f"The voucher expires this many days after it is issued (1 to {MAX_DAYS}).", _actions.parse_days),
    # Loyalty tiers.
    Setting("tier_upgrade_enabled", "false", BOOLEAN, "Tier upgrade: on",
            "Tell customers when they reach a higher loyalty tier (at most once per tier per tier "
            "window). Downgrades send nothing." + _OFF_BY_DEFAULT,
            _actions.parse_switch),
    Setting("tier_upgrade_voucher", "false", BOOLEAN, "Tier upgrade: include a voucher",
            "Add a personal single-use voucher to the tier-upgrade message.", _actions.parse_switch),
    Setting("tier_upgrade_discount", "10%", STRING, "Tier upgrade: voucher discount",
            _DISCOUNT_HELP, _actions.parse_discount),
    Setting("tier_upgrade_valid_days", "30", STRING, "Tier upgrade: voucher valid for (days)",
            f"The voucher expires this many days after it is issued (1 to {MAX_DAYS}).", _actions.parse_days),
    # Review requests.
    Setting("review_request_enabled", "false", BOOLEAN, "Review request: on",
            "Ask customers to review the products of an order some days after it was fulfilled; "
            "once per order, never for a cancelled or refunded one." + _OFF_BY_DEFAULT,
            _actions.parse_switch),
    Setting("review_request_delay_days", "14", STRING, "Review request: days after fulfilment",
            f"How many days after an order is fulfilled the request is sent (1 to {MAX_DAYS}).", _actions.parse_days),
    # Win-back reminders.
    Setting("winback_reminder_enabled", "false", BOOLEAN, "Win-back reminders: on",
            "Remind customers who stopped ordering, at an interval, until they order again or the "
            "reminders run out." + _OFF_BY_DEFAULT,
            _actions.parse_switch),
    Setting("winback_reminder_stages", "at_risk, lapsed", STRING, "Win-back reminders: stages",
            "Which of at_risk and lapsed start the reminders (the first one reached starts them; one "
            "series per silence).",
            _actions.stage_list_parser(_actions.DORMANT_STAGES, "reminders are for customers who stopped ordering")),
    Setting("winback_reminder_interval_days", "14", STRING, "Win-back reminders: days between reminders",
            f"Days from one reminder to the next (1 to {MAX_DAYS}).", _actions.parse_days),
    Setting("winback_reminder_max_count", "3", STRING, "Win-back reminders: how many",
            f"Reminders at most per silence, from 1 to {_actions.MAX_REMINDERS}.", _actions.parse_reminder_count),
    Setting("winback_reminder_voucher", "false", BOOLEAN, "Win-back reminders: include a voucher",
            "Add one personal single-use voucher to the reminders (the same code in each).", _actions.parse_switch),
    Setting("winback_reminder_discount", "10%", STRING, "Win-back reminders: voucher discount",
            _DISCOUNT_HELP, _actions.parse_discount),
    Setting("winback_reminder_valid_days", "30", STRING, "Win-back reminders: voucher valid for (days)",
            f"The voucher expires this many days after it is issued (1 to {MAX_DAYS}).", _actions.parse_days),
])

_ACTION_LABELS = {
    "repeat_purchase": "Repeat-purchase discount",
    "tier_upgrade": "Tier upgrade",
    "review_request": "Review request",
    "winback_reminder": "Win-back reminders",
}
_TEMPLATE_HELP = (
    "A Django template; empty uses the shipped one (lifecycle_plugin/templates/lifecycle_plugin/{file}). "
    "Variables: customer.first_name, customer.name, customer.email, stage, stage_label, tier, tier_label, "
    "voucher.code, voucher.discount, voucher.valid_until_date, products (name, variant, quantity), order "
    "(placed_at, total, currency), reminder.number, reminder.count; see docs/actions.md."
)
for _action in MESSAGE_ACTIONS:
    for _part, (_suffix, _html) in _TEMPLATE_PARTS.items():
        ACTION_SETTINGS.append(
            Setting(template_setting_name(_action, _part), "", MULTILINE,
                    f"{_ACTION_LABELS[_action]}: {'HTML' if _html else _part} template",
                    _TEMPLATE_HELP.format(file=f"{_action}.{_suffix}"), _actions.template_parser(_part))
        )
del _action, _part, _suffix, _html

# ---------------------------------------------------------------------------- third-party hooks
from .hooks import HOOK_TIMEOUT_DEFAULT, HOOK_TIMEOUT_MAX, HOOK_TIMEOUT_MIN, parse_hook_timeout  # noqa: E402

ACTION_SETTINGS.append(
    Setting("hook_timeout_seconds", f"{HOOK_TIMEOUT_DEFAULT:g}", STRING, "Hooks: time limit (seconds)",
            f"How long one hook implementation may run, delivering a message included (e-mail, notify, a "
            f"plugin's SMS), from {HOOK_TIMEOUT_MIN:g} to {HOOK_TIMEOUT_MAX:g} seconds. One that runs longer "
            "fails like one that raised: it is recorded and retried later, and the other customers of its "
            "batch carry on. A message cut off while it was being handed over may have gone, so it is "
            "never sent again by itself: lifecycle_deliveries lists it.",
            parse_hook_timeout)
)


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


def dashboard_messages(exc: ConfigError) -> dict[str, str]:
    """Each bad field's message as the Dashboard shows it: opening with the field's label."""
    return {name: f"{label_of(name)}: {message}" for name, message in exc.errors.items()}


def label_of(name: str) -> str:
    for setting in all_settings():
        if setting.name == name:
            return setting.label
    return name
