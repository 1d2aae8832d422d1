"""Parsers for the built-in actions' settings, and the settings the actions share.

Each action module declares its own settings through ``lifecycle_declare_settings``
with the parsers and builders here. Every parser takes the Dashboard's string and
returns a typed value, or raises ValueError with a message in plain words that the
Dashboard shows next to the field. Every parser also accepts its own output, so code
that hands the engine already-parsed values (tests, the sandbox) goes through the
same checks. No Django models here, so third-party plugins can use the parsers anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ..conf import BOOLEAN, STRING, TEMPLATE, Setting, whole_number
from ..rules import Stage
from ..rules.config import MAX_AMOUNT, MAX_DAYS, parse_bool
from ..rules.currencies import is_currency_code
from ..templating import PARTS, unknown_variables
from .rendering import template_setting_name

PERCENTAGE = "percentage"
FIXED = "fixed"

DELIVERY_EMAIL = "email"
DELIVERY_NOTIFY = "notify"
DELIVERY_CHANNELS = (DELIVERY_EMAIL, DELIVERY_NOTIFY)

MAX_REMINDERS = 12

#: Stages of customers who bought something: the only ones with an order whose
#: channel a voucher can be issued in.
BUYER_STAGES = (Stage.NEW, Stage.REPEAT, Stage.LOYAL, Stage.AT_RISK, Stage.LAPSED)
DORMANT_STAGES = (Stage.AT_RISK, Stage.LAPSED)


@dataclass(frozen=True)
class Discount:
    """A voucher's discount: a percentage of the whole order, or a fixed amount per currency.

    Fixed amounts are given per currency because a store sells in several and an
    amount in one currency means nothing in another; a channel whose currency is
    not listed gets no voucher.
    """

    percentage: Decimal | None = None
    amounts: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return PERCENTAGE if self.percentage is not None else FIXED

    def terms_for(self, currency: str) -> tuple[str, Decimal, str | None] | None:
        """(discount type, value, currency) for a voucher in `currency`, or None if there is no amount for it."""
        if self.percentage is not None:
            return PERCENTAGE, self.percentage, None
        amount = self.amounts.get(currency.upper())
        return (FIXED, amount, currency.upper()) if amount is not None else None

    def describe(self, currency: str) -> str:
        """How a customer reads it: ``15%`` or ``10.00 USD``."""
        terms = self.terms_for(currency)
        if terms is None:
            return ""
        kind, value, code = terms
        return f"{value.normalize():f}%" if kind == PERCENTAGE else f"{value:.2f} {code}"

    def to_json(self) -> dict[str, Any]:
        if self.percentage is not None:
            return {"percentage": str(self.percentage)}
        return {"amounts": {currency: str(amount) for currency, amount in sorted(self.amounts.items())}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Discount:
        if data.get("percentage") is not None:
            return cls(percentage=Decimal(data["percentage"]))
        return cls(amounts={currency: Decimal(amount) for currency, amount in data.get("amounts", {}).items()})

    def __str__(self) -> str:
        if self.percentage is not None:
            return f"{self.percentage.normalize():f}%"
        return ", ".join(f"{currency} {amount}" for currency, amount in self.amounts.items())


def _number(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number ({what})") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a number ({what})")
    return value


def parse_discount(raw: Any) -> Discount:
    """``15%`` (a percentage from 1 to 100) or ``USD 10, EUR 10`` (a fixed amount per currency)."""
    if isinstance(raw, Discount):
        return raw
    text = str(raw).strip()
    if not text:
        raise ValueError("write a percentage such as '15%' or fixed amounts such as 'USD 10, EUR 10'")
    if text.endswith("%"):
        value = _number(text[:-1].strip(), "write a percentage such as '15%'")
        if not Decimal(1) <= value <= Decimal(100):
            raise ValueError(f"a percentage must be from 1 to 100, got {text}")
        return Discount(percentage=value)
    amounts: dict[str, Decimal] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        pieces = part.split()
        if len(pieces) != 2:
            raise ValueError(
                f"write a percentage such as '15%' or each fixed amount as a currency and a number "
                f"such as 'USD 10', got {part!r}"
            )
        currency, amount = pieces[0].upper(), _number(pieces[1], f"the amount for {pieces[0].upper()}")
        if not is_currency_code(currency):
            raise ValueError(f"{currency!r} is not an ISO 4217 currency code such as USD or EUR")
        if amount <= 0:
            raise ValueError(f"the {currency} amount must be greater than 0, got {pieces[1]}")
        if amount > MAX_AMOUNT:
            raise ValueError(f"the {currency} amount must be at most {MAX_AMOUNT:,}, got {pieces[1]}")
        if currency in amounts:
            raise ValueError(f"currency {currency} is given twice")
        amounts[currency] = amount
    return Discount(amounts=amounts)


#: An action's on/off switch reads like every other yes/no setting.
parse_switch = parse_bool


def parse_days(raw: Any) -> int:
    """A number of days, at least 1."""
    return whole_number(raw, 1, MAX_DAYS, "days")


def parse_reminder_count(raw: Any) -> int:
    return whole_number(raw, 1, MAX_REMINDERS, "reminders")


def stage_list_parser(allowed: Collection[Stage], why: str) -> Callable[[Any], tuple[str, ...]]:
    """A parser for a list of stage codes, limited to `allowed` (`why` says why, in words)."""
    allowed_codes = [stage.value for stage in allowed]

    def parse(raw: Any) -> tuple[str, ...]:
        items: Iterable[Any] = raw if isinstance(raw, (list, tuple, set, frozenset)) else re.split(r"[\s,]+", str(raw))
        codes = [str(getattr(item, "value", item)).strip().lower() for item in items]
        codes = [code for code in codes if code]
        if not codes:
            raise ValueError(f"name at least one stage from {', '.join(allowed_codes)} (or switch the action off)")
        known = {stage.value for stage in Stage}
        for code in codes:
            if code not in known:
                raise ValueError(f"{code!r} is not a stage; the stages are {', '.join(s.value for s in Stage)}")
            if code not in allowed_codes:
                raise ValueError(f"{code!r} cannot be used here: {why}; choose from {', '.join(allowed_codes)}")
        return tuple(code for code in allowed_codes if code in codes)  # ladder order, no repeats

    return parse


def parse_delivery_channel(raw: Any) -> str:
    text = str(raw).strip().lower()
    if text not in DELIVERY_CHANNELS:
        raise ValueError(f"must be email or notify, got {raw!r}")
    return text


def parse_metadata_key(raw: Any) -> str:
    """A metadata key, or empty for none."""
    text = str(raw or "").strip()
    if len(text) > 256:
        raise ValueError("a metadata key can be at most 256 characters")
    return text


# ---------------------------------------------------------------------------- shared declarations

OFF_BY_DEFAULT = (
    " Off by default: decide on consent and amounts first, then switch it on. Switching it off "
    "stops new messages and vouchers and keeps the history of what was sent."
)
DISCOUNT_HELP = (
    "A percentage of the whole order such as '15%' (1 to 100), or fixed amounts per currency such as "
    f"'USD 10, EUR 10, PLN 40', each more than 0 and at most {MAX_AMOUNT:,} (a channel whose currency is "
    "not listed gets no voucher)."
)
_TEMPLATE_HELP = (
    "A Django template; empty uses the shipped one (lifecycle_plugin/templates/lifecycle_plugin/{file}). "
    "Variables: customer.first_name, customer.name, customer.email, stage, stage_label, tier, tier_label, "
    "voucher.code, voucher.discount, voucher.valid_until_date, products (name, variant, quantity), order "
    "(placed_at, total, currency), reminder.number, reminder.count; see docs/actions.md."
)


#: What every message's template can read (`offers.message_data`): each variable with its
#: attributes, None for any (the products are a list a loop walks).
MESSAGE_VARIABLES: dict[str, tuple[str, ...] | None] = {
    "customer": ("email", "first_name", "last_name", "name"),
    "stage": (), "stage_label": (), "tier": (), "tier_label": (),
    "voucher": ("code", "discount", "valid_until_date", "valid_until", "channel", "voucher_id"),
    "order": ("id", "placed_at", "fulfilled_at", "total", "currency", "channel"),
    "products": None,
    "action": (), "dedupe_key": (), "marketing": (), "unsubscribe_url": (), "language": (),
}
#: The variables of one action only (its ledger payload).
ACTION_VARIABLES: dict[str, dict[str, tuple[str, ...] | None]] = {
    "repeat_purchase": {"trigger_stage": ()},
    "tier_upgrade": {"new_tier": (), "new_tier_label": (), "previous_tier": (), "previous_tier_label": (),
                     "occurred_at": (), "window_spend": None},
    "winback_reminder": {"reminder": ("number", "count"), "episode": ()},
    "welcome": {"nurture": ("number", "count")},
    "welcome_nurture": {"nurture": ("number", "count")},
    "abandoned_checkout": {"reminder": ("number", "count"), "token": (), "changed": (),
                           "checkout": ("token", "url", "channel", "language", "created_at", "changed_at", "lines")},
    "referral_code": {"trigger_stage": (), "referral": ("reward_discount", "return_window_days", "max_per_code")},
    "referral_reward": {"referral": ("code", "placed_at")},
}


def template_variables_check(action: str, part: str) -> Callable[[Any], str]:
    """A validator refusing a template that reads a variable `action`'s messages do not have."""
    known = {**MESSAGE_VARIABLES, **ACTION_VARIABLES.get(action, {})}

    def check(source: Any) -> str:
        text = str(source or "")
        if text.strip():
            unknown = unknown_variables(text, part, known)
            if unknown:
                raise ValueError(f"unknown template variable{'s' if len(unknown) > 1 else ''} "
                                 f"{', '.join(unknown)}; see docs/actions.md for the variables")
        return text

    return check


def switch_setting(name: str, label: str, help_text: str) -> Setting:
    """An action's on/off switch, off by default."""
    return Setting(name, "false", BOOLEAN, label, help_text + OFF_BY_DEFAULT, parse_switch)


def discount_setting(name: str, label: str) -> Setting:
    return Setting(name, "10%", STRING, label, DISCOUNT_HELP, parse_discount)


def valid_days_setting(name: str, label: str) -> Setting:
    return Setting(name, "30", STRING, label,
                   f"The voucher expires this many days after it is issued (1 to {MAX_DAYS}).", parse_days)


def voucher_settings(action: str, action_label: str, help_text: str) -> list[Setting]:
    """An optional voucher in `action`'s message: its switch, its discount and how long it is valid."""
    return [
        Setting(f"{action}_voucher", "false", BOOLEAN, f"{action_label}: include a voucher", help_text, parse_switch),
        discount_setting(f"{action}_discount", f"{action_label}: voucher discount"),
        valid_days_setting(f"{action}_valid_days", f"{action_label}: voucher valid for (days)"),
    ]


def template_settings(action: str, action_label: str) -> list[Setting]:
    """The three templates (subject, text, HTML) an owner may replace for `action`'s message."""
    return [
        Setting(template_setting_name(action, part), "", TEMPLATE,
                f"{action_label}: {'HTML' if html else part} template", _TEMPLATE_HELP.format(file=f"{action}.{suffix}"),
                template_variables_check(action, part))
        for part, (suffix, html) in PARTS.items()
    ]
