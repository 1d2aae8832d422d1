"""Hypothesis strategies for the ladder's differential tests: settings, then customers
whose order gaps and silences sit on, just before and just after every threshold.

Shared by tests/rules (statement vs decide, pure) and tests/ladder (SQL vs Python).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import strategies as st

from lifecycle_plugin.rules import CustomerFacts, LifecycleConfig, OrderFact, OrderState, Tier

UTC = timezone.utc
US = timedelta(microseconds=1)
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
#: GBP is in no default tier: its spend never reaches one.
CURRENCIES = ("USD", "EUR", "PLN", "GBP")
NOWS = st.datetimes(min_value=datetime(2018, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))
AMOUNTS = st.one_of(
    st.decimals(min_value=Decimal(0), max_value=Decimal(2500), places=2),
    st.sampled_from([Decimal("0"), Decimal("100"), Decimal("400"), Decimal("500.000"), Decimal("1500")]),
)


@st.composite
def tier_tables(draw) -> tuple[Tier, ...]:
    count = draw(st.integers(0, 3))
    tiers = []
    floor = {c: Decimal(0) for c in CURRENCIES[:3]}
    for code in ("bronze", "silver", "gold")[:count]:
        chosen = draw(st.lists(st.sampled_from(CURRENCIES[:3]), min_size=1, max_size=3, unique=True))
        thresholds = {}
        for currency in chosen:
            step = draw(st.decimals(min_value=Decimal("0.01"), max_value=Decimal(1500), places=2))
            thresholds[currency] = floor[currency] = floor[currency] + step
        tiers.append(Tier(code, thresholds))
    return tuple(tiers)


@st.composite
def configs(draw) -> LifecycleConfig:
    if draw(st.integers(0, 3)) == 0:
        return LifecycleConfig(count_only_paid=draw(st.booleans()))
    lapsed = draw(st.integers(2, 400))
    at_risk = draw(st.integers(1, lapsed - 1))
    return LifecycleConfig(
        at_risk_days=at_risk,
        lapsed_days=lapsed,
        loyal_min_orders=draw(st.integers(2, 5)),
        loyal_window_days=draw(st.integers(1, 400)),
        personal_gap_min_orders=draw(st.integers(2, 5)),
        personal_gap_multiplier=draw(st.one_of(
            st.sampled_from([Decimal(1), Decimal(2), Decimal("1.5"), Decimal("0.5")]),
            st.decimals(min_value=Decimal("0.1"), max_value=Decimal(5), places=3),
        )),
        personal_gap_floor_days=draw(st.integers(1, at_risk)),
        count_only_paid=draw(st.booleans()),
        tier_window_days=draw(st.integers(1, 400)),
        tiers=draw(tier_tables()),
    ).validate()


def near_thresholds(config: LifecycleConfig) -> st.SearchStrategy[timedelta]:
    """Durations on, just before and just after the settings' thresholds (and their halves,
    and gaps the personal multiplier scales onto them). Mostly exactly on one."""
    days = sorted({config.at_risk_days, config.lapsed_days, config.loyal_window_days, config.tier_window_days,
                   config.personal_gap_floor_days})
    exact = st.sampled_from(days).map(lambda d: d * DAY)
    base = st.one_of(exact, exact, exact.map(lambda d: d / 2),
                     exact.map(lambda d: d / float(config.personal_gap_multiplier)))
    jitter = st.sampled_from([timedelta(0)] * 4 + [US, -US, SECOND, -SECOND, HOUR, -HOUR, DAY, -DAY])
    return st.builds(lambda d, j: max(d + j, timedelta(0)), base, jitter)


def durations(config: LifecycleConfig) -> st.SearchStrategy[timedelta]:
    near = near_thresholds(config)
    return st.one_of(
        near, near, near,
        st.just(timedelta(0)),
        st.integers(0, 60).map(lambda d: d * DAY),
        st.timedeltas(min_value=timedelta(0), max_value=500 * DAY),
    )


@st.composite
def order_facts(draw, index: int, placed_at: datetime) -> OrderFact:
    total = draw(AMOUNTS)
    refund = draw(st.sampled_from(["none"] * 5 + ["partial", "full", "over"]))
    refunded = {
        "none": Decimal(0),
        "partial": draw(st.decimals(min_value=Decimal(0), max_value=total, places=2)),
        "full": total,
        "over": total + Decimal("5.00"),
    }[refund]
    return OrderFact(
        order_id=f"o{index}",
        placed_at=placed_at,
        currency=draw(st.sampled_from(CURRENCIES)),
        total=total,
        state=draw(st.sampled_from([OrderState.PLACED] * 8 + list(OrderState))),
        paid=draw(st.sampled_from([True, True, True, False])),
        refunded=refunded,
    )


@st.composite
def customers(draw, config: LifecycleConfig, now: datetime) -> CustomerFacts:
    """A history walked back from the last order: the personal rhythm with 2, 3 and many orders."""
    count = draw(st.sampled_from([0, 1, 2, 3, 3, 4, 5, 6, 9, 14]))
    gaps = durations(config)
    # Some customers keep a steady rhythm (their median gap is one of these values).
    steady = draw(st.one_of(st.none(), gaps))
    moment = now - draw(durations(config))
    orders = []
    for index in range(count):
        orders.append(draw(order_facts(index, moment)))
        moment -= steady if steady is not None and draw(st.booleans()) else draw(gaps)
    return CustomerFacts(
        email=f"c{draw(st.integers(0, 10**6))}@example.com",
        # A guest who became an account holder, with the orders they placed as a guest.
        has_account=draw(st.booleans()),
        orders=tuple(orders),
        open_cart_lines=draw(st.sampled_from([0, 0, 1, 3])),
    )


@st.composite
def stores(draw, max_customers: int = 6) -> tuple[LifecycleConfig, datetime, list[CustomerFacts]]:
    """Settings, a moment and a few customers decided together."""
    config = draw(configs())
    now = draw(NOWS)
    return config, now, draw(st.lists(customers(config, now), min_size=1, max_size=max_customers))
