"""The lifecycle configuration: typed, validated, and parsed from plain settings.

Store owners type these values into the Saleor Dashboard as strings, so every
parse and validation error names the field in words and says what is allowed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .currencies import is_currency_code


class ConfigError(ValueError):
    """One or more settings are invalid. `errors` maps each field name to a message.

    The messages name other fields by their labels, and so does the error's text
    (`labels` maps field names to the labels an owner knows them by).
    """

    def __init__(self, errors: Mapping[str, str], labels: Mapping[str, str] | None = None):
        self.errors = dict(errors)
        labels = labels or {}
        super().__init__("; ".join(f"{labels.get(name, name)}: {message}" for name, message in self.errors.items()))


@dataclass(frozen=True)
class Tier:
    """A loyalty tier: reached by spending at least `thresholds[currency]` in the tier window."""

    code: str
    thresholds: Mapping[str, Decimal]


TIER_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

#: Bounds of the numeric settings. Ten years is longer than any window a shop means and
#: keeps every date the rules compute near the dates they start from; counts and the
#: multiplier stay where a customer's history can still reach them.
MAX_DAYS = 3650
MAX_ORDERS = 1000
MAX_MULTIPLIER = Decimal(100)
#: The largest amount in any currency (tier thresholds, fixed discounts): a billion.
MAX_AMOUNT = Decimal(10**9)

DEFAULT_TIERS = (
    Tier("bronze", {"USD": Decimal("100"), "EUR": Decimal("100"), "PLN": Decimal("400")}),
    Tier("silver", {"USD": Decimal("500"), "EUR": Decimal("500"), "PLN": Decimal("2000")}),
    Tier("gold", {"USD": Decimal("1500"), "EUR": Decimal("1500"), "PLN": Decimal("6000")}),
)


@dataclass(frozen=True)
class LifecycleConfig:
    """Every threshold the rules use. Build with `from_settings` or construct and `validate()`."""

    at_risk_days: int = 90
    lapsed_days: int = 180
    loyal_min_orders: int = 4
    loyal_window_days: int = 365
    #: A buyer with at least this many orders is also at risk after k x their median gap.
    personal_gap_min_orders: int = 3
    personal_gap_multiplier: Decimal = Decimal("2")
    #: The personal threshold never goes below this, so a burst of same-day orders
    #: does not make a customer "at risk" the day after.
    personal_gap_floor_days: int = 14
    #: Count only orders that are fully paid (otherwise any placed order counts).
    count_only_paid: bool = False
    tier_window_days: int = 365
    tiers: tuple[Tier, ...] = field(default=DEFAULT_TIERS)

    FIELD_LABELS = {
        "at_risk_days": "At risk after (days)",
        "lapsed_days": "Lapsed after (days)",
        "loyal_min_orders": "Loyal: minimum orders",
        "loyal_window_days": "Loyal: window (days)",
        "personal_gap_min_orders": "Personal rhythm: minimum orders",
        "personal_gap_multiplier": "Personal rhythm: multiplier",
        "personal_gap_floor_days": "Personal rhythm: minimum days",
        "count_only_paid": "Count only paid orders",
        "tier_window_days": "Tier spend window (days)",
        "tiers": "Loyalty tiers",
    }

    def validate(self, *, unparsed: frozenset[str] = frozenset()) -> LifecycleConfig:
        """Raise ConfigError naming every invalid field; return self when valid.

        `unparsed` names fields the owner typed but that did not parse (they hold
        defaults here): checks that compare with them are left out, so no message
        quotes a value the owner never typed.
        """
        errors: dict[str, str] = {}

        def whole(name: str, value: Any, minimum: int = 1, maximum: int = MAX_DAYS) -> bool:
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                errors[name] = f"must be a whole number of at least {minimum}, got {value!r}"
                return False
            if value > maximum:
                errors[name] = f"must be a whole number of at most {maximum}, got {value!r}"
                return False
            return name not in unparsed

        label = self.FIELD_LABELS
        ok_risk = whole("at_risk_days", self.at_risk_days)
        ok_lapsed = whole("lapsed_days", self.lapsed_days)
        if ok_risk and ok_lapsed and self.at_risk_days >= self.lapsed_days:
            # Either field may be the one the owner just changed: both say so.
            errors["at_risk_days"] = (
                f"must be fewer than '{label['lapsed_days']}' ({self.lapsed_days}): a customer is at risk "
                f"before they lapse, got {self.at_risk_days}"
            )
            errors["lapsed_days"] = (
                f"must be more than '{label['at_risk_days']}' ({self.at_risk_days}): a customer lapses "
                f"after they are at risk, got {self.lapsed_days}"
            )
        whole("loyal_min_orders", self.loyal_min_orders, minimum=2, maximum=MAX_ORDERS)  # loyal: more than one order
        whole("loyal_window_days", self.loyal_window_days)
        whole("personal_gap_min_orders", self.personal_gap_min_orders, minimum=2, maximum=MAX_ORDERS)  # a gap: two
        multiplier = self.personal_gap_multiplier
        if not isinstance(multiplier, Decimal) or not multiplier.is_finite() or multiplier <= 0:
            errors["personal_gap_multiplier"] = f"must be a number greater than 0, got {multiplier!r}"
        elif multiplier > MAX_MULTIPLIER:
            errors["personal_gap_multiplier"] = f"must be a number of at most {MAX_MULTIPLIER}, got {multiplier}"
        if whole("personal_gap_floor_days", self.personal_gap_floor_days) and ok_risk:
            if self.personal_gap_floor_days > self.at_risk_days:
                errors["personal_gap_floor_days"] = (
                    f"must not exceed '{label['at_risk_days']}' ({self.at_risk_days}), "
                    f"got {self.personal_gap_floor_days}"
                )
        if not isinstance(self.count_only_paid, bool):
            errors["count_only_paid"] = f"must be true or false, got {self.count_only_paid!r}"
        whole("tier_window_days", self.tier_window_days)
        tier_error = _tier_problem(self.tiers)
        if tier_error:
            errors["tiers"] = tier_error
        if errors:
            raise ConfigError(errors, labels=self.FIELD_LABELS)
        return self

    @property
    def tier_codes(self) -> tuple[str, ...]:
        return tuple(tier.code for tier in self.tiers)

    @classmethod
    def from_settings(cls, values: Mapping[str, Any]) -> LifecycleConfig:
        """Parse settings given as strings (Dashboard) or native values; unknown keys are ignored."""
        errors: dict[str, str] = {}
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in values or values[f.name] is None or values[f.name] == "":
                continue
            raw = values[f.name]
            try:
                kwargs[f.name] = _PARSERS[f.name](raw)
            except ValueError as exc:
                errors[f.name] = str(exc)
        config = cls(**kwargs)
        try:
            config.validate(unparsed=frozenset(errors))
        except ConfigError as exc:
            # Report every bad field at once; a field that did not parse keeps that message.
            errors = {**exc.errors, **errors}
        if errors:
            raise ConfigError(errors, labels=cls.FIELD_LABELS)
        return config

    def to_settings(self) -> dict[str, Any]:
        """The inverse of from_settings, with every value as a string."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "tiers":
                # An empty text would read back as "use the default tiers", not "no tiers".
                out[f.name] = format_tiers(value) or "# no tiers"
            elif isinstance(value, bool):
                out[f.name] = "true" if value else "false"
            else:
                out[f.name] = str(value)
        return out


def _parse_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"must be a whole number, got {raw!r}")
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f"must be a whole number, got {raw!r}")
    return int(text)


def parse_decimal(raw: Any) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(f"must be a number such as 2 or 1.5, got {raw!r}") from None
    if not value.is_finite():
        raise ValueError(f"must be a finite number, got {raw!r}")
    return value


def parse_bool(raw: Any) -> bool:
    """true/false, 1/0, yes/no, on/off in any letter case, or a bool."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise ValueError(f"must be true or false, got {raw!r}")


def parse_tiers(raw: Any) -> tuple[Tier, ...]:
    """Parse tiers from text, one tier per line, lowest first::

        bronze: USD 100, EUR 100, PLN 400
        silver: USD 500, PLN 2000

    Native sequences of `Tier` are accepted as they are.
    """
    if isinstance(raw, (tuple, list)) and all(isinstance(t, Tier) for t in raw):
        return tuple(raw)
    tiers: list[Tier] = []
    for number, line in enumerate(str(raw).splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        code, sep, rest = line.partition(":")
        code = code.strip()
        if not sep:
            raise ValueError(f"line {number}: write 'name: CUR amount, CUR amount', got {line!r}")
        thresholds: dict[str, Decimal] = {}
        for part in filter(None, (p.strip() for p in rest.split(","))):
            pieces = part.split()
            if len(pieces) != 2:
                raise ValueError(f"line {number}: write each threshold as 'USD 100', got {part!r}")
            currency, amount = pieces[0].upper(), pieces[1]
            try:
                value = Decimal(amount)
            except InvalidOperation:
                raise ValueError(f"line {number}: {amount!r} is not an amount") from None
            if currency in thresholds:
                raise ValueError(f"line {number}: currency {currency} is given twice")
            thresholds[currency] = value
        tiers.append(Tier(code, thresholds))
    return tuple(tiers)


def format_tiers(tiers: tuple[Tier, ...]) -> str:
    return "\n".join(
        f"{tier.code}: " + ", ".join(f"{cur} {amount}" for cur, amount in tier.thresholds.items())
        for tier in tiers
    )


def _tier_problem(tiers: tuple[Tier, ...]) -> str | None:
    seen: set[str] = set()
    previous: dict[str, tuple[str, Decimal]] = {}
    for tier in tiers:
        if not TIER_CODE.match(tier.code):
            return (
                f"tier name {tier.code!r} must start with a letter and use only lower-case "
                "letters, digits and underscores (at most 32)"
            )
        if tier.code in seen:
            return f"tier {tier.code!r} is listed twice"
        seen.add(tier.code)
        if not tier.thresholds:
            return f"tier {tier.code!r} needs a threshold in at least one currency"
        for currency, amount in tier.thresholds.items():
            if not is_currency_code(currency):
                return f"tier {tier.code!r}: {currency!r} is not an ISO 4217 currency code"
            if not amount.is_finite() or amount <= 0:
                return f"tier {tier.code!r}: the {currency} threshold must be greater than 0, got {amount}"
            if amount > MAX_AMOUNT:
                return f"tier {tier.code!r}: the {currency} threshold must be at most {MAX_AMOUNT:,}, got {amount}"
            if currency in previous and amount <= previous[currency][1]:
                lower_code, lower_amount = previous[currency]
                return (
                    f"tiers are out of order: {tier.code!r} needs more than {lower_code!r} in "
                    f"{currency} ({amount} is not above {lower_amount}); list tiers lowest first"
                )
            previous[currency] = (tier.code, amount)
    return None


_PARSERS = {
    "at_risk_days": _parse_int,
    "lapsed_days": _parse_int,
    "loyal_min_orders": _parse_int,
    "loyal_window_days": _parse_int,
    "personal_gap_min_orders": _parse_int,
    "personal_gap_multiplier": parse_decimal,
    "personal_gap_floor_days": _parse_int,
    "count_only_paid": parse_bool,
    "tier_window_days": _parse_int,
    "tiers": parse_tiers,
}


@dataclass(frozen=True)
class TierEdit:
    """One tier named in a partial tier change (`merge_tiers`): its new thresholds, or `remove`."""

    code: str
    thresholds: Mapping[str, Decimal] | None = None
    remove: bool = False


def merge_tiers(current: tuple[Tier, ...], edits: Sequence[TierEdit]) -> tuple[Tier, ...]:
    """The tiers in force with `edits` applied, matched by code; tiers not named are kept.

    - A code in force with thresholds: that tier's thresholds are replaced, all of them (a
      currency left out is no longer one of its thresholds); it keeps its place.
    - A new code with thresholds: added, before the first tier kept that asks more than it
      in a currency they share, else last (lowest first, as the table is read).
    - A code with ``remove``: that tier is removed (it must be in force).

    The result is not validated here (`LifecycleConfig.validate` names what is wrong: tiers
    out of order, an unknown currency, ...). ValueError for edits that contradict themselves.
    """
    seen: set[str] = set()
    tiers = list(current)
    in_force = {tier.code for tier in current}
    for edit in edits:
        if edit.code in seen:
            raise ValueError(f"tier {edit.code!r} is named twice")
        seen.add(edit.code)
        if edit.remove:
            if edit.thresholds is not None:
                raise ValueError(f"tier {edit.code!r}: give thresholds or remove, not both")
            if edit.code not in in_force:
                raise ValueError(f"tier {edit.code!r} is not in force: there is nothing to remove "
                                 f"(in force: {', '.join(sorted(in_force)) or 'none'})")
            tiers = [tier for tier in tiers if tier.code != edit.code]
            continue
        if edit.thresholds is None:
            raise ValueError(f"tier {edit.code!r} needs thresholds (or remove: true to remove it)")
        changed = Tier(edit.code, dict(edit.thresholds))
        if edit.code in in_force:
            tiers = [changed if tier.code == edit.code else tier for tier in tiers]
            continue
        above = next((index for index, tier in enumerate(tiers)
                      if any(currency in tier.thresholds and tier.thresholds[currency] > amount
                             for currency, amount in changed.thresholds.items())), len(tiers))
        tiers.insert(above, changed)
    return tuple(tiers)
