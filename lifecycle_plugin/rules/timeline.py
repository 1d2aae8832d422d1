"""A customer's history reconstructed from their orders, in Python.

`reconstruct` gives the dated moves the event path would have recorded had the plugin
been on since the customer's first counted order: it decides at each counted order's
moment (as the order event would) and, between orders, at each precomputed next check
(as the sweep would), with `decide` itself. The SQL evaluator
(`lifecycle_plugin.engine.sql_ladder`) computes the same timeline set-based; the
differential tests in tests/ladder/ hold the two together.

What the orders cannot tell is taken as it is now: an order counts (or not) and is
refunded as it stands today, from the moment it was placed. A customer without a
counted order has one move, to their present stage, dated `now` (reason `backfill`):
nothing dates when they registered or filled a cart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from .config import LifecycleConfig
from .decide import Decision, counts, decide
from .facts import CustomerFacts
from .stages import Stage, is_win_back

#: Reasons, as `StageTransition.REASON_*` spells them.
EVENT = "event"
TIME = "time"
WIN_BACK = "win_back"
BACKFILL = "backfill"
#: A move caused only by the owner changing the thresholds (a recompute after a settings
#: save). Dated at the recompute; fires no action unless the owner switched on
#: `recompute_actions` (default: quiet). See `engine.recompute`.
SETTINGS_CHANGE = "settings_change"


@dataclass(frozen=True, slots=True)
class StageMove:
    at: datetime
    from_stage: Stage | None
    to_stage: Stage
    reason: str
    rule: str
    facts: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TierMove:
    at: datetime
    from_tier: str | None
    to_tier: str | None
    reason: str
    #: Spend per currency in the tier window at that moment.
    window_spend: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class Timeline:
    stage_moves: tuple[StageMove, ...]
    tier_moves: tuple[TierMove, ...]
    #: The decision for `now`: its stage and tier are those of the last moves.
    decision: Decision

    @property
    def since(self) -> datetime:
        """When the present stage began: the date of the last stage move."""
        return self.stage_moves[-1].at


def reconstruct(facts: CustomerFacts, config: LifecycleConfig, now: datetime) -> Timeline:
    """Every stage and tier move of one customer up to `now` (orders placed later are left out)."""
    facts = facts.as_of(now)
    order_moments = sorted({o.placed_at for o in facts.orders if counts(o, config)})
    if not order_moments:
        decision = decide(facts, config, now)
        first = StageMove(now, None, decision.stage, BACKFILL, decision.rule, decision.facts)
        return Timeline((first,), (), decision)

    recorder = _Recorder()
    check: datetime | None = None
    for moment in order_moments:
        # The sweep's moves that fell due before this order; one due at the very moment
        # of an order is the order's to record.
        while check is not None and check < moment:
            check = recorder.time_passed(decide(facts.as_of(check), config, check), check)
        decision = decide(facts.as_of(moment), config, moment)
        recorder.order_placed(decision, moment)
        check = decision.next_change_at
    while check is not None and check <= now:
        check = recorder.time_passed(decide(facts.as_of(check), config, check), check)
    return Timeline(tuple(recorder.stages), tuple(recorder.tiers), decide(facts, config, now))


class _Recorder:
    def __init__(self) -> None:
        self.stages: list[StageMove] = []
        self.tiers: list[TierMove] = []
        self.stage: Stage | None = None
        self.tier: str | None = None

    def order_placed(self, decision: Decision, at: datetime) -> None:
        reason = WIN_BACK if is_win_back(self.stage, decision.stage) else EVENT
        self._record(decision, at, reason)

    def time_passed(self, decision: Decision, at: datetime) -> datetime | None:
        self._record(decision, at, TIME)
        return decision.next_change_at

    def _record(self, decision: Decision, at: datetime, reason: str) -> None:
        if decision.stage != self.stage:
            self.stages.append(StageMove(at, self.stage, decision.stage, reason, decision.rule, decision.facts))
            self.stage = decision.stage
        if decision.tier != self.tier:
            tier_reason = TIME if reason == TIME else EVENT
            self.tiers.append(TierMove(at, self.tier, decision.tier, tier_reason, decision.summary.window_spend))
            self.tier = decision.tier
