"""The default ladder, stated once, as data.

Everything that decides a customer's stage and tier is written down here a single
time: which orders count, the stage rules in the order they are tried, the facts
each rule reports, the at-risk threshold with the personal median-gap rule, the
tiers per currency and what a win-back is. The thresholds themselves are never
copied here: every number is a `Setting`, a field of `LifecycleConfig`.

Two evaluators read this statement:

- the SQL evaluator (`lifecycle_plugin.engine.sql_ladder`) is compiled from it;
- `decide` (the event path, `rules/decide.py`) is checked against it by
  `tests/rules/test_ladder_statement.py`, through `explain` below, which reads the
  statement and nothing else. A change to the rules is made here first; the check
  then names what `decide` must follow.

Conditions are evaluated at a moment, on the counted orders placed at or before it.
Their vocabulary is small on purpose: each kind says how its truth changes while
no order comes in, which is what lets the SQL evaluator date every move.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from .config import LifecycleConfig
from .decide import Rule
from .facts import CustomerFacts, OrderFact, OrderState
from .stages import ACTIVE_BUYER, DORMANT, Stage


@dataclass(frozen=True)
class Setting:
    """A value read from `LifecycleConfig` by field name."""

    name: str

    def of(self, config: LifecycleConfig) -> Any:
        return getattr(config, self.name)


# ---------------------------------------------------------------- conditions
# Pre-purchase conditions look at the customer; buyer conditions at the counted orders.

@dataclass(frozen=True)
class OpenCart:
    """An open checkout with at least one line."""


@dataclass(frozen=True)
class HasAccount:
    """The customer has an account."""


@dataclass(frozen=True)
class Always:
    """The last rule of a list: it always holds."""


@dataclass(frozen=True)
class SilenceAtLeast:
    """No counted order for at least `days` (a Setting) or the at-risk threshold (None).

    Time alone turns it from false to true, at the last order + the threshold."""

    days: Setting | None


@dataclass(frozen=True)
class OrdersInWindowAtLeast:
    """At least `minimum` counted orders in the trailing window `(moment - window, moment]`.

    Time alone only turns it false: when the `minimum`-th most recent order leaves the window."""

    window_days: Setting
    minimum: Setting


@dataclass(frozen=True)
class OrdersAtLeast:
    """At least `minimum` counted orders (a constant). Time alone never changes it."""

    minimum: int


@dataclass(frozen=True)
class StageRule:
    stage: Stage
    #: The rule's name as stored with transitions; None: the at-risk threshold names it.
    rule: str | None
    when: Any
    #: The facts reported when this rule fires, by name (see FACTS below).
    facts: tuple[str, ...]


@dataclass(frozen=True)
class AtRiskAfter:
    """The silence after which a buyer is at risk: `global_days`, or once a buyer has
    `min_orders` counted orders, `multiplier` x the median gap between their orders
    (never less than `floor_days`), whichever is sooner (strictly)."""

    global_days: Setting
    min_orders: Setting
    multiplier: Setting
    floor_days: Setting
    global_rule: str
    personal_rule: str


@dataclass(frozen=True)
class CountedOrders:
    """A purchase: in `state`, not fully refunded (refunds reach a positive total), and paid
    when the `paid_only` setting is on. Its spend is the total less refunds, never negative."""

    state: OrderState
    paid_only: Setting


@dataclass(frozen=True)
class Tiers:
    """Spend in the trailing `window_days` per currency, against `table` (lowest tier first):
    the tier is the highest one reached in any single currency; currencies never add up."""

    window_days: Setting
    table: Setting


@dataclass(frozen=True)
class Ladder:
    counted: CountedOrders
    #: Tried in order for a customer without counted orders.
    pre_purchase: tuple[StageRule, ...]
    #: Tried in order for a buyer.
    buyers: tuple[StageRule, ...]
    at_risk_after: AtRiskAfter
    tiers: Tiers
    #: An order that moves a buyer from `win_back_from` into `win_back_to` is a win-back.
    win_back_from: frozenset[Stage]
    win_back_to: frozenset[Stage]


_BASE = ("orders", "last_order_at", "days_since_last_order")

LADDER = Ladder(
    counted=CountedOrders(state=OrderState.PLACED, paid_only=Setting("count_only_paid")),
    pre_purchase=(
        StageRule(Stage.PROSPECT, Rule.PROSPECT, OpenCart(), ("open_cart_lines",)),
        StageRule(Stage.LEAD, Rule.LEAD, HasAccount(), ("has_account", "orders")),
        StageRule(Stage.VISITOR, Rule.VISITOR, Always(), ("has_account", "orders")),
    ),
    buyers=(
        StageRule(Stage.LAPSED, Rule.LAPSED, SilenceAtLeast(Setting("lapsed_days")), (*_BASE, "lapsed_days")),
        StageRule(Stage.AT_RISK, None, SilenceAtLeast(None), (*_BASE, "at_risk_after_days", "median_gap_days")),
        StageRule(Stage.LOYAL, Rule.LOYAL,
                  OrdersInWindowAtLeast(Setting("loyal_window_days"), Setting("loyal_min_orders")),
                  (*_BASE, "orders_in_window", "loyal_window_days")),
        StageRule(Stage.REPEAT, Rule.REPEAT, OrdersAtLeast(2), _BASE),
        StageRule(Stage.NEW, Rule.NEW, Always(), _BASE),
    ),
    at_risk_after=AtRiskAfter(
        global_days=Setting("at_risk_days"),
        min_orders=Setting("personal_gap_min_orders"),
        multiplier=Setting("personal_gap_multiplier"),
        floor_days=Setting("personal_gap_floor_days"),
        global_rule=Rule.AT_RISK_DAYS,
        personal_rule=Rule.AT_RISK_PERSONAL,
    ),
    tiers=Tiers(window_days=Setting("tier_window_days"), table=Setting("tiers")),
    win_back_from=DORMANT,
    win_back_to=ACTIVE_BUYER,
)

#: Facts a rule may report. Days are reported as a number of days rounded to 4 places
#: (`as_days`); `median_gap_days` only once the personal rule applies (else left out).
FACTS = frozenset({
    "orders", "last_order_at", "days_since_last_order", "lapsed_days", "at_risk_after_days",
    "median_gap_days", "orders_in_window", "loyal_window_days", "open_cart_lines", "has_account",
})


def as_days(delta: timedelta) -> float:
    """A duration in days, as the facts report it."""
    return round(delta / timedelta(days=1), 4)


def sql_unsupported(config: LifecycleConfig) -> dict[str, str]:
    """Settings the SQL evaluator cannot decide exactly as `decide` does, by field name.

    `decide` scales a median gap (microseconds, up to 18 digits) by the multiplier in
    Decimal's 28 digits; a multiplier of more than 10 significant digits can make that
    product round where PostgreSQL's exact numeric would not.
    """
    problems = {}
    multiplier = config.personal_gap_multiplier
    exact = isinstance(multiplier, Decimal) and multiplier.is_finite()
    if exact and len(multiplier.normalize().as_tuple().digits) > 10:
        problems["personal_gap_multiplier"] = (
            f"the set-based (SQL) evaluator takes at most 10 significant digits, got {multiplier}"
        )
    return problems


def why_not_exact(hooks: Sequence[str], config: LifecycleConfig) -> str | None:
    """Why a set-based evaluator cannot stand in for the event path (None: it can): installed
    decision hooks it cannot run (`hooks`, by name), or settings it cannot decide exactly."""
    if hooks:
        return "hooks that the SQL evaluator cannot run are installed: " + ", ".join(hooks)
    problems = sql_unsupported(config)
    if problems:
        return "settings the SQL evaluator cannot decide exactly: " + ", ".join(problems)
    return None


# ---------------------------------------------------------------- the statement, read in Python

@dataclass(frozen=True)
class Explanation:
    stage: Stage
    rule: str
    facts: dict[str, Any]


def counted(order: OrderFact, config: LifecycleConfig, ladder: Ladder = LADDER) -> bool:
    if order.state != ladder.counted.state or (order.total > 0 and order.refunded >= order.total):
        return False
    return order.paid or not ladder.counted.paid_only.of(config)


def explain(facts: CustomerFacts, config: LifecycleConfig, now: datetime, ladder: Ladder = LADDER) -> Explanation:
    """The stage, rule and facts the statement gives, read literally (slow, for checking)."""
    orders = sorted((o for o in facts.orders if counted(o, config, ladder)), key=lambda o: o.placed_at)
    if not orders:
        for rule in ladder.pre_purchase:
            if _holds_pre(rule.when, facts):
                values = {"open_cart_lines": facts.open_cart_lines, "has_account": facts.has_account, "orders": 0}
                return Explanation(rule.stage, rule.rule, {name: values[name] for name in rule.facts})
        raise AssertionError("the last pre-purchase rule always holds")
    threshold, risk_rule, median = at_risk_threshold(orders, config, ladder.at_risk_after)
    silence = now - orders[-1].placed_at
    for rule in ladder.buyers:
        if _holds_buyer(rule.when, orders, silence, threshold, config, now):
            values = {
                "orders": len(orders),
                "last_order_at": orders[-1].placed_at.isoformat(),
                "days_since_last_order": silence.days,
                "lapsed_days": config.lapsed_days,
                "at_risk_after_days": as_days(threshold),
                "median_gap_days": None if median is None else as_days(median),
                "orders_in_window": _in_window(orders, now, config.loyal_window_days),
                "loyal_window_days": config.loyal_window_days,
            }
            reported = {name: values[name] for name in rule.facts if values[name] is not None}
            return Explanation(rule.stage, rule.rule or risk_rule, reported)
    raise AssertionError("the last buyer rule always holds")


def at_risk_threshold(orders: list[OrderFact], config: LifecycleConfig,
                      rule: AtRiskAfter) -> tuple[timedelta, str, timedelta | None]:
    global_after = timedelta(days=rule.global_days.of(config))
    if len(orders) < rule.min_orders.of(config):
        return global_after, rule.global_rule, None
    gaps = sorted(b.placed_at - a.placed_at for a, b in zip(orders, orders[1:]))
    middle = len(gaps) // 2
    median = gaps[middle] if len(gaps) % 2 else (gaps[middle - 1] + gaps[middle]) / 2
    scaled = median // timedelta(microseconds=1) * rule.multiplier.of(config)
    personal = max(timedelta(microseconds=int(scaled.to_integral_value())), timedelta(days=rule.floor_days.of(config)))
    if personal < global_after:
        return personal, rule.personal_rule, median
    return global_after, rule.global_rule, median


def _in_window(orders: list[OrderFact], now: datetime, days: int) -> int:
    return sum(1 for o in orders if o.placed_at > now - timedelta(days=days))


def _holds_pre(condition: Any, facts: CustomerFacts) -> bool:
    if isinstance(condition, OpenCart):
        return facts.open_cart_lines > 0
    if isinstance(condition, HasAccount):
        return facts.has_account
    if isinstance(condition, Always):
        return True
    raise TypeError(f"not a pre-purchase condition: {condition!r}")


def _holds_buyer(condition: Any, orders: list[OrderFact], silence: timedelta, threshold: timedelta,
                 config: LifecycleConfig, now: datetime) -> bool:
    if isinstance(condition, SilenceAtLeast):
        return silence >= (threshold if condition.days is None else timedelta(days=condition.days.of(config)))
    if isinstance(condition, OrdersInWindowAtLeast):
        return _in_window(orders, now, condition.window_days.of(config)) >= condition.minimum.of(config)
    if isinstance(condition, OrdersAtLeast):
        return len(orders) >= condition.minimum
    if isinstance(condition, Always):
        return True
    raise TypeError(f"not a buyer condition: {condition!r}")


def tier_of(spend: dict[str, Decimal], config: LifecycleConfig, ladder: Ladder = LADDER) -> str | None:
    """The statement's tier for a window's spend per currency."""
    reached = None
    for tier in ladder.tiers.table.of(config):
        if any(spend.get(currency, Decimal(0)) >= amount for currency, amount in tier.thresholds.items()):
            reached = tier.code
    return reached
