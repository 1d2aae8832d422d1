"""History reconstructed from the orders (rules/timeline.py): each move dated on the day
it took effect, with the reason the event path would have recorded."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, given, settings

from lifecycle_plugin.rules import CustomerFacts, LifecycleConfig, OrderFact, OrderState, Rule, decide
from lifecycle_plugin.rules.timeline import BACKFILL, EVENT, TIME, WIN_BACK, reconstruct
from tests.rules.ladder_strategies import stores

T0 = datetime(2023, 1, 1, 9, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def order(day: int, total: str, **kwargs) -> OrderFact:
    return OrderFact(f"o{day}", T0 + day * DAY, "USD", Decimal(total), **kwargs)


def moves(timeline):
    return [((m.at - T0) / DAY, m.from_stage, m.to_stage, m.reason) for m in timeline.stage_moves]


def tier_moves(timeline):
    return [((m.at - T0) / DAY, m.from_tier, m.to_tier, m.reason) for m in timeline.tier_moves]


def test_a_buyers_whole_story_is_dated_on_the_orders_and_thresholds():
    facts = CustomerFacts("a@example.com", orders=(
        order(0, "200"), order(30, "400"), order(60, "50"), order(90, "50"),
        order(120, "999", state=OrderState.CANCELLED), order(400, "50"),
    ))
    timeline = reconstruct(facts, LifecycleConfig(), T0 + 410 * DAY)
    assert moves(timeline) == [
        (0, None, "new", EVENT),
        (30, "new", "repeat", EVENT),
        (90, "repeat", "loyal", EVENT),  # four orders in the window
        (150, "loyal", "at_risk", TIME),  # 2 x the 30-day median gap after the last order
        (270, "at_risk", "lapsed", TIME),  # 180 days after the last order
        (400, "lapsed", "repeat", WIN_BACK),  # three orders left in the window: not loyal
    ]
    assert timeline.stage_moves[3].rule == Rule.AT_RISK_PERSONAL
    assert timeline.stage_moves[3].facts["median_gap_days"] == 30.0
    assert tier_moves(timeline) == [
        (0, None, "bronze", EVENT),
        (30, "bronze", "silver", EVENT),
        (395, "silver", "bronze", TIME),  # the 400 USD order left the 365-day window
    ]
    assert timeline.tier_moves[-1].window_spend == {"USD": Decimal("100")}
    assert timeline.since == T0 + 400 * DAY
    assert timeline.decision.stage == "repeat" and timeline.decision.tier == "bronze"


def test_loyal_falls_back_to_repeat_when_the_window_empties():
    facts = CustomerFacts("a@example.com", orders=tuple(order(day, "10") for day in (0, 10, 20, 30)))
    config = LifecycleConfig(loyal_window_days=40, personal_gap_min_orders=10)
    assert moves(reconstruct(facts, config, T0 + 60 * DAY))[-2:] == [(30, "repeat", "loyal", EVENT),
                                                                       (40, "loyal", "repeat", TIME)]


def test_a_move_due_at_the_moment_of_an_order_is_the_orders():
    facts = CustomerFacts("a@example.com", orders=(order(0, "10"), order(90, "10")))
    assert moves(reconstruct(facts, LifecycleConfig(), T0 + 100 * DAY)) == [
        (0, None, "new", EVENT), (90, "new", "repeat", EVENT)]


def test_without_a_counted_order_the_present_stage_is_dated_now():
    now = T0 + 5 * DAY
    facts = CustomerFacts("a@example.com", has_account=True, orders=(order(1, "10", state=OrderState.DRAFT),))
    timeline = reconstruct(facts, LifecycleConfig(), now)
    assert [(m.at, m.from_stage, m.to_stage, m.reason) for m in timeline.stage_moves] == [(now, None, "lead", BACKFILL)]
    assert timeline.tier_moves == ()


def test_orders_after_now_are_left_out():
    facts = CustomerFacts("a@example.com", orders=(order(0, "10"), order(50, "10")))
    timeline = reconstruct(facts, LifecycleConfig(), T0 + 20 * DAY)
    assert moves(timeline) == [(0, None, "new", EVENT)]
    assert timeline.decision.summary.orders_count == 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stores(max_customers=3))
def test_the_timeline_ends_in_the_decision_for_now(store):
    config, now, customers = store
    for facts in customers:
        timeline = reconstruct(facts, config, now)
        decision = decide(facts.as_of(now), config, now)
        assert timeline.stage_moves[-1].to_stage == decision.stage
        assert (timeline.tier_moves[-1].to_tier if timeline.tier_moves else None) == decision.tier
        dates = [m.at for m in timeline.stage_moves]
        assert dates == sorted(dates) and len(set(dates)) == len(dates)
        assert all(m.at <= now for m in (*timeline.stage_moves, *timeline.tier_moves))
