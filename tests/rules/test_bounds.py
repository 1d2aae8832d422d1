"""Every config that validates decides every customer without raising.

A tier or loyalty window of 999,999,999 days used to validate, and then every decision
raised OverflowError: events were dropped, the sweep postponed everyone, what-if failed.
Configs here span the whole accepted range, bounds included; facts have dates anywhere
in the calendar, in several offsets, and amounts up to what a store keeps (Saleor's
numeric(20, 3)).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lifecycle_plugin.rules import ConfigError, CustomerFacts, LifecycleConfig, OrderFact, OrderState, Tier, decide
from lifecycle_plugin.rules.config import MAX_AMOUNT, MAX_DAYS, MAX_MULTIPLIER, MAX_ORDERS
from lifecycle_plugin.rules.decide import tier_progress

UTC = timezone.utc
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)),
                         timezone(timedelta(hours=5, minutes=45))])
CURRENCIES = ("USD", "EUR", "JPY")


def within(low: int, high: int) -> st.SearchStrategy[int]:
    """Whole numbers from low to high, the bounds themselves often."""
    return st.one_of(st.sampled_from([low, high]), st.integers(low, high))


MULTIPLIERS = st.one_of(
    st.sampled_from([MAX_MULTIPLIER, Decimal("1E-28"), Decimal("0.001"), Decimal("99.999999999999999999999999")]),
    st.decimals(min_value=Decimal("1E-6"), max_value=MAX_MULTIPLIER, allow_nan=False, allow_infinity=False),
)
THRESHOLDS = st.one_of(
    st.sampled_from([MAX_AMOUNT, Decimal("0.001"), Decimal("1E-20")]),
    st.decimals(min_value=Decimal("0.001"), max_value=MAX_AMOUNT, places=3),
)
#: What a store keeps: Saleor's numeric(20, 3), so at most 17 digits before the point.
AMOUNT_LIMIT = Decimal("99999999999999999.999")
AMOUNTS = st.one_of(st.sampled_from([Decimal(0), Decimal("0.001"), AMOUNT_LIMIT]),
                    st.decimals(min_value=0, max_value=AMOUNT_LIMIT, places=3))
MOMENTS = st.one_of(
    st.sampled_from([datetime.min, datetime.max, datetime.min + timedelta(days=1), datetime.max - timedelta(days=1)]),
    st.datetimes(),
).flatmap(lambda naive: ZONES.map(lambda zone: naive.replace(tzinfo=zone)))


@st.composite
def tiers(draw) -> tuple[Tier, ...]:
    count = draw(st.integers(0, 4))
    ladders = {cur: sorted(draw(st.lists(THRESHOLDS, min_size=count, max_size=count, unique=True))) for cur in CURRENCIES}
    return tuple(
        Tier(f"tier{index}", {cur: ladders[cur][index]
                              for cur in draw(st.lists(st.sampled_from(CURRENCIES), min_size=1, max_size=3, unique=True))})
        for index in range(count)
    )


@st.composite
def accepted_configs(draw) -> LifecycleConfig:
    lapsed = draw(within(2, MAX_DAYS))
    at_risk = draw(within(1, lapsed - 1))
    config = LifecycleConfig(
        at_risk_days=at_risk,
        lapsed_days=lapsed,
        loyal_min_orders=draw(within(2, MAX_ORDERS)),
        loyal_window_days=draw(within(1, MAX_DAYS)),
        personal_gap_min_orders=draw(within(2, MAX_ORDERS)),
        personal_gap_multiplier=draw(MULTIPLIERS),
        personal_gap_floor_days=draw(within(1, at_risk)),
        count_only_paid=draw(st.booleans()),
        tier_window_days=draw(within(1, MAX_DAYS)),
        tiers=draw(tiers()),
    )
    return config.validate()  # the strategy stays inside what validates, or this fails loudly


@st.composite
def order_facts(draw, index: int) -> OrderFact:
    return OrderFact(
        order_id=f"o{index}",
        placed_at=draw(MOMENTS),
        currency=draw(st.sampled_from(CURRENCIES)),
        total=draw(AMOUNTS),
        state=draw(st.sampled_from(list(OrderState))),
        paid=draw(st.booleans()),
        refunded=draw(AMOUNTS),
    )


@st.composite
def any_facts(draw) -> CustomerFacts:
    count = draw(st.integers(0, 12))
    orders = [draw(order_facts(index)) for index in range(count)]
    if orders and draw(st.booleans()):  # a burst: several orders at one instant
        orders = [dataclasses.replace(order, placed_at=orders[0].placed_at) for order in orders]
    return CustomerFacts(
        email="shopper@example.com",
        has_account=draw(st.booleans()),
        orders=tuple(orders),
        open_cart_lines=draw(st.integers(0, 10**6)),
        checkouts=draw(st.integers(0, 10)),
    )


def _edge_config(**changes) -> LifecycleConfig:
    return dataclasses.replace(LifecycleConfig(), **changes).validate()


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=accepted_configs(), facts=any_facts(), now=MOMENTS)
@example(  # the first order of history, decided at the first moment with the longest windows
    config=_edge_config(tier_window_days=MAX_DAYS, loyal_window_days=MAX_DAYS, loyal_min_orders=2),
    facts=CustomerFacts("a@example.com", orders=(
        OrderFact("o1", datetime.min.replace(tzinfo=UTC), "USD", Decimal(500)),
        OrderFact("o2", datetime.min.replace(tzinfo=UTC), "USD", Decimal(500)))),
    now=datetime.min.replace(tzinfo=UTC),
)
@example(  # the last orders of the calendar: every change would come after it
    config=_edge_config(at_risk_days=MAX_DAYS - 1, lapsed_days=MAX_DAYS, loyal_min_orders=2),
    facts=CustomerFacts("a@example.com", orders=(
        OrderFact("o1", datetime.max.replace(tzinfo=UTC) - timedelta(days=1), "USD", Decimal(2000)),
        OrderFact("o2", datetime.max.replace(tzinfo=UTC), "USD", Decimal(2000)))),
    now=datetime.max.replace(tzinfo=UTC),
)
def test_every_accepted_config_decides_every_customer(config, facts, now):
    again = LifecycleConfig.from_settings(config.to_settings())  # the Dashboard's path accepts it too
    assert again == config

    decision = decide(facts, config, now)

    if decision.next_change_at is not None:
        assert decision.next_change_at > min(o.placed_at for o in facts.orders)
    tier_progress(decision.summary.window_spend, decision.tier, config)


def test_the_longest_windows_at_the_edges_of_the_calendar_never_change():
    # A change that would fall after the last representable moment comes never (None).
    config = _edge_config(at_risk_days=MAX_DAYS - 1, lapsed_days=MAX_DAYS)
    last = datetime.max.replace(tzinfo=UTC)
    decision = decide(CustomerFacts("a@example.com", orders=(OrderFact("o1", last, "USD", Decimal(10)),)), config, last)
    assert decision.stage == "new" and decision.next_change_at is None


@pytest.mark.parametrize(
    "field, value",
    [("at_risk_days", MAX_DAYS), ("lapsed_days", MAX_DAYS + 1), ("loyal_window_days", MAX_DAYS + 1),
     ("tier_window_days", MAX_DAYS + 1), ("tier_window_days", 999_999_999), ("loyal_window_days", 999_999_999),
     ("loyal_min_orders", MAX_ORDERS + 1), ("personal_gap_min_orders", MAX_ORDERS + 1),
     ("personal_gap_multiplier", MAX_MULTIPLIER + Decimal("0.001")), ("personal_gap_multiplier", Decimal("1E+30")),
     ("tiers", (Tier("gold", {"USD": MAX_AMOUNT + 1}),))],
)
def test_a_value_past_its_bound_is_refused(field, value):
    settings_ = {field: value}
    refused = {field}
    if field == "at_risk_days":  # at its own bound, but not fewer than lapsed_days: both fields say so
        settings_["lapsed_days"] = MAX_DAYS
        refused.add("lapsed_days")
    with pytest.raises(ConfigError) as info:
        LifecycleConfig.from_settings(settings_)
    assert set(info.value.errors) == refused
    assert "at most" in info.value.errors[field] or "fewer than" in info.value.errors[field]


def test_the_highest_accepted_values_validate():
    LifecycleConfig(at_risk_days=MAX_DAYS - 1, lapsed_days=MAX_DAYS, loyal_min_orders=MAX_ORDERS,
                    loyal_window_days=MAX_DAYS, personal_gap_min_orders=MAX_ORDERS,
                    personal_gap_multiplier=MAX_MULTIPLIER, personal_gap_floor_days=MAX_DAYS - 1,
                    tier_window_days=MAX_DAYS, tiers=(Tier("gold", {"USD": MAX_AMOUNT}),)).validate()
