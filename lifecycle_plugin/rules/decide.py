"""The stage and tier decision: facts + config + clock -> Decision.

Pure and deterministic. Besides the stage and tier it reports the exact moment
at which the decision would next change if nothing else happened, which lets the
engine precompute time-based moves instead of scanning every customer.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from .config import LifecycleConfig, Tier
from .facts import CustomerFacts, OrderFact, OrderState
from .stages import Stage


class Rule:
    """Names of the rules that can decide a stage; stored with every transition."""

    VISITOR = "visitor:guest_without_order"
    LEAD = "lead:account_without_order"
    PROSPECT = "prospect:open_cart"
    NEW = "new:one_order"
    REPEAT = "repeat:two_or_more_orders"
    LOYAL = "loyal:orders_in_window"
    AT_RISK_DAYS = "at_risk:no_order_for_at_risk_days"
    AT_RISK_PERSONAL = "at_risk:overdue_on_personal_rhythm"
    LAPSED = "lapsed:no_order_for_lapsed_days"


@dataclass(frozen=True, slots=True)
class Summary:
    """Counters derived from the counted orders; stored on the profile."""

    orders_count: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    orders_by_currency: Mapping[str, int]
    lifetime_spend: Mapping[str, Decimal]
    window_spend: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class Decision:
    stage: Stage
    tier: str | None
    rule: str
    facts: Mapping[str, Any]
    next_change_at: datetime | None
    summary: Summary


def counts(order: OrderFact, config: LifecycleConfig) -> bool:
    """Whether an order is a purchase: placed, not fully refunded, and paid if the config asks."""
    if order.state != OrderState.PLACED or order.fully_refunded:  # != also accepts a host's plain "placed"
        return False
    return order.paid or not config.count_only_paid


def decide(facts: CustomerFacts, config: LifecycleConfig, now: datetime) -> Decision:
    # A backfill calls this once per customer, a million times: each order's net
    # amount is computed once, and the spend in the tier window once for both the
    # summary and the tier.
    orders = sorted((o for o in facts.orders if counts(o, config)), key=_placed_at)
    nets = [o.net_amount for o in orders]
    tier_window = _days(config.tier_window_days)
    window_start = _earlier(now, tier_window)
    first_in_window = _first_after(orders, window_start)
    window_spend = _spend(orders, nets, first_in_window)
    summary = _summarise(orders, nets, window_spend)
    stage, rule, used, stage_change = _stage(facts, orders, config, now)
    tier, tier_change = _tier(orders, nets, first_in_window, dict(window_spend), tier_window, config)
    next_change_at = _earliest(stage_change, tier_change)
    return Decision(
        stage=stage,
        tier=tier,
        rule=rule,
        facts=used,
        next_change_at=next_change_at,
        summary=summary,
    )


def _placed_at(order: OrderFact) -> datetime:
    return order.placed_at


_ZERO = Decimal(0)


def _first_after(orders: list[OrderFact], moment: datetime | None) -> int:
    """The index of the first order (sorted by time) placed strictly after `moment` (None: before all time)."""
    if moment is None:
        return 0
    for index, order in enumerate(orders):
        if order.placed_at > moment:
            return index
    return len(orders)


def _days(n: int) -> timedelta:
    return timedelta(days=n)


# The settings keep every window to ten years, but a host may hand over any datetime:
# near datetime.min or .max, `moment -/+ window` leaves the calendar. Such a window
# starts before all time, and such a change comes never.

def _earlier(moment: datetime, delta: timedelta) -> datetime | None:
    """`moment - delta`, or None when that is before the first representable moment."""
    try:
        return moment - delta
    except OverflowError:
        return None


def _later(moment: datetime, delta: timedelta) -> datetime | None:
    """`moment + delta`, or None (never) when that is after the last representable moment."""
    try:
        return moment + delta
    except OverflowError:
        return None


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    """The earlier of two moments that may never come (None)."""
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)


def at_risk_after(orders: list[OrderFact], config: LifecycleConfig) -> tuple[timedelta, str, Any]:
    """The silence after which a buyer is at risk, the rule behind it, and its median gap.

    It depends only on the gaps between orders, never on the clock.
    """
    global_threshold = _days(config.at_risk_days)
    if len(orders) < config.personal_gap_min_orders:
        return global_threshold, Rule.AT_RISK_DAYS, None
    gaps = sorted([b.placed_at - a.placed_at for a, b in zip(orders, orders[1:])])
    # statistics.median, inlined: the same middle value, or the same mean of the two.
    middle = len(gaps) // 2
    median_gap = gaps[middle] if len(gaps) % 2 == 1 else (gaps[middle - 1] + gaps[middle]) / 2
    personal = _scale(median_gap, config.personal_gap_multiplier)
    personal = max(personal, _days(config.personal_gap_floor_days))
    if personal < global_threshold:
        return personal, Rule.AT_RISK_PERSONAL, median_gap
    return global_threshold, Rule.AT_RISK_DAYS, median_gap


def _scale(delta: timedelta, factor: Decimal) -> timedelta:
    micro = delta // _MICROSECOND
    if factor == factor.to_integral_value() and abs(factor) < _EXACT_FACTOR:
        # A whole factor: integer arithmetic gives exactly what the Decimal product gives.
        return timedelta(microseconds=micro * int(factor))
    microseconds = (Decimal(micro) * factor).to_integral_value()
    return timedelta(microseconds=int(microseconds))


_MICROSECOND = timedelta(microseconds=1)
#: Below this a whole factor times any timedelta's microseconds has fewer than the
#: Decimal context's 28 digits, so the Decimal product is exact and equals the int one.
_EXACT_FACTOR = 10**6


def _stage(
    facts: CustomerFacts, orders: list[OrderFact], config: LifecycleConfig, now: datetime
) -> tuple[Stage, str, dict[str, Any], datetime | None]:
    if not orders:
        if facts.open_cart_lines > 0:
            return Stage.PROSPECT, Rule.PROSPECT, {"open_cart_lines": facts.open_cart_lines}, None
        if facts.has_account:
            return Stage.LEAD, Rule.LEAD, {"has_account": True, "orders": 0}, None
        return Stage.VISITOR, Rule.VISITOR, {"has_account": False, "orders": 0}, None

    last = orders[-1].placed_at
    silence = now - last
    lapsed_after = _days(config.lapsed_days)
    risk_after, risk_rule, median_gap = at_risk_after(orders, config)
    base = {"orders": len(orders), "last_order_at": last.isoformat(), "days_since_last_order": silence.days}

    if silence >= lapsed_after:
        return Stage.LAPSED, Rule.LAPSED, {**base, "lapsed_days": config.lapsed_days}, None
    if silence >= risk_after:
        used = {**base, "at_risk_after_days": _as_days(risk_after)}
        if median_gap is not None:
            used["median_gap_days"] = _as_days(median_gap)
        return Stage.AT_RISK, risk_rule, used, _later(last, lapsed_after)

    at_risk_at = _later(last, risk_after)
    window_start = _earlier(now, _days(config.loyal_window_days))
    # Orders strictly inside (now - window, ...]; an order exactly `window` old has left.
    placed = [o.placed_at for o in orders]
    in_window = placed if window_start is None else placed[bisect_right(placed, window_start):]
    if len(in_window) >= config.loyal_min_orders:
        # The window count drops below the minimum when this order leaves it.
        loyal_until = _later(in_window[len(in_window) - config.loyal_min_orders], _days(config.loyal_window_days))
        used = {**base, "orders_in_window": len(in_window), "loyal_window_days": config.loyal_window_days}
        return Stage.LOYAL, Rule.LOYAL, used, _earliest(loyal_until, at_risk_at)
    if len(orders) >= 2:
        return Stage.REPEAT, Rule.REPEAT, base, at_risk_at
    return Stage.NEW, Rule.NEW, base, at_risk_at


def _as_days(delta: timedelta) -> float:
    return round(delta / timedelta(days=1), 4)


def tier_for(spend: Mapping[str, Decimal], tiers: tuple[Tier, ...]) -> str | None:
    """The highest tier reached in any single currency; amounts of two currencies never add up."""
    reached = None
    for tier in tiers:
        for currency, amount in tier.thresholds.items():
            if spend.get(currency, _ZERO) >= amount:
                reached = tier.code
                break
    return reached


def _tier(orders: list[OrderFact], nets: list[Decimal], first_in_window: int, spend: dict[str, Decimal],
          window: timedelta, config: LifecycleConfig) -> tuple[str | None, datetime | None]:
    """The tier for the spend of the orders from `first_in_window` on (`spend`, which this changes)."""
    tier = tier_for(spend, config.tiers)
    if tier is None:
        return None, None
    # Spend only falls as orders leave the window; find the first exit that changes the tier.
    # Orders are sorted by placed_at, so exits come in this order; orders with the same
    # timestamp leave together, so the tier is judged only after the last of them.
    last = len(orders) - 1
    for index in range(first_in_window, last + 1):
        order = orders[index]
        spend[order.currency] -= nets[index]
        if index == last or orders[index + 1].placed_at != order.placed_at:
            if tier_for(spend, config.tiers) != tier:
                return tier, _later(order.placed_at, window)
    raise AssertionError("with every order gone from the window no tier can be reached")


def _spend(orders: list[OrderFact], nets: list[Decimal], start: int = 0) -> dict[str, Decimal]:
    """Net spend per currency of the orders from index `start` on."""
    spend: dict[str, Decimal] = {}
    for index in range(start, len(orders)):
        currency = orders[index].currency
        spend[currency] = spend.get(currency, _ZERO) + nets[index]
    return spend


def _summarise(orders: list[OrderFact], nets: list[Decimal], window_spend: dict[str, Decimal]) -> Summary:
    by_currency: dict[str, int] = {}
    for order in orders:
        by_currency[order.currency] = by_currency.get(order.currency, 0) + 1
    return Summary(
        orders_count=len(orders),
        first_order_at=orders[0].placed_at if orders else None,
        last_order_at=orders[-1].placed_at if orders else None,
        orders_by_currency=by_currency,
        lifetime_spend=_spend(orders, nets),
        window_spend=window_spend,
    )


@dataclass(frozen=True, slots=True)
class TierProgress:
    currency: str
    spend: Decimal
    next_tier: str
    remaining: Decimal


def tier_progress(window_spend: Mapping[str, Decimal], tier: str | None, config: LifecycleConfig) -> list[TierProgress]:
    """For each currency that has a higher tier, how much more spend reaches the next one."""
    codes = config.tier_codes
    start = codes.index(tier) + 1 if tier in codes else 0
    progress = []
    currencies = {cur for t in config.tiers[start:] for cur in t.thresholds}
    for currency in sorted(currencies):
        spend = window_spend.get(currency, Decimal(0))
        for candidate in config.tiers[start:]:
            threshold = candidate.thresholds.get(currency)
            if threshold is not None and threshold > spend:
                progress.append(TierProgress(currency, spend, candidate.code, threshold - spend))
                break
    return progress
