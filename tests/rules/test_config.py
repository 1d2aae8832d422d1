"""LifecycleConfig: parsing Dashboard-style strings, plain-words validation, round trips."""

from __future__ import annotations

import string
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle_plugin.rules import (
    DEFAULT_TIERS,
    ConfigError,
    LifecycleConfig,
    Tier,
    format_tiers,
    parse_tiers,
)

DEFAULTS = LifecycleConfig()


def errors_of(settings_: dict) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        LifecycleConfig.from_settings(settings_)
    assert isinstance(info.value, ValueError)
    return info.value.errors


def assert_plain_words(message: str) -> None:
    """A message for a store owner: a sentence, not a Python exception dump."""
    assert isinstance(message, str) and len(message) >= 10
    assert any(word in message for word in ("must", "write", "is not", "listed twice", "given twice", "out of order", "needs"))
    for leak in ("Traceback", "InvalidOperation", "invalid literal", "ConversionSyntax", "decimal.", "<class"):
        assert leak not in message


# --------------------------------------------------------------------------- parsing


def test_empty_settings_give_the_defaults():
    assert LifecycleConfig.from_settings({}) == DEFAULTS


def test_blank_and_none_values_mean_default_and_unknown_keys_are_ignored():
    config = LifecycleConfig.from_settings(
        {"at_risk_days": "", "lapsed_days": None, "tiers": "", "some_other_plugin_field": "x"}
    )
    assert config == DEFAULTS


def test_dashboard_strings_are_parsed():
    config = LifecycleConfig.from_settings(
        {
            "at_risk_days": "60",
            "lapsed_days": " 120 ",
            "loyal_min_orders": "3",
            "loyal_window_days": "180",
            "personal_gap_min_orders": "4",
            "personal_gap_multiplier": "1.5",
            "personal_gap_floor_days": "7",
            "count_only_paid": "true",
            "tier_window_days": "90",
            "tiers": "# lowest first\nbronze: usd 50, PLN 200\n\nsilver: USD 250.50\n",
        }
    )
    assert config.at_risk_days == 60
    assert config.lapsed_days == 120
    assert config.loyal_min_orders == 3
    assert config.loyal_window_days == 180
    assert config.personal_gap_min_orders == 4
    assert config.personal_gap_multiplier == Decimal("1.5")
    assert isinstance(config.personal_gap_multiplier, Decimal)
    assert config.personal_gap_floor_days == 7
    assert config.count_only_paid is True
    assert config.tier_window_days == 90
    assert config.tiers == (
        Tier("bronze", {"USD": Decimal("50"), "PLN": Decimal("200")}),
        Tier("silver", {"USD": Decimal("250.50")}),
    )
    assert config.tier_codes == ("bronze", "silver")


def test_native_values_are_accepted():
    config = LifecycleConfig.from_settings(
        {"at_risk_days": 30, "lapsed_days": 60, "count_only_paid": True, "personal_gap_multiplier": Decimal("3"), "tiers": list(DEFAULT_TIERS)}
    )
    assert (config.at_risk_days, config.lapsed_days, config.count_only_paid) == (30, 60, True)
    assert config.personal_gap_multiplier == 3
    assert config.tiers == DEFAULT_TIERS


@pytest.mark.parametrize("text", ["true", "TRUE", " True ", "1", "yes", "on"])
def test_true_words(text):
    assert LifecycleConfig.from_settings({"count_only_paid": text}).count_only_paid is True


@pytest.mark.parametrize("text", ["false", "False", "0", "no", "off", " OFF "])
def test_false_words(text):
    config = LifecycleConfig.from_settings({"count_only_paid": text})
    assert config.count_only_paid is False


def test_signed_whole_numbers():
    assert LifecycleConfig.from_settings({"lapsed_days": "+200"}).lapsed_days == 200


def test_boundaries_that_are_allowed():
    config = LifecycleConfig.from_settings(
        {"at_risk_days": "1", "lapsed_days": "2", "personal_gap_floor_days": "1", "loyal_min_orders": "2",
         "personal_gap_min_orders": "2", "personal_gap_multiplier": "0.01"}
    )
    assert (config.at_risk_days, config.lapsed_days) == (1, 2)
    # A floor equal to at_risk_days is allowed (it may not exceed it).
    assert LifecycleConfig.from_settings({"personal_gap_floor_days": "90"}).personal_gap_floor_days == 90


def test_tiers_may_be_switched_off_with_a_comment():
    assert LifecycleConfig.from_settings({"tiers": "# no tiers"}).tiers == ()


def test_parse_tiers_and_format_tiers():
    text = "bronze: USD 100, EUR 100, PLN 400\nsilver: USD 500, EUR 500, PLN 2000\ngold: USD 1500, EUR 1500, PLN 6000"
    assert parse_tiers(text) == DEFAULT_TIERS
    assert format_tiers(DEFAULT_TIERS) == text
    assert parse_tiers(DEFAULT_TIERS) == DEFAULT_TIERS


# --------------------------------------------------------------------------- invalid values

INVALID = [
    # negative / zero days
    *[({name: value}, name, "at least 1") for name in
      ("at_risk_days", "lapsed_days", "loyal_window_days", "personal_gap_floor_days", "tier_window_days")
      for value in ("0", "-5")],
    # not whole numbers
    *[({name: value}, name, "whole number") for name in
      ("at_risk_days", "lapsed_days", "loyal_min_orders", "loyal_window_days", "personal_gap_min_orders",
       "personal_gap_floor_days", "tier_window_days")
      for value in ("abc", "1.5", "ninety", "12 days", "1e3")],
    ({"at_risk_days": True}, "at_risk_days", "whole number"),
    # loyal needs more than one order
    ({"loyal_min_orders": "1"}, "loyal_min_orders", "at least 2"),
    ({"loyal_min_orders": "0"}, "loyal_min_orders", "at least"),
    ({"loyal_min_orders": "-3"}, "loyal_min_orders", "at least"),
    ({"personal_gap_min_orders": "1"}, "personal_gap_min_orders", "at least 2"),
    # floor above at-risk
    ({"personal_gap_floor_days": "91"}, "personal_gap_floor_days", "must not exceed 'At risk after (days)' (90)"),
    ({"at_risk_days": "10", "personal_gap_floor_days": "14"}, "personal_gap_floor_days",
     "must not exceed 'At risk after (days)' (10)"),
    # multiplier
    ({"personal_gap_multiplier": "0"}, "personal_gap_multiplier", "greater than 0"),
    ({"personal_gap_multiplier": "-1.5"}, "personal_gap_multiplier", "greater than 0"),
    ({"personal_gap_multiplier": "two"}, "personal_gap_multiplier", "must be a number"),
    ({"personal_gap_multiplier": "NaN"}, "personal_gap_multiplier", "finite"),
    ({"personal_gap_multiplier": "Infinity"}, "personal_gap_multiplier", "finite"),
    # booleans
    ({"count_only_paid": "maybe"}, "count_only_paid", "true or false"),
    ({"count_only_paid": "2"}, "count_only_paid", "true or false"),
    ({"count_only_paid": "paid"}, "count_only_paid", "true or false"),
    # tiers out of order, duplicates, bad currencies, bad amounts, bad syntax, bad names
    ({"tiers": "silver: USD 500\nbronze: USD 100"}, "tiers", "out of order"),
    ({"tiers": "bronze: USD 100\nsilver: USD 100"}, "tiers", "out of order"),
    ({"tiers": "bronze: USD 100, PLN 400\nsilver: USD 500, PLN 300"}, "tiers", "out of order"),
    ({"tiers": "bronze: USD 100\nbronze: USD 200"}, "tiers", "listed twice"),
    ({"tiers": "bronze: USX 100"}, "tiers", "'USX' is not an ISO 4217 currency code"),
    ({"tiers": "bronze: DOLLARS 100"}, "tiers", "ISO 4217"),
    ({"tiers": "bronze: USD 0"}, "tiers", "greater than 0"),
    ({"tiers": "bronze: USD -10"}, "tiers", "greater than 0"),
    ({"tiers": "bronze: USD NaN"}, "tiers", "greater than 0"),
    ({"tiers": "bronze: USD ten"}, "tiers", "'ten' is not an amount"),
    ({"tiers": "bronze USD 100"}, "tiers", "line 1: write 'name: CUR amount"),
    ({"tiers": "bronze: USD 100\nsilver USD 500"}, "tiers", "line 2"),
    ({"tiers": "bronze: USD100"}, "tiers", "write each threshold as 'USD 100'"),
    ({"tiers": "bronze: USD 100 EUR 100"}, "tiers", "write each threshold as 'USD 100'"),
    ({"tiers": "bronze: USD 100, usd 200"}, "tiers", "given twice"),
    ({"tiers": "bronze:"}, "tiers", "needs a threshold"),
    ({"tiers": "Bronze: USD 100"}, "tiers", "lower-case"),
    ({"tiers": ": USD 100"}, "tiers", "must start with a letter"),
    ({"tiers": "1st: USD 100"}, "tiers", "must start with a letter"),
    ({"tiers": "top tier: USD 100"}, "tiers", "must start with a letter"),
]


@pytest.mark.parametrize("settings_, field, fragment", INVALID)
def test_invalid_value_names_the_field_in_plain_words(settings_, field, fragment):
    errors = errors_of(settings_)
    assert set(errors) == {field}, errors
    message = errors[field]
    assert fragment in message
    assert_plain_words(message)


# at risk must come before lapsed: either may be the field the owner just changed
@pytest.mark.parametrize(
    "settings_", [{"at_risk_days": "180"}, {"at_risk_days": "200", "lapsed_days": "180"},
                  {"at_risk_days": "30", "lapsed_days": "20"}, {"lapsed_days": "60"}],
)
def test_an_at_risk_day_count_not_below_the_lapsed_one_names_both_fields(settings_):
    errors = errors_of(settings_)
    assert set(errors) == {"at_risk_days", "lapsed_days"}, errors
    assert "fewer than 'Lapsed after (days)'" in errors["at_risk_days"]
    assert "more than 'At risk after (days)'" in errors["lapsed_days"]
    for message in errors.values():
        assert "_days" not in message, message  # labels, never internal keys
        assert_plain_words(message)


@pytest.mark.parametrize("settings_, field, fragment", [row for row in INVALID if row[1] != "tiers"])
def test_messages_name_other_fields_by_their_labels(settings_, field, fragment):
    message = errors_of(settings_)[field]
    for name in LifecycleConfig.FIELD_LABELS:
        assert name not in message


@pytest.mark.parametrize(
    "settings_, shown",
    [
        ({"at_risk_days": "ninety"}, "ninety"),
        ({"lapsed_days": "-5"}, "-5"),
        ({"personal_gap_multiplier": "two"}, "two"),
        ({"count_only_paid": "maybe"}, "maybe"),
        ({"tiers": "bronze: USX 100"}, "USX"),
    ],
)
def test_messages_show_the_value_that_was_typed(settings_, shown):
    [message] = errors_of(settings_).values()
    assert shown in message


def test_every_invalid_field_is_reported_at_once():
    errors = errors_of({"at_risk_days": "x", "lapsed_days": "y", "count_only_paid": "maybe", "tiers": "bronze USD"})
    assert set(errors) == {"at_risk_days", "lapsed_days", "count_only_paid", "tiers"}
    with pytest.raises(ConfigError) as info:
        LifecycleConfig(lapsed_days=0, loyal_min_orders=1, personal_gap_multiplier=Decimal(0), tier_window_days=-1).validate()
    assert set(info.value.errors) == {"lapsed_days", "loyal_min_orders", "personal_gap_multiplier", "tier_window_days"}


def test_parse_and_validation_errors_are_reported_together():
    errors = errors_of({"at_risk_days": "soon", "loyal_min_orders": "1", "tier_window_days": "0"})
    assert set(errors) == {"at_risk_days", "loyal_min_orders", "tier_window_days"}
    assert "whole number" in errors["at_risk_days"]
    assert "at least 2" in errors["loyal_min_orders"]


def test_config_error_text_names_each_field():
    with pytest.raises(ConfigError) as info:
        LifecycleConfig.from_settings({"at_risk_days": "soon", "count_only_paid": "maybe"})
    text = str(info.value)
    assert "At risk after (days): " in text and "Count only paid orders: " in text
    assert "at_risk_days" not in text and "count_only_paid" not in text
    with pytest.raises(ConfigError) as info:
        LifecycleConfig.from_settings({"at_risk_days": "0", "loyal_min_orders": "1"})
    text = str(info.value)
    assert "At risk after (days): " in text and "Loyal: minimum orders: " in text
    assert "at_risk_days" not in text and "loyal_min_orders" not in text


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"at_risk_days": 0}, "at_risk_days"),
        ({"at_risk_days": 90.5}, "at_risk_days"),
        ({"lapsed_days": 90}, "at_risk_days"),
        ({"loyal_min_orders": 1}, "loyal_min_orders"),
        ({"personal_gap_multiplier": 2}, "personal_gap_multiplier"),  # must be a Decimal
        ({"personal_gap_multiplier": Decimal("-0.1")}, "personal_gap_multiplier"),
        ({"personal_gap_multiplier": Decimal("NaN")}, "personal_gap_multiplier"),
        ({"personal_gap_floor_days": 120}, "personal_gap_floor_days"),
        ({"count_only_paid": "yes"}, "count_only_paid"),
        ({"tiers": (Tier("bronze", {"usd": Decimal(1)}),)}, "tiers"),
        ({"tiers": (Tier("gold", {"USD": Decimal(5)}), Tier("silver", {"USD": Decimal(4)}))}, "tiers"),
    ],
)
def test_validate_checks_directly_built_configs(kwargs, field):
    with pytest.raises(ConfigError) as info:
        LifecycleConfig(**kwargs).validate()
    assert field in info.value.errors
    assert_plain_words(info.value.errors[field])


def test_every_field_has_a_label():
    import dataclasses

    assert set(LifecycleConfig.FIELD_LABELS) == {f.name for f in dataclasses.fields(LifecycleConfig)}


# --------------------------------------------------------------------------- round trip


def test_to_settings_gives_strings():
    out = DEFAULTS.to_settings()
    assert all(isinstance(v, str) for v in out.values())
    assert out["count_only_paid"] == "false"
    assert out["at_risk_days"] == "90"
    assert out["personal_gap_multiplier"] == "2"


def test_round_trip_of_the_defaults():
    assert LifecycleConfig.from_settings(DEFAULTS.to_settings()) == DEFAULTS


def test_round_trip_of_a_custom_config():
    config = LifecycleConfig(
        at_risk_days=30,
        lapsed_days=45,
        loyal_min_orders=2,
        loyal_window_days=60,
        personal_gap_min_orders=5,
        personal_gap_multiplier=Decimal("1.25"),
        personal_gap_floor_days=3,
        count_only_paid=True,
        tier_window_days=30,
        tiers=(Tier("vip", {"CHF": Decimal("0.01")}), Tier("vvip", {"CHF": Decimal("1E+3"), "JPY": Decimal("5")})),
    ).validate()
    again = LifecycleConfig.from_settings(config.to_settings())
    assert again == config
    assert again.to_settings() == config.to_settings()


def test_round_trip_without_tiers():
    config = LifecycleConfig(tiers=()).validate()
    assert LifecycleConfig.from_settings(config.to_settings()).tiers == ()


CURRENCIES = ["USD", "EUR", "PLN", "GBP", "JPY", "CHF"]
TIER_NAMES = st.text(string.ascii_lowercase, min_size=1, max_size=1).flatmap(
    lambda first: st.text(string.ascii_lowercase + string.digits + "_", max_size=10).map(lambda rest: first + rest)
)


@st.composite
def tier_tuples(draw):
    names = draw(st.lists(TIER_NAMES, max_size=4, unique=True))
    amounts = {
        cur: sorted(draw(st.lists(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2),
                                  min_size=len(names), max_size=len(names), unique=True)))
        for cur in CURRENCIES
    }
    tiers = []
    for index, name in enumerate(names):
        chosen = draw(st.lists(st.sampled_from(CURRENCIES), min_size=1, max_size=3, unique=True))
        tiers.append(Tier(name, {cur: amounts[cur][index] for cur in chosen}))
    return tuple(tiers)


@st.composite
def valid_configs(draw):
    lapsed = draw(st.integers(2, 2000))
    at_risk = draw(st.integers(1, lapsed - 1))
    return LifecycleConfig(
        at_risk_days=at_risk,
        lapsed_days=lapsed,
        loyal_min_orders=draw(st.integers(2, 50)),
        loyal_window_days=draw(st.integers(1, 2000)),
        personal_gap_min_orders=draw(st.integers(2, 50)),
        personal_gap_multiplier=draw(st.decimals(min_value=Decimal("0.001"), max_value=Decimal("100"), places=3)),
        personal_gap_floor_days=draw(st.integers(1, at_risk)),
        count_only_paid=draw(st.booleans()),
        tier_window_days=draw(st.integers(1, 2000)),
        tiers=draw(tier_tuples()),
    ).validate()


@settings(max_examples=300, deadline=None)
@given(valid_configs())
def test_round_trip_property(config):
    settings_ = config.to_settings()
    assert all(isinstance(v, str) for v in settings_.values())
    assert LifecycleConfig.from_settings(settings_) == config
