"""Property tests for decide(): determinism, time only ever moving buyers down the
ladder, exact next-change times, and agreement with a naive reading of DESIGN.md.

Facts: 0-12 orders in USD/PLN/EUR with random states, paid flags and refunds,
placed at or before `now`; configs: the defaults or random valid thresholds and tiers.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lifecycle_plugin.rules import (
    ACTIVE_BUYER,
    BUYER_RANK,
    DORMANT,
    PRE_PURCHASE,
    CustomerFacts,
    Decision,
    LifecycleConfig,
    OrderFact,
    OrderState,
    Stage,
    Tier,
    decide,
    is_win_back,
)

UTC = timezone.utc
US = timedelta(microseconds=1)
DAY = timedelta(days=1)
CURRENCIES = ("USD", "PLN", "EUR")
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- strategies

NOWS = st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))

AMOUNTS = st.decimals(min_value=Decimal(0), max_value=Decimal(3000), places=2)


def ages_within(span_days: int) -> st.SearchStrategy[timedelta]:
    """How long before `now` an order was placed. Whole days hit the (whole-day) thresholds exactly."""
    return st.one_of(
        st.integers(0, span_days).map(lambda d: d * DAY),
        st.integers(0, span_days * 24).map(lambda h: timedelta(hours=h)),
        st.timedeltas(min_value=timedelta(0), max_value=span_days * DAY),
    )


@st.composite
def orders(draw, now: datetime, index: int, ages: st.SearchStrategy[timedelta]) -> OrderFact:
    total = draw(AMOUNTS)
    # Mostly counted orders; the rest cancelled/draft/..., unpaid or (fully) refunded.
    refund = draw(st.sampled_from(["none"] * 5 + ["partial", "full", "over"]))
    if refund == "partial":
        refunded = draw(st.decimals(min_value=Decimal(0), max_value=total, places=2))
    elif refund == "full":
        refunded = total
    elif refund == "over":
        refunded = total + draw(st.decimals(min_value=Decimal(0), max_value=Decimal(100), places=2))
    else:
        refunded = Decimal(0)
    return OrderFact(
        order_id=f"o{index}",
        placed_at=now - draw(ages),
        currency=draw(st.sampled_from(CURRENCIES)),
        total=total,
        state=draw(st.sampled_from([OrderState.PLACED] * 6 + list(OrderState))),
        paid=draw(st.sampled_from([True, True, True, False])),
        refunded=refunded,
    )


@st.composite
def customers(draw, now: datetime) -> CustomerFacts:
    # Histories over a few days up to a few years, so that short rhythms, loyalty windows
    # and long silences all occur; a small pool of ages shared by several orders gives
    # same-instant orders and equal gaps.
    span = draw(st.sampled_from([3, 20, 60, 200, 400, 1000]))
    pool = draw(st.lists(ages_within(span), min_size=1, max_size=3))
    ages = st.one_of(st.sampled_from(pool), ages_within(span))
    n = draw(st.integers(0, 12))
    return CustomerFacts(
        email="shopper@example.com",
        has_account=draw(st.booleans()),
        orders=tuple(draw(orders(now, i, ages)) for i in range(n)),
        open_cart_lines=draw(st.integers(0, 3)),
    )


@st.composite
def tier_tuples(draw) -> tuple[Tier, ...]:
    count = draw(st.integers(0, 4))
    names = ["bronze", "silver", "gold", "platinum"][:count]
    amounts = {
        cur: sorted(
            draw(
                st.lists(
                    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(6000), places=2),
                    min_size=count,
                    max_size=count,
                    unique=True,
                )
            )
        )
        for cur in CURRENCIES
    }
    tiers = []
    for i, name in enumerate(names):
        chosen = draw(st.lists(st.sampled_from(CURRENCIES), min_size=1, max_size=3, unique=True))
        tiers.append(Tier(name, {cur: amounts[cur][i] for cur in chosen}))
    return tuple(tiers)


@st.composite
def random_configs(draw) -> LifecycleConfig:
    lapsed = draw(st.integers(2, 700))
    at_risk = draw(st.integers(1, lapsed - 1))
    return LifecycleConfig(
        at_risk_days=at_risk,
        lapsed_days=lapsed,
        loyal_min_orders=draw(st.integers(2, 6)),
        loyal_window_days=draw(st.integers(1, 800)),
        personal_gap_min_orders=draw(st.integers(2, 6)),
        personal_gap_multiplier=draw(st.decimals(min_value=Decimal("0.1"), max_value=Decimal(5), places=2)),
        personal_gap_floor_days=draw(st.integers(1, at_risk)),
        count_only_paid=draw(st.booleans()),
        tier_window_days=draw(st.integers(1, 800)),
        tiers=draw(tier_tuples()),
    ).validate()


CONFIGS = st.one_of(st.just(LifecycleConfig()), random_configs())


@st.composite
def scenarios(draw) -> tuple[CustomerFacts, LifecycleConfig, datetime]:
    now = draw(NOWS)
    return draw(customers(now)), draw(CONFIGS), now


#: How far into the future to look.
LATER = st.one_of(
    st.integers(0, 2000).map(lambda d: d * DAY),
    st.timedeltas(min_value=timedelta(0), max_value=2000 * DAY),
)


# --------------------------------------------------------------------------- helpers


def tier_rank(decision: Decision, config: LifecycleConfig) -> int:
    return -1 if decision.tier is None else config.tier_codes.index(decision.tier)


def outcome(d: Decision) -> tuple:
    return d.stage, d.tier


def with_orders(facts: CustomerFacts, new_orders) -> CustomerFacts:
    return dataclasses.replace(facts, orders=tuple(new_orders))


# Edge cases pinned as explicit examples (they also run with every hypothesis run).
NOW0 = datetime(2025, 6, 15, 12, tzinfo=UTC)
DEFAULT = LifecycleConfig()


def _o(i, age, total="50", currency="USD"):
    return OrderFact(f"e{i}", NOW0 - age, currency, Decimal(total))


EDGE_CASES = [
    # at risk exactly at 90 days, and one microsecond before
    (CustomerFacts("a@x", orders=(_o(1, 90 * DAY),)), DEFAULT, NOW0),
    (CustomerFacts("a@x", orders=(_o(1, 90 * DAY - US),)), DEFAULT, NOW0),
    # loyal with the oldest order one microsecond inside the window
    (CustomerFacts("a@x", orders=(_o(1, 365 * DAY - US), _o(2, 200 * DAY), _o(3, 100 * DAY), _o(4, 10 * DAY))), DEFAULT, NOW0),
    # personal rhythm with a floor
    (CustomerFacts("a@x", orders=(_o(1, 15 * DAY), _o(2, 14 * DAY), _o(3, 13 * DAY))), DEFAULT, NOW0),
    # a tier that steps down while the customer is lapsed; same-instant orders
    (CustomerFacts("a@x", orders=(_o(1, 300 * DAY, "1000"), _o(2, 250 * DAY, "600"), _o(3, 250 * DAY, "1", "PLN"))), DEFAULT, NOW0),
]


def edge_examples(*rest):
    """Run each edge case as an explicit example; `rest` fills the test's other arguments."""

    def decorate(test):
        for case in EDGE_CASES:
            test = example(case, *rest)(test)
        return test

    return decorate


# --------------------------------------------------------------------------- determinism


@FAST
@edge_examples()
@given(scenarios())
def test_same_inputs_give_equal_decisions(scenario):
    facts, config, now = scenario
    first = decide(facts, config, now)
    # Rebuilt, equal (not identical) inputs.
    copy = dataclasses.replace(facts, orders=tuple(dataclasses.replace(o) for o in facts.orders))
    assert copy == facts and copy is not facts
    same_config = LifecycleConfig.from_settings(config.to_settings())
    assert decide(copy, same_config, now) == first
    assert decide(facts, config, now) == first


@FAST
@given(scenarios(), st.data())
def test_the_order_of_the_orders_tuple_does_not_matter(scenario, data):
    facts, config, now = scenario
    shuffled = with_orders(facts, data.draw(st.permutations(facts.orders)))
    a, b = decide(facts, config, now), decide(shuffled, config, now)
    assert (a.stage, a.tier, a.next_change_at) == (b.stage, b.tier, b.next_change_at)
    assert a.rule == b.rule
    assert a.summary == b.summary


@FAST
@given(scenarios(), st.timedeltas(min_value=-3000 * DAY, max_value=3000 * DAY))
def test_only_elapsed_time_matters_not_the_calendar(scenario, shift):
    facts, config, now = scenario
    moved = with_orders(facts, (dataclasses.replace(o, placed_at=o.placed_at + shift) for o in facts.orders))
    a, b = decide(facts, config, now), decide(moved, config, now + shift)
    assert outcome(a) == outcome(b)
    assert a.rule == b.rule
    assert (a.next_change_at is None) == (b.next_change_at is None)
    if a.next_change_at is not None:
        assert b.next_change_at == a.next_change_at + shift


@FAST
@given(scenarios(), st.integers(-12 * 60, 14 * 60))
def test_time_zones_do_not_matter(scenario, offset_minutes):
    facts, config, now = scenario
    zone = timezone(timedelta(minutes=offset_minutes))
    zoned = with_orders(facts, (dataclasses.replace(o, placed_at=o.placed_at.astimezone(zone)) for o in facts.orders))
    a, b = decide(facts, config, now), decide(zoned, config, now.astimezone(zone))
    assert (a.stage, a.tier, a.rule, a.next_change_at) == (b.stage, b.tier, b.rule, b.next_change_at)


@FAST
@given(scenarios(), st.dictionaries(st.sampled_from(["reviews", "referrals", "stage"]), st.integers(0, 5)))
def test_extra_facts_do_not_change_the_built_in_ladder(scenario, extra):
    facts, config, now = scenario
    assert decide(facts.with_extra(extra), config, now) == decide(facts, config, now)


# --------------------------------------------------------------------------- time passing


@FAST
@edge_examples()
@given(scenarios())
def test_next_change_is_none_or_strictly_after_now(scenario):
    facts, config, now = scenario
    d = decide(facts, config, now)
    assert d.next_change_at is None or d.next_change_at > now
    # Nothing can change with time exactly when the stage is final and there is no tier to lose.
    final = d.stage in PRE_PURCHASE or d.stage is Stage.LAPSED
    assert (d.next_change_at is None) == (final and d.tier is None)


@FAST
@edge_examples([DAY, 100 * DAY, 400 * DAY])
@given(scenarios(), st.lists(LATER, min_size=1, max_size=6))
def test_time_never_moves_a_customer_up(scenario, deltas):
    facts, config, now = scenario
    base = decide(facts, config, now)
    instants = [now + d for d in deltas]
    if base.next_change_at is not None:
        instants += [base.next_change_at - US, base.next_change_at, base.next_change_at + US]
    previous = base
    for when in sorted(instants):
        d = decide(facts, config, when)
        if base.stage in PRE_PURCHASE:
            assert d.stage is base.stage
        else:
            assert d.stage in BUYER_RANK
            assert BUYER_RANK[d.stage] <= BUYER_RANK[previous.stage], (previous.stage, d.stage, when)
            if previous.stage in DORMANT:
                assert d.stage in DORMANT
        assert tier_rank(d, config) <= tier_rank(previous, config), (previous.tier, d.tier, when)
        previous = d


@FAST
@edge_examples([0, 500_000, 999_999])
@given(scenarios(), st.lists(st.integers(0, 10**6 - 1), max_size=5))
def test_decision_is_constant_until_next_change_and_changes_exactly_then(scenario, fractions):
    facts, config, now = scenario
    base = decide(facts, config, now)
    if base.next_change_at is None:
        return
    span = (base.next_change_at - now) // US
    instants = {now, base.next_change_at - US}
    instants.update(now + US * (span * f // 10**6) for f in fractions)
    for when in instants:
        assert now <= when < base.next_change_at
        d = decide(facts, config, when)
        assert outcome(d) == outcome(base), when
        assert d.rule == base.rule
        # The predicted moment itself does not drift as time passes.
        assert d.next_change_at == base.next_change_at
    at = decide(facts, config, base.next_change_at)
    assert outcome(at) != outcome(base)


@FAST
@edge_examples([DAY, 10_000 * DAY])
@given(scenarios(), st.lists(st.one_of(LATER, st.integers(0, 300 * 365).map(lambda d: d * DAY)), min_size=1, max_size=5))
def test_without_next_change_nothing_ever_changes(scenario, deltas):
    facts, config, now = scenario
    base = decide(facts, config, now)
    if base.next_change_at is not None:
        return
    for delta in deltas:
        d = decide(facts, config, now + delta)
        assert outcome(d) == outcome(base)
        assert d.next_change_at is None


# --------------------------------------------------------------------------- new orders


@FAST
@edge_examples(Decimal("50"), "USD", 0)
@given(scenarios(), AMOUNTS, st.sampled_from(CURRENCIES), st.integers(0, 99))
def test_a_new_order_at_now_is_never_dormant_and_never_lowers_anything(scenario, total, currency, refund_percent):
    facts, config, now = scenario
    before = decide(facts, config, now)
    # A partial refund (rounded down, so always less than the total) keeps the order counted.
    refunded = (total * refund_percent / 100).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    new = OrderFact("new", now, currency, total, OrderState.PLACED, paid=True, refunded=refunded)
    after = decide(with_orders(facts, facts.orders + (new,)), config, now)

    assert after.stage not in DORMANT
    assert after.stage in ACTIVE_BUYER
    assert after.summary.orders_count == before.summary.orders_count + 1
    assert after.summary.last_order_at == now
    floor = BUYER_RANK[Stage.NEW]
    if before.stage in BUYER_RANK:
        floor = max(floor, BUYER_RANK[before.stage])
    assert BUYER_RANK[after.stage] >= floor
    assert tier_rank(after, config) >= tier_rank(before, config)
    assert is_win_back(before.stage, after.stage) == (before.stage in DORMANT)


# --------------------------------------------------------------------------- a naive oracle


def _counted(facts: CustomerFacts, config: LifecycleConfig) -> list[OrderFact]:
    """DESIGN.md: a placed order counts unless fully refunded; paid too if the config says so."""
    out = []
    for o in facts.orders:
        if o.state != OrderState.PLACED:
            continue
        if o.total > 0 and o.refunded >= o.total:
            continue
        if config.count_only_paid and not o.paid:
            continue
        out.append(o)
    return out


def _us(delta: timedelta) -> int:
    return delta // US


def oracle_stage(facts: CustomerFacts, config: LifecycleConfig, now: datetime) -> Stage | None:
    """The stage table read literally, with exact arithmetic; None when `now` is within a few
    microseconds of a rounded personal threshold (decide rounds to whole microseconds)."""
    counted = _counted(facts, config)
    if not counted:
        if facts.open_cart_lines > 0:
            return Stage.PROSPECT
        return Stage.LEAD if facts.has_account else Stage.VISITOR
    placed = sorted(o.placed_at for o in counted)
    silence = _us(now - placed[-1])
    if silence >= config.lapsed_days * _us(DAY):
        return Stage.LAPSED
    threshold = Fraction(config.at_risk_days * _us(DAY))
    personal = None
    if len(placed) >= config.personal_gap_min_orders:
        gaps = sorted(_us(b - a) for a, b in zip(placed, placed[1:]))
        mid = len(gaps) // 2
        median = Fraction(gaps[mid]) if len(gaps) % 2 else Fraction(gaps[mid - 1] + gaps[mid], 2)
        personal = max(median * Fraction(str(config.personal_gap_multiplier)), Fraction(config.personal_gap_floor_days * _us(DAY)))
        threshold = min(threshold, personal)
    if personal is not None and abs(silence - personal) <= 5:
        return None
    if silence >= threshold:
        return Stage.AT_RISK
    window = config.loyal_window_days * DAY
    if sum(1 for p in placed if now - p < window) >= config.loyal_min_orders:
        return Stage.LOYAL
    return Stage.REPEAT if len(placed) >= 2 else Stage.NEW


def oracle_spend(facts: CustomerFacts, config: LifecycleConfig, now: datetime) -> dict[str, Decimal]:
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for o in _counted(facts, config):
        if now - o.placed_at < config.tier_window_days * DAY:
            spend[o.currency] += max(o.total - o.refunded, Decimal(0))
    return dict(spend)


def oracle_tier(facts: CustomerFacts, config: LifecycleConfig, now: datetime) -> str | None:
    spend = oracle_spend(facts, config, now)
    reached = [t.code for t in config.tiers if any(spend.get(c, 0) >= a for c, a in t.thresholds.items())]
    return reached[-1] if reached else None


@FAST
@edge_examples()
@given(scenarios())
def test_decide_agrees_with_a_literal_reading_of_the_stage_table(scenario):
    facts, config, now = scenario
    d = decide(facts, config, now)
    expected = oracle_stage(facts, config, now)
    if expected is not None:
        assert d.stage is expected
    assert d.tier == oracle_tier(facts, config, now)
    assert d.summary.orders_count == len(_counted(facts, config))
    assert d.summary.window_spend == oracle_spend(facts, config, now)
    by_currency: dict[str, int] = defaultdict(int)
    for o in _counted(facts, config):
        by_currency[o.currency] += 1
    assert d.summary.orders_by_currency == by_currency


@FAST
@given(scenarios(), st.timedeltas(min_value=-1100 * DAY, max_value=DAY))
def test_as_of_replays_the_history_known_at_a_moment(scenario, back):
    facts, config, now = scenario
    moment = now + back
    past = facts.as_of(moment)
    assert past.orders == tuple(o for o in facts.orders if o.placed_at <= moment)
    assert dataclasses.replace(past, orders=facts.orders) == facts
    # Every generated order is placed at or before now: as of now nothing is left out.
    assert decide(facts.as_of(now), config, now) == decide(facts, config, now)
    if all(o.placed_at <= moment for o in facts.orders):
        assert past == facts
