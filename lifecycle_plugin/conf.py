"""Every setting of the plugin: the engine's own here, each action's declared through a hook.

The stage rules, tiers and the hook time limit are defined below. Every action, built-in
or third party, declares its settings through the ``lifecycle_declare_settings`` hook
(see ``hookspecs.py``), so this module imports no action. The Saleor plugin builds its
Dashboard fields (CONFIG_STRUCTURE and DEFAULT_CONFIGURATION) from `all_settings()`;
the sandbox reads the same definitions. Values arrive as strings from the Dashboard;
`load_settings` parses and validates all of them and raises `ConfigError` naming every
bad field by its Dashboard label.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.template import TemplateSyntaxError

from .hooks import HOOK_TIMEOUT_DEFAULT, HOOK_TIMEOUT_MAX, HOOK_TIMEOUT_MIN, parse_hook_timeout, process_plugin_manager
from .rules import ConfigError, LifecycleConfig
from .rules.ladder import sql_unsupported
from .rules.config import MAX_AMOUNT, MAX_DAYS, MAX_MULTIPLIER, MAX_ORDERS, format_tiers, parse_bool, parse_decimal
from .templating import compile_template

logger = logging.getLogger(__name__)

# The kinds of setting. The first four are Saleor's ConfigurationTypeField values,
# repeated so this module needs no Saleor; the others show as a one-line text field.
STRING = "String"
MULTILINE = "Multiline"
BOOLEAN = "Boolean"
SECRET = "Secret"
INTEGER = "Integer"
DECIMAL = "Decimal"
CHOICE = "Choice"
#: A Django template (a multi-line field); the owner's text must compile.
TEMPLATE = "Template"

TYPES = (STRING, MULTILINE, BOOLEAN, SECRET, INTEGER, DECIMAL, CHOICE, TEMPLATE)

#: The Dashboard field each kind is typed into.
DASHBOARD_TYPES = {INTEGER: STRING, DECIMAL: STRING, CHOICE: STRING, TEMPLATE: MULTILINE}


@dataclass(frozen=True)
class Setting:
    """One setting: a Dashboard field with its label, help, default and validation.

    ``validate`` runs on the value after the kind's own check (a whole number in its
    bounds, one of the choices, ...) and returns the value the actions get, or raises
    ValueError with a message in plain words. It also accepts its own output, so code
    that hands the engine already-parsed values goes through the same checks.
    """

    name: str
    #: As the Dashboard stores it: text (``True`` and numbers are written as text).
    default: Any
    type: str
    label: str
    help_text: str
    validate: Callable[[Any], Any] | None = None
    #: Bounds of an INTEGER or DECIMAL setting (None: unbounded on that side).
    minimum: int | Decimal | None = None
    maximum: int | Decimal | None = None
    #: The values a CHOICE setting allows.
    choices: tuple[str, ...] = ()

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"setting {self.name!r}: type must be one of {', '.join(TYPES)}, got {self.type!r}")
        if self.type == CHOICE and not self.choices:
            raise ValueError(f"setting {self.name!r}: a CHOICE setting needs its choices")
        if not (self.name and self.label and self.help_text):
            raise ValueError(f"setting {self.name!r}: a setting needs a name, a label and a help text")
        object.__setattr__(self, "choices", tuple(self.choices))
        object.__setattr__(self, "default", _as_text(self.default))

    @property
    def dashboard_type(self) -> str:
        return DASHBOARD_TYPES.get(self.type, self.type)

    def parse(self, raw: Any) -> Any:
        """The value the actions get; raises ValueError with a message in plain words."""
        value = _KIND_PARSERS.get(self.type, _unchanged)(self, raw)
        return self.validate(value) if self.validate else value


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _unchanged(setting: Setting, raw: Any) -> Any:
    return raw


def whole_number(raw: Any, minimum: int | None = None, maximum: int | None = None, unit: str = "") -> int:
    """A whole number from `minimum` to `maximum` (either may be None), with `unit` in the messages."""
    units = f" of {unit}" if unit else ""
    if isinstance(raw, bool) or not re.fullmatch(r"[+-]?\d+", str(raw).strip()):
        raise ValueError(f"must be a whole number{units}, got {raw!r}")
    value = int(str(raw).strip())
    _check_bounds(value, minimum, maximum, unit)
    return value


def _check_bounds(value: Any, minimum: Any, maximum: Any, unit: str = "") -> None:
    unit = f" {unit}" if unit else ""
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        raise ValueError(f"must be from {minimum} to {maximum}{unit}, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"must be at least {minimum}{unit}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be at most {maximum}{unit}, got {value}")


def _integer(setting: Setting, raw: Any) -> int:
    return whole_number(raw, setting.minimum, setting.maximum)


def _decimal(setting: Setting, raw: Any) -> Decimal:
    value = parse_decimal(raw)
    _check_bounds(value, setting.minimum, setting.maximum)
    return value


def _choice(setting: Setting, raw: Any) -> str:
    text = str(raw).strip()
    for choice in setting.choices:
        if text.casefold() == choice.casefold():
            return choice
    raise ValueError(f"must be one of {', '.join(setting.choices)}, got {raw!r}")


def _template(setting: Setting, raw: Any) -> str:
    text = "" if raw is None else str(raw)
    if text.strip():
        try:
            compile_template(text, "text")
        except TemplateSyntaxError as exc:
            raise ValueError(f"the template has an error: {exc}") from None
    return text


_KIND_PARSERS: dict[str, Callable[[Setting, Any], Any]] = {
    BOOLEAN: lambda setting, raw: parse_bool(raw),
    INTEGER: _integer,
    DECIMAL: _decimal,
    CHOICE: _choice,
    TEMPLATE: _template,
}


# ---------------------------------------------------------------------------- the engine's own

_DEFAULTS = LifecycleConfig()

#: Stage rules and tiers; their validation lives in LifecycleConfig.
_LABELS = LifecycleConfig.FIELD_LABELS

RULE_SETTINGS = [
    Setting("at_risk_days", str(_DEFAULTS.at_risk_days), STRING, _LABELS["at_risk_days"],
            f"A buyer with no order for this many days is at risk (1 to {MAX_DAYS}). Must be fewer than "
            f"'{_LABELS['lapsed_days']}'."),
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
            f"The personal at-risk threshold is never shorter than this many days (1 to '{_LABELS['at_risk_days']}')."),
    Setting("count_only_paid", "false", BOOLEAN, _LABELS["count_only_paid"],
            "When on, an order counts as a purchase only once it is fully paid."),
    Setting("tier_window_days", str(_DEFAULTS.tier_window_days), STRING, _LABELS["tier_window_days"],
            f"Loyalty tiers are reached by spend in this trailing window (1 to {MAX_DAYS} days)."),
    Setting("tiers", format_tiers(_DEFAULTS.tiers), MULTILINE, _LABELS["tiers"],
            "One tier per line, lowest first: 'name: USD 100, EUR 100'. A tier is reached by spending "
            "at least its threshold in any one currency; amounts in different currencies never add up. "
            f"Thresholds: more than 0, at most {MAX_AMOUNT:,}."),
]

#: The engine's own settings besides the rules: how long one hook implementation may run.
ENGINE_SETTINGS = [
    Setting("hook_timeout_seconds", f"{HOOK_TIMEOUT_DEFAULT:g}", STRING, "Hooks: time limit (seconds)",
            f"How long one hook implementation may run, delivering a message included (e-mail, notify, a "
            f"plugin's SMS), from {HOOK_TIMEOUT_MIN:g} to {HOOK_TIMEOUT_MAX:g} seconds. One that runs longer "
            "fails like one that raised: it is recorded and retried later, and the other customers of its "
            "batch carry on. A message cut off while it was being handed over may have gone, so it is "
            "never sent again by itself: lifecycle_deliveries lists it.",
            parse_hook_timeout),
    # Next to the reasons a move is recorded with (`rules.timeline.SETTINGS_CHANGE`).
    Setting("recompute_actions", "false", BOOLEAN, "Settings changes: run actions",
            "When you save changed thresholds or tiers, the customers they affect are recomputed in the "
            "background and their moves are recorded with the reason 'settings_change'. Off (the "
            "default): those moves are quiet, no message is sent and no voucher issued because of them. "
            "On: they run the stage and tier actions as any other move does."),
]


# ---------------------------------------------------------------------------- declared by plugins

@dataclass(frozen=True)
class _Catalogue:
    #: The hook implementations it was built from (held, so none is mistaken for a later one).
    key: tuple[Callable, ...]
    settings: tuple[Setting, ...]
    by_name: Mapping[str, Setting]


_catalogue: _Catalogue | None = None


def _current_catalogue() -> _Catalogue:
    """Every setting, built again only when the plugins that declare settings change."""
    global _catalogue
    impls = process_plugin_manager().hook.lifecycle_declare_settings.get_hookimpls()
    key = tuple(impl.function for impl in impls)
    if _catalogue is None or _catalogue.key != key:
        settings = (*RULE_SETTINGS, *_declared_by(impls), *ENGINE_SETTINGS)
        _catalogue = _Catalogue(key, settings, {setting.name: setting for setting in settings})
    return _catalogue


def _declared_by(impls) -> list[Setting]:
    """The settings the plugins declare through ``lifecycle_declare_settings``.

    Built-in actions first, then third parties, in the order they were registered with
    this process's plugin manager. A plugin whose declaration raises, is not a list of
    `Setting`, takes a name already taken or has a default its own validation refuses
    is logged and left out whole, so one broken plugin never hides the others' fields.
    """
    taken = {setting.name for setting in (*RULE_SETTINGS, *ENGINE_SETTINGS)}
    declared: list[Setting] = []
    for impl in impls:
        try:
            settings = _checked_declaration(impl.function(), taken)
        except Exception:
            logger.exception("lifecycle plugin %s: its settings are left out", impl.plugin_name)
            continue
        declared.extend(settings)
        taken.update(setting.name for setting in settings)
    return declared


def _checked_declaration(result: Any, taken: set[str]) -> list[Setting]:
    settings = list(result or ())
    names = [getattr(setting, "name", None) for setting in settings]
    for setting in settings:
        if not isinstance(setting, Setting):
            raise TypeError(f"lifecycle_declare_settings must return Setting objects, got {setting!r}")
        if setting.name in taken or names.count(setting.name) > 1:
            raise ValueError(f"the setting name {setting.name!r} is taken; prefix it with your plugin's name")
        try:
            setting.parse(setting.default)
        except ValueError as exc:
            raise ValueError(f"setting {setting.name!r}: its default {setting.default!r} is refused: {exc}") from None
    return settings


def all_settings() -> list[Setting]:
    """Every setting, in the order the Dashboard lists them."""
    return list(_current_catalogue().settings)


def default_values() -> dict[str, str]:
    return {s.name: s.default for s in all_settings()}


@dataclass(frozen=True)
class LoadedSettings:
    config: LifecycleConfig
    #: Parsed settings by name, every one but the rules' (those are in `config`).
    values: Mapping[str, Any]


def load_settings(values: Mapping[str, Any]) -> LoadedSettings:
    """Parse and validate every setting; missing or empty ones take their default.

    Raises ConfigError whose `errors` maps each bad field's name to what is allowed,
    in words that name other fields by their Dashboard labels.
    """
    settings = all_settings()
    merged = {**{s.name: s.default for s in settings}, **{k: v for k, v in values.items() if v not in (None, "")}}
    errors: dict[str, str] = {}
    try:
        config = LifecycleConfig.from_settings({s.name: merged[s.name] for s in RULE_SETTINGS})
    except ConfigError as exc:
        errors.update(exc.errors)
        config = None
    parsed: dict[str, Any] = {}
    rule_names = {s.name for s in RULE_SETTINGS}
    for setting in settings:
        if setting.name in rule_names:
            continue
        try:
            parsed[setting.name] = setting.parse(merged[setting.name])
        except ValueError as exc:
            errors[setting.name] = str(exc)
    if errors:
        raise ConfigError(errors, labels={s.name: s.label for s in settings})
    return LoadedSettings(config=config, values=parsed)


def normalise_dashboard_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The Dashboard stores Boolean fields as booleans; the parsers take strings."""
    return {name: ("true" if value is True else "false" if value is False else value) for name, value in values.items()}


def dashboard_messages(exc: ConfigError) -> dict[str, str]:
    """Each bad field's message as the Dashboard shows it: opening with the field's label."""
    return {name: f"{label_of(name)}: {message}" for name, message in exc.errors.items()}


def label_of(name: str) -> str:
    setting = setting_named(name)
    return setting.label if setting else name


def setting_named(name: str) -> Setting | None:
    return _current_catalogue().by_name.get(name)


def check_before_saving(values: Mapping[str, Any]) -> LoadedSettings:
    """`load_settings`, and refuse what the SQL evaluator cannot decide exactly as the event
    path does (`rules.ladder.sql_unsupported`): the backfill, the what-if and a settings
    recompute would otherwise decide some customers differently. For the save paths only
    (Dashboard, `lifecycle-sandbox settings`): stored settings keep loading as before."""
    loaded = load_settings(values)
    problems = sql_unsupported(loaded.config)
    if problems:
        raise ConfigError(problems, labels={s.name: s.label for s in all_settings()})
    return loaded
