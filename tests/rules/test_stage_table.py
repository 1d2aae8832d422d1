"""Example-based tests: one or more per row of DESIGN.md's stage table, with the default config.

Expected values are written out by hand from DESIGN.md ("Stages") and the defaults
(at_risk_days 90, lapsed_days 180, loyal_min_orders 4, loyal_window_days 365,
personal gap: >= 3 orders, k = 2, floor 14 days; tiers USD/EUR 100/500/1500,
PLN 400/2000/6000 over 365 days).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import count

import pytest

from lifecycle_plugin.rules import (
    BUYER_RANK,
    ConfigError,
    CustomerFacts,
    LifecycleConfig,
    OrderFact,
    OrderState,
    Rule,
    Stage,
    Tier,
    TierProgress,
    decide,
    is_win_back,
    tier_for,
    tier_progress,
)

UTC = timezone.utc
NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
DEFAULT = LifecycleConfig()
_ids = count(1)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def order(
    ago: timedelta | float = 10,
    *,
    currency: str = "USD",
    total: str | Decimal = "50",
    state: OrderState = OrderState.PLACED,
    paid: bool = True,
    refunded: str | Decimal = "0",
) -> OrderFact:
    """An order placed `ago` (days, or a timedelta) before NOW."""
    delta = ago if isinstance(ago, timedelta) else days(ago)
    return OrderFact(
        order_id=f"o{next(_ids)}",
        placed_at=NOW - delta,
        currency=currency,
        total=Decimal(total),
        state=state,
        paid=paid,
        refunded=Decimal(refunded),
    )


def customer(*orders: OrderFact, account: bool = True, cart: int = 0) -> CustomerFacts:
    return CustomerFacts(email="shopper@example.com", has_account=account, orders=tuple(orders), open_cart_lines=cart)


# --------------------------------------------------------------------------- pre-purchase rows


def test_default_config_is_the_documented_one():
    assert DEFAULT.validate() is DEFAULT
    assert (DEFAULT.at_risk_days, DEFAULT.lapsed_days) == (90, 180)
    assert (DEFAULT.loyal_min_orders, DEFAULT.loyal_window_days) == (4, 365)
    assert DEFAULT.personal_gap_min_orders == 3
    assert DEFAULT.personal_gap_multiplier == 2
    assert DEFAULT.count_only_paid is False


def test_visitor_is_a_guest_without_order_or_cart():
    d = decide(customer(account=False), DEFAULT, NOW)
    assert d.stage is Stage.VISITOR
    assert d.rule == Rule.VISITOR
    assert d.tier is None
    assert d.next_change_at is None
    assert d.summary.orders_count == 0
    assert d.summary.last_order_at is None


def test_lead_is_registered_without_order_or_cart():
    d = decide(customer(account=True), DEFAULT, NOW)
    assert d.stage is Stage.LEAD
    assert d.rule == Rule.LEAD
    assert d.next_change_at is None


@pytest.mark.parametrize("account", [True, False])
def test_prospect_has_an_open_cart_with_lines_and_no_order(account):
    d = decide(customer(account=account, cart=3), DEFAULT, NOW)
    assert d.stage is Stage.PROSPECT
    assert d.rule == Rule.PROSPECT
    assert d.facts["open_cart_lines"] == 3
    assert d.next_change_at is None


def test_an_empty_cart_does_not_make_a_prospect():
    assert decide(customer(account=True, cart=0), DEFAULT, NOW).stage is Stage.LEAD
    assert decide(customer(account=False, cart=0), DEFAULT, NOW).stage is Stage.VISITOR


@pytest.mark.parametrize("when", [days(0), days(10_000)])
def test_pre_purchase_stages_do_not_change_with_time(when):
    for facts, stage in [
        (customer(account=False), Stage.VISITOR),
        (customer(account=True), Stage.LEAD),
        (customer(cart=1), Stage.PROSPECT),
    ]:
        assert decide(facts, DEFAULT, NOW + when).stage is stage


def test_an_order_beats_an_open_cart():
    d = decide(customer(order(5), cart=2), DEFAULT, NOW)
    assert d.stage is Stage.NEW


# --------------------------------------------------------------------------- buyers


def test_new_is_one_counted_order():
    o = order(10)
    d = decide(customer(o, account=False), DEFAULT, NOW)
    assert d.stage is Stage.NEW
    assert d.rule == Rule.NEW
    # Next change: at risk 90 days after the order (50 USD reaches no tier).
    assert d.tier is None
    assert d.next_change_at == o.placed_at + days(90)
    assert d.summary.orders_count == 1
    assert d.summary.first_order_at == d.summary.last_order_at == o.placed_at


def test_repeat_is_two_or_more_orders():
    first, second = order(40), order(35)
    d = decide(customer(first, second), DEFAULT, NOW)
    assert d.stage is Stage.REPEAT
    assert d.rule == Rule.REPEAT
    # Two orders: the personal rhythm (>= 3 orders) does not apply, even with a 5-day gap.
    assert d.next_change_at == second.placed_at + days(90)


def test_three_orders_are_repeat_not_loyal():
    d = decide(customer(order(200), order(100), order(10)), DEFAULT, NOW)
    assert d.stage is Stage.REPEAT


def test_loyal_is_four_orders_in_the_trailing_year():
    orders = [order(300), order(200), order(100), order(10)]
    d = decide(customer(*orders), DEFAULT, NOW)
    assert d.stage is Stage.LOYAL
    assert d.rule == Rule.LOYAL
    assert d.facts["orders_in_window"] == 4
    # Loyal until the oldest of the four leaves the window (NOW + 65 days), at risk
    # 90 days after the last order (NOW + 80 days): the sooner wins.
    assert d.next_change_at == NOW + days(65)


def test_loyal_counts_only_orders_inside_the_window():
    # Five orders, but only three in the trailing 365 days.
    orders = [order(800), order(400), order(200), order(100), order(10)]
    d = decide(customer(*orders), DEFAULT, NOW)
    assert d.stage is Stage.REPEAT
    assert d.summary.orders_count == 5


def test_loyal_window_boundary_an_order_exactly_window_old_is_out():
    recent = [order(200), order(100), order(10)]
    exactly = order(days(365))
    d = decide(customer(exactly, *recent), DEFAULT, NOW)
    assert d.stage is Stage.REPEAT

    just_inside = order(days(365) - US)
    d = decide(customer(just_inside, *recent), DEFAULT, NOW)
    assert d.stage is Stage.LOYAL
    # ... and stops being loyal one microsecond later, when that order turns 365 days old.
    assert d.next_change_at == NOW + US
    later = decide(customer(just_inside, *recent), DEFAULT, NOW + US)
    assert later.stage is Stage.REPEAT


def test_loyal_next_change_is_when_the_count_drops_below_the_minimum():
    # Six orders in the window: loyalty ends when the third oldest leaves, not the oldest.
    orders = [order(350), order(340), order(300), order(200), order(100), order(50)]
    d = decide(customer(*orders), DEFAULT, NOW)
    assert d.stage is Stage.LOYAL
    # 300 days ago + 365 days = NOW + 65 days; at risk would be NOW + 40 days (last + 90).
    assert d.next_change_at == NOW + days(40)
    # Move the last order so that at risk comes later than the loyalty exit.
    orders = [order(350), order(340), order(300), order(200), order(100), order(5)]
    d = decide(customer(*orders), DEFAULT, NOW)
    assert d.stage is Stage.LOYAL
    assert d.next_change_at == NOW + days(65)
    assert decide(customer(*orders), DEFAULT, NOW + days(65) - US).stage is Stage.LOYAL
    assert decide(customer(*orders), DEFAULT, NOW + days(65)).stage is Stage.REPEAT


def test_silence_makes_even_a_loyal_customer_at_risk():
    orders = [order(200), order(150), order(120), order(90)]
    d = decide(customer(*orders), DEFAULT, NOW)
    assert d.stage is Stage.AT_RISK


# --------------------------------------------------------------------------- at risk by days


def test_at_risk_exactly_at_at_risk_days_of_silence():
    o = order(days(90))
    d = decide(customer(o), DEFAULT, NOW)
    assert d.stage is Stage.AT_RISK
    assert d.rule == Rule.AT_RISK_DAYS
    assert d.facts["at_risk_after_days"] == 90
    assert d.facts["days_since_last_order"] == 90
    # At risk until lapsed: 180 days after the order.
    assert d.next_change_at == o.placed_at + days(180)


def test_not_at_risk_one_microsecond_before_at_risk_days():
    o = order(days(90) - US)
    d = decide(customer(o), DEFAULT, NOW)
    assert d.stage is Stage.NEW
    assert d.next_change_at == NOW + US


def test_at_risk_by_days_uses_the_last_order():
    d = decide(customer(order(170), order(89)), DEFAULT, NOW)
    assert d.stage is Stage.REPEAT
    d = decide(customer(order(170), order(91)), DEFAULT, NOW)
    assert d.stage is Stage.AT_RISK


def test_two_orders_with_a_short_gap_use_the_global_threshold():
    # A 2-day gap would give a personal threshold of 14 days (floor), but two orders are not enough.
    d = decide(customer(order(62), order(60)), DEFAULT, NOW)
    assert d.stage is Stage.REPEAT
    assert d.rule == Rule.REPEAT


# --------------------------------------------------------------------------- at risk by personal rhythm


def test_at_risk_by_personal_median_gap():
    # Gaps of 10 days: k x median = 20 days, sooner than 90.
    orders = [order(50), order(40), order(30)]
    d = decide(customer(*orders), DEFAULT, NOW)
    assert d.stage is Stage.AT_RISK
    assert d.rule == Rule.AT_RISK_PERSONAL
    assert d.facts["median_gap_days"] == 10
    assert d.facts["at_risk_after_days"] == 20
    assert d.next_change_at == orders[-1].placed_at + days(180)


def test_personal_rhythm_boundary_is_exact():
    # Gaps of exactly 10 days (-> 20 days), last order one microsecond short of 20 days old.
    before = [order(days(40) - US), order(days(30) - US), order(days(20) - US)]
    d = decide(customer(*before), DEFAULT, NOW)
    assert d.stage is Stage.REPEAT
    assert d.next_change_at == NOW + US
    exactly = [order(40), order(30), order(20)]
    assert decide(customer(*exactly), DEFAULT, NOW).stage is Stage.AT_RISK


def test_personal_rhythm_uses_the_median_not_the_mean():
    # Gaps 200, 10, 12 days: median 12 -> 24 days; the mean (74) would give 148 -> 90.
    last = NOW - days(24)
    placed = [last - days(222), last - days(22), last - days(12), last]
    orders = [order(NOW - t) for t in placed]
    d = decide(customer(*orders), DEFAULT, NOW)
    assert d.stage is Stage.AT_RISK
    assert d.rule == Rule.AT_RISK_PERSONAL
    assert d.facts["median_gap_days"] == 12
    # One microsecond earlier they are still loyal (four orders in the window).
    assert decide(customer(*orders), DEFAULT, NOW - US).stage is Stage.LOYAL


def test_personal_rhythm_median_of_an_even_number_of_gaps():
    # Gaps 10, 20, 30, 300 days: median (20 + 30) / 2 = 25 -> 50 days.
    gaps = [300, 10, 20, 30]
    last = NOW - days(50)
    placed = [last]
    for gap in reversed(gaps):
        placed.insert(0, placed[0] - days(gap))
    orders = [order(NOW - t) for t in placed]
    d = decide(customer(*orders), DEFAULT, NOW)
    assert d.stage is Stage.AT_RISK
    assert d.rule == Rule.AT_RISK_PERSONAL
    assert d.facts["median_gap_days"] == 25
    assert decide(customer(*orders), DEFAULT, NOW - US).stage is not Stage.AT_RISK


def test_personal_rhythm_has_a_floor():
    # Three orders a day apart: k x median = 2 days, but never less than 14 days.
    orders = [order(15), order(14), order(13)]
    d = decide(customer(*orders), DEFAULT, NOW)
    assert d.stage is Stage.REPEAT
    assert d.next_change_at == orders[-1].placed_at + days(14)
    d = decide(customer(*orders), DEFAULT, NOW + days(1))
    assert d.stage is Stage.AT_RISK
    assert d.rule == Rule.AT_RISK_PERSONAL
    assert d.facts["at_risk_after_days"] == 14


def test_same_day_burst_is_not_at_risk_the_next_day():
    burst = [order(days(1) + timedelta(minutes=m)) for m in (0, 1, 2, 3)]
    assert decide(customer(*burst), DEFAULT, NOW).stage in {Stage.LOYAL, Stage.REPEAT}


def test_personal_rhythm_only_when_sooner_than_at_risk_days():
    # Gaps of 60 days: k x median = 120 days, later than 90: the global rule applies.
    orders = [order(210), order(150), order(90)]
    d = decide(customer(*orders), DEFAULT, NOW)
    assert d.stage is Stage.AT_RISK
    assert d.rule == Rule.AT_RISK_DAYS
    assert d.facts["at_risk_after_days"] == 90
    assert decide(customer(*orders), DEFAULT, NOW - US).stage is Stage.REPEAT


def test_personal_rhythm_uses_the_configured_multiplier():
    config = LifecycleConfig(personal_gap_multiplier=Decimal("1.5")).validate()
    orders = [order(60), order(40), order(20)]  # median gap 20 days -> 30 days
    assert decide(customer(*orders), config, NOW + days(10) - US).stage is Stage.REPEAT
    d = decide(customer(*orders), config, NOW + days(10))
    assert d.stage is Stage.AT_RISK
    assert d.rule == Rule.AT_RISK_PERSONAL
    assert d.facts["at_risk_after_days"] == 30


def test_personal_rhythm_needs_the_configured_number_of_orders():
    config = LifecycleConfig(personal_gap_min_orders=4).validate()
    orders = [order(50), order(40), order(30)]
    assert decide(customer(*orders), config, NOW).stage is Stage.REPEAT
    assert decide(customer(*orders), DEFAULT, NOW).stage is Stage.AT_RISK


# --------------------------------------------------------------------------- lapsed


def test_lapsed_exactly_at_lapsed_days():
    o = order(days(180))
    d = decide(customer(o), DEFAULT, NOW)
    assert d.stage is Stage.LAPSED
    assert d.rule == Rule.LAPSED
    assert d.facts["lapsed_days"] == 180
    assert d.next_change_at is None  # 50 USD: no tier that could drop either


def test_at_risk_one_microsecond_before_lapsed_days():
    o = order(days(180) - US)
    d = decide(customer(o), DEFAULT, NOW)
    assert d.stage is Stage.AT_RISK
    assert d.next_change_at == NOW + US


def test_lapsed_stays_lapsed():
    d = decide(customer(order(400), order(300)), DEFAULT, NOW + days(5000))
    assert d.stage is Stage.LAPSED
    assert d.next_change_at is None


def test_lapsed_buyer_still_has_a_tier_until_spend_leaves_the_window():
    o = order(200, total="600")
    d = decide(customer(o), DEFAULT, NOW)
    assert d.stage is Stage.LAPSED
    assert d.tier == "silver"
    assert d.next_change_at == o.placed_at + days(365)
    assert decide(customer(o), DEFAULT, o.placed_at + days(365)).tier is None


# --------------------------------------------------------------------------- what counts


@pytest.mark.parametrize(
    "state", [OrderState.CANCELLED, OrderState.EXPIRED, OrderState.DRAFT, OrderState.UNCONFIRMED]
)
def test_non_placed_orders_do_not_count(state):
    ignored = order(5, state=state, total="5000")
    assert decide(customer(ignored), DEFAULT, NOW).stage is Stage.LEAD
    assert decide(customer(ignored, account=False), DEFAULT, NOW).stage is Stage.VISITOR
    d = decide(customer(order(20), ignored), DEFAULT, NOW)
    assert d.stage is Stage.NEW
    assert d.summary.orders_count == 1
    assert d.summary.last_order_at == NOW - days(20)
    assert d.tier is None  # its 5000 USD are not spend


@pytest.mark.parametrize("refunded", ["120", "150"])
def test_fully_refunded_orders_do_not_count(refunded):
    refund = order(5, total="120", refunded=refunded)
    assert decide(customer(refund), DEFAULT, NOW).stage is Stage.LEAD
    d = decide(customer(order(20), refund), DEFAULT, NOW)
    assert d.stage is Stage.NEW
    assert d.summary.last_order_at == NOW - days(20)


def test_partial_refund_counts_but_reduces_spend():
    o = order(5, total="150", refunded="60")
    d = decide(customer(o), DEFAULT, NOW)
    assert d.stage is Stage.NEW
    assert d.summary.orders_count == 1
    assert d.summary.window_spend == {"USD": Decimal("90")}
    assert d.summary.lifetime_spend == {"USD": Decimal("90")}
    assert d.tier is None  # 90 < 100; unrefunded it would have been bronze
    assert decide(customer(order(5, total="150")), DEFAULT, NOW).tier == "bronze"


def test_unpaid_orders_count_unless_count_only_paid():
    unpaid = order(5, paid=False)
    assert decide(customer(unpaid), DEFAULT, NOW).stage is Stage.NEW
    only_paid = LifecycleConfig(count_only_paid=True).validate()
    assert decide(customer(unpaid), only_paid, NOW).stage is Stage.LEAD
    d = decide(customer(order(30), unpaid), only_paid, NOW)
    assert d.stage is Stage.NEW
    assert d.summary.last_order_at == NOW - days(30)
    paid = order(5, paid=True)
    assert decide(customer(paid), only_paid, NOW).stage is Stage.NEW


def test_unpaid_order_does_not_rescue_from_at_risk_when_only_paid_counts():
    only_paid = LifecycleConfig(count_only_paid=True).validate()
    facts = customer(order(100), order(1, paid=False))
    assert decide(facts, only_paid, NOW).stage is Stage.AT_RISK
    assert decide(facts, DEFAULT, NOW).stage is Stage.REPEAT


def test_summary_counts_orders_per_currency():
    d = decide(customer(order(400, total="10"), order(20, currency="PLN", total="30"), order(10, total="5")), DEFAULT, NOW)
    assert d.summary.orders_count == 3
    assert d.summary.orders_by_currency == {"USD": 2, "PLN": 1}
    assert d.summary.lifetime_spend == {"USD": Decimal("15"), "PLN": Decimal("30")}
    assert d.summary.window_spend == {"USD": Decimal("5"), "PLN": Decimal("30")}


def test_extra_facts_are_not_needed_and_do_not_change_the_ladder():
    facts = customer(order(10), order(5))
    assert decide(facts.with_extra({"reviews_written": 7}), DEFAULT, NOW) == decide(facts, DEFAULT, NOW)


# --------------------------------------------------------------------------- win-back


@pytest.mark.parametrize("previous", [Stage.AT_RISK, Stage.LAPSED, "at_risk", "lapsed"])
@pytest.mark.parametrize("current", [Stage.NEW, Stage.REPEAT, Stage.LOYAL, "repeat"])
def test_win_back_is_dormant_to_active(previous, current):
    assert is_win_back(previous, current) is True


@pytest.mark.parametrize(
    "previous, current",
    [
        (None, Stage.NEW),
        (Stage.VISITOR, Stage.NEW),
        (Stage.LEAD, Stage.NEW),
        (Stage.PROSPECT, Stage.NEW),
        (Stage.NEW, Stage.REPEAT),
        (Stage.REPEAT, Stage.LOYAL),
        (Stage.LOYAL, Stage.REPEAT),
        (Stage.REPEAT, Stage.AT_RISK),
        (Stage.AT_RISK, Stage.LAPSED),
        (Stage.LAPSED, Stage.AT_RISK),
        (Stage.AT_RISK, Stage.AT_RISK),
    ],
)
def test_not_a_win_back(previous, current):
    assert is_win_back(previous, current) is False


@pytest.mark.parametrize("silence, dormant", [(120, Stage.AT_RISK), (400, Stage.LAPSED)])
def test_a_new_order_from_a_dormant_customer_is_a_win_back(silence, dormant):
    history = [order(silence + 30), order(silence)]
    before = decide(customer(*history), DEFAULT, NOW)
    assert before.stage is dormant
    after = decide(customer(*history, order(0)), DEFAULT, NOW)
    assert after.stage is Stage.REPEAT
    assert is_win_back(before.stage, after.stage)


def test_buyer_rank_orders_the_ladder():
    assert BUYER_RANK[Stage.LAPSED] < BUYER_RANK[Stage.AT_RISK] < BUYER_RANK[Stage.NEW]
    assert BUYER_RANK[Stage.NEW] < BUYER_RANK[Stage.REPEAT] < BUYER_RANK[Stage.LOYAL]
    assert set(BUYER_RANK) == set(Stage) - {Stage.VISITOR, Stage.LEAD, Stage.PROSPECT}


# --------------------------------------------------------------------------- tiers


@pytest.mark.parametrize(
    "spend, tier",
    [
        ({"USD": "99.99"}, None),
        ({"USD": "100"}, "bronze"),
        ({"EUR": "100"}, "bronze"),
        ({"PLN": "399.99"}, None),
        ({"PLN": "400"}, "bronze"),
        ({"USD": "499.99"}, "bronze"),
        ({"USD": "500"}, "silver"),
        ({"PLN": "6000"}, "gold"),
        # Never add two currencies: 90 + 90 is not 100 of anything.
        ({"USD": "90", "EUR": "90"}, None),
        ({"USD": "90", "EUR": "90", "PLN": "390"}, None),
        ({"USD": "300", "EUR": "300"}, "bronze"),
        # The highest tier reached in any single currency.
        ({"USD": "600", "PLN": "500"}, "silver"),
        ({"USD": "100", "PLN": "6000"}, "gold"),
        ({"EUR": "1500", "USD": "1"}, "gold"),
        # A currency with no thresholds reaches nothing however much is spent.
        ({"GBP": "1000000"}, None),
    ],
)
def test_tier_per_currency(spend, tier):
    orders = [order(10, currency=cur, total=amount) for cur, amount in spend.items()]
    assert decide(customer(*orders), DEFAULT, NOW).tier == tier
    assert tier_for({cur: Decimal(a) for cur, a in spend.items()}, DEFAULT.tiers) == tier


def test_orders_in_one_currency_add_up():
    d = decide(customer(order(30, total="60"), order(20, total="40")), DEFAULT, NOW)
    assert d.tier == "bronze"
    assert d.summary.window_spend == {"USD": Decimal("100")}


def test_tier_window_boundary():
    exactly = order(days(365), total="600")
    assert decide(customer(exactly), DEFAULT, NOW).tier is None
    inside = order(days(365) - US, total="600")
    d = decide(customer(inside), DEFAULT, NOW)
    assert d.tier == "silver"
    assert d.next_change_at == NOW + US


def test_tier_next_change_is_the_first_exit_that_changes_the_tier():
    # Lapsed customer (no stage change ahead): 60 + 60 + 10 USD -> bronze.
    orders = [order(330, total="10"), order(300, total="60"), order(250, total="60")]
    d = decide(customer(*orders), DEFAULT, NOW)
    assert d.stage is Stage.LAPSED
    assert d.tier == "bronze"
    # The 10 USD order leaving (NOW + 35d) keeps 120 >= 100; the next one (NOW + 65d) drops it.
    assert d.next_change_at == NOW + days(65)
    assert decide(customer(*orders), DEFAULT, NOW + days(65) - US).tier == "bronze"
    assert decide(customer(*orders), DEFAULT, NOW + days(65)).tier is None


def test_tier_steps_down_one_tier_at_a_time():
    orders = [order(300, total="1000"), order(250, total="600")]  # 1600 -> gold
    d = decide(customer(*orders), DEFAULT, NOW)
    assert d.tier == "gold"
    assert d.next_change_at == NOW + days(65)
    d = decide(customer(*orders), DEFAULT, NOW + days(65))
    assert d.tier == "silver"
    assert d.next_change_at == NOW + days(115)


def test_orders_at_the_same_instant_leave_the_tier_window_together():
    at = NOW - days(300)
    orders = [
        OrderFact("a", at, "USD", Decimal("80")),
        OrderFact("b", at, "USD", Decimal("30")),
        OrderFact("c", NOW - days(200), "USD", Decimal("5")),
    ]
    d = decide(customer(*orders), DEFAULT, NOW)
    assert d.tier == "bronze"
    assert d.next_change_at == at + days(365)


def test_tier_in_one_currency_is_not_lost_by_spend_in_another_leaving():
    orders = [order(300, currency="PLN", total="500"), order(200, total="100")]
    d = decide(customer(*orders), DEFAULT, NOW)
    assert d.tier == "bronze"
    # PLN leaving at NOW + 65d keeps USD bronze; USD leaves at NOW + 165d.
    assert d.next_change_at == NOW + days(165)


def test_tier_for_with_tiers_missing_a_currency():
    tiers = (
        Tier("bronze", {"USD": Decimal("100")}),
        Tier("silver", {"PLN": Decimal("2000")}),
        Tier("gold", {"USD": Decimal("1500"), "PLN": Decimal("6000")}),
    )
    assert tier_for({"USD": Decimal("1000")}, tiers) == "bronze"
    assert tier_for({"USD": Decimal("1000"), "PLN": Decimal("2000")}, tiers) == "silver"
    assert tier_for({"USD": Decimal("1500")}, tiers) == "gold"
    assert tier_for({}, tiers) is None
    assert tier_for({"USD": Decimal("1000")}, ()) is None


def test_no_tiers_configured_means_no_tier():
    config = LifecycleConfig(tiers=()).validate()
    d = decide(customer(order(10, total="100000")), config, NOW)
    assert d.tier is None
    assert d.next_change_at == NOW - days(10) + days(90)


def test_tier_progress_without_a_tier():
    progress = tier_progress({"USD": Decimal("40")}, None, DEFAULT)
    assert progress == [
        TierProgress("EUR", Decimal("0"), "bronze", Decimal("100")),
        TierProgress("PLN", Decimal("0"), "bronze", Decimal("400")),
        TierProgress("USD", Decimal("40"), "bronze", Decimal("60")),
    ]


def test_tier_progress_from_silver_points_at_gold():
    progress = tier_progress({"USD": Decimal("700"), "PLN": Decimal("2500")}, "silver", DEFAULT)
    assert progress == [
        TierProgress("EUR", Decimal("0"), "gold", Decimal("1500")),
        TierProgress("PLN", Decimal("2500"), "gold", Decimal("3500")),
        TierProgress("USD", Decimal("700"), "gold", Decimal("800")),
    ]


def test_tier_progress_at_the_top_is_empty():
    assert tier_progress({"USD": Decimal("2000")}, "gold", DEFAULT) == []


def test_tier_progress_skips_tiers_without_the_currency():
    config = LifecycleConfig(
        tiers=(
            Tier("bronze", {"USD": Decimal("100")}),
            Tier("silver", {"PLN": Decimal("2000")}),
            Tier("gold", {"USD": Decimal("1500"), "PLN": Decimal("6000")}),
        )
    ).validate()
    progress = tier_progress({"USD": Decimal("200")}, "bronze", config)
    assert progress == [
        TierProgress("PLN", Decimal("0"), "silver", Decimal("2000")),
        TierProgress("USD", Decimal("200"), "gold", Decimal("1300")),
    ]


def test_tier_progress_from_a_decision():
    d = decide(customer(order(10, total="150"), order(5, currency="PLN", total="100")), DEFAULT, NOW)
    assert d.tier == "bronze"
    by_currency = {p.currency: p for p in tier_progress(d.summary.window_spend, d.tier, DEFAULT)}
    assert by_currency["USD"].next_tier == "silver"
    assert by_currency["USD"].remaining == Decimal("350")
    assert by_currency["PLN"].remaining == Decimal("1900")
    assert by_currency["EUR"].spend == 0


def test_invalid_config_is_rejected_before_deciding():
    with pytest.raises(ConfigError):
        LifecycleConfig(at_risk_days=200).validate()
