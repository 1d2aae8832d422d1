"""The stage and tier decision: facts + config + clock -> Decision.

Pure and deterministic. Besides the stage and tier it reports the exact moment
at which the decision would next change if nothing else happened, which lets the
engine precompute time-based moves instead of scanning every customer.
"""

from __future__ import annotations

import statistics
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

    def same_outcome(self, other: Decision) -> bool:
        return self.stage == other.stage and self.tier == other.tier


def counts(order: OrderFact, config: LifecycleConfig) -> bool:
    """Whether an order is a purchase: placed, not fully refunded, and paid if the config asks."""
    if order.state != OrderState.PLACED or order.fully_refunded:  # != also accepts a host's plain "placed"
        return False
    return order.paid or not config.count_only_paid


def decide(facts: CustomerFacts, config: LifecycleConfig, now: datetime) -> Decision:
    orders = sorted((o for o in facts.orders if counts(o, config)), key=lambda o: o.placed_at)
    summary = _summarise(orders, config, now)
    stage, rule, used, stage_change = _stage(facts, orders, config, now)
    tier, tier_change = _tier(orders, config, now)
    changes = [t for t in (stage_change, tier_change) if t is not None]
    return Decision(
        stage=stage,
        tier=tier,
        rule=rule,
        facts=used,
        next_change_at=min(changes) if changes else None,
        summary=summary,
    )


def _days(n: int) -> timedelta:
    return timedelta(days=n)


def at_risk_after(orders: list[OrderFact], config: LifecycleConfig) -> tuple[timedelta, str, Any]:
    """The silence after which a buyer is at risk, the rule behind it, and its median gap.

    It depends only on the gaps between orders, never on the clock.
    """
    global_threshold = _days(config.at_risk_days)
    if len(orders) < config.personal_gap_min_orders:
        return global_threshold, Rule.AT_RISK_DAYS, None
    gaps = [b.placed_at - a.placed_at for a, b in zip(orders, orders[1:])]
    median_gap = statistics.median(gaps)
    personal = _scale(median_gap, config.personal_gap_multiplier)
    personal = max(personal, _days(config.personal_gap_floor_days))
    if personal < global_threshold:
        return personal, Rule.AT_RISK_PERSONAL, median_gap
    return global_threshold, Rule.AT_RISK_DAYS, median_gap


def _scale(delta: timedelta, factor: Decimal) -> timedelta:
    microseconds = (Decimal(delta // timedelta(microseconds=1)) * factor).to_integral_value()
    return timedelta(microseconds=int(microseconds))


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
        return Stage.AT_RISK, risk_rule, used, last + lapsed_after

    at_risk_at = last + risk_after
    window_start = now - _days(config.loyal_window_days)
    # Orders strictly inside (now - window, ...]; an order exactly `window` old has left.
    placed = [o.placed_at for o in orders]
    in_window = placed[bisect_right(placed, window_start):]
    if len(in_window) >= config.loyal_min_orders:
        # The window count drops below the minimum when this order leaves it.
        loyal_until = in_window[len(in_window) - config.loyal_min_orders] + _days(config.loyal_window_days)
        used = {**base, "orders_in_window": len(in_window), "loyal_window_days": config.loyal_window_days}
        return Stage.LOYAL, Rule.LOYAL, used, min(loyal_until, at_risk_at)
    if len(orders) >= 2:
        return Stage.REPEAT, Rule.REPEAT, base, at_risk_at
    return Stage.NEW, Rule.NEW, base, at_risk_at


def _as_days(delta: timedelta) -> float:
    return round(delta / timedelta(days=1), 4)


def tier_for(spend: Mapping[str, Decimal], tiers: tuple[Tier, ...]) -> str | None:
    """The highest tier reached in any single currency; amounts of two currencies never add up."""
    reached = None
    for tier in tiers:
        if any(spend.get(cur, Decimal(0)) >= amount for cur, amount in tier.thresholds.items()):
            reached = tier.code
    return reached


def _tier(orders: list[OrderFact], config: LifecycleConfig, now: datetime) -> tuple[str | None, datetime | None]:
    window = _days(config.tier_window_days)
    in_window = [o for o in orders if o.placed_at > now - window]
    spend = _spend(in_window)
    tier = tier_for(spend, config.tiers)
    if tier is None:
        return None, None
    # Spend only falls as orders leave the window; find the first exit that changes the tier.
    # in_window is sorted by placed_at, so exits come in this order; orders with the same
    # timestamp leave together, so the tier is judged only after the last of them.
    for index, order in enumerate(in_window):
        spend[order.currency] -= order.net_amount
        leaves_at = order.placed_at + window
        last_of_batch = index + 1 == len(in_window) or in_window[index + 1].placed_at != order.placed_at
        if last_of_batch and tier_for(spend, config.tiers) != tier:
            return tier, leaves_at
    raise AssertionError("with every order gone from the window no tier can be reached")


def _spend(orders: list[OrderFact]) -> dict[str, Decimal]:
    spend: dict[str, Decimal] = {}
    for order in orders:
        spend[order.currency] = spend.get(order.currency, Decimal(0)) + order.net_amount
    return spend


def _summarise(orders: list[OrderFact], config: LifecycleConfig, now: datetime) -> Summary:
    by_currency: dict[str, int] = {}
    for order in orders:
        by_currency[order.currency] = by_currency.get(order.currency, 0) + 1
    window = _days(config.tier_window_days)
    return Summary(
        orders_count=len(orders),
        first_order_at=orders[0].placed_at if orders else None,
        last_order_at=orders[-1].placed_at if orders else None,
        orders_by_currency=by_currency,
        lifetime_spend=_spend(orders),
        window_spend=_spend([o for o in orders if o.placed_at > now - window]),
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
