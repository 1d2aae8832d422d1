"""The planner: a customer's facts, then a decision, then a plan of what to write.

Nothing here writes: `plan_new` and `plan_advance` return a `Plan` (the profile as
it will be, its new history rows) that the runner writes for a whole batch at once.
Time-based moves (→ at risk, → lapsed) are replayed at the moments they took effect,
so the history reads the same whenever the customer is next looked at.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..hooks import has_implementations
from ..host import CustomerRef
from ..models import CustomerProfile, StageTransition, TierChange as TierChangeRow
from ..rules import CustomerFacts, Decision, LifecycleConfig, counts, decide as decide_by_rules, is_win_back
from ..rules.referral import advocate_of
from .context import StageChange, TierChange
from .deletion import apply_tombstones
from .hook_calls import call_each
from .plans import Outcome, Plan, prediction_of

if TYPE_CHECKING:
    from .service import LifecycleEngine

#: Orders placed this long before the engine first sees a customer still fire
#: the order hooks: the event that reports an order arrives after it was placed.
FIRST_SIGHT_GRACE = timedelta(days=1)
#: A replay walk never takes more steps than this (hooks could report bad times).
MAX_REPLAY_STEPS = 64


def stage_code(stage: Any) -> str:
    return getattr(stage, "value", stage)


def tier_rank(config: LifecycleConfig, tier: str | None) -> int:
    codes = config.tier_codes
    return codes.index(tier) if tier in codes else -1


def money_json(amounts: Mapping[str, Decimal]) -> dict[str, str]:
    return {currency: str(amount) for currency, amount in sorted(amounts.items())}


def read_facts(engine: LifecycleEngine, customers: Sequence[CustomerRef]) -> dict[CustomerRef, CustomerFacts]:
    """The host's facts, without what predates a customer's deletion (`deletion.since_deletion`),
    plus what `lifecycle_collect_facts` implementations add."""
    facts = apply_tombstones(engine.host.read_facts(customers))
    contributions = call_each(engine, "lifecycle_collect_facts", customers=list(customers), facts=facts,
                              host=engine.host)
    for contributed in contributions:
        for customer, extra in contributed.items():
            if customer in facts and extra:
                facts[customer] = facts[customer].with_extra(extra)
    return facts


def decide(engine: LifecycleEngine, facts: CustomerFacts, now: datetime) -> Decision:
    """The built-in rules, then `lifecycle_classify` overrides."""
    decision = decide_by_rules(facts, engine.config, now)
    # Most installations have no classifier: skip setting up the isolated call,
    # which a backfill would otherwise pay once per customer.
    if has_implementations(engine.pm, "lifecycle_classify"):
        overrides = call_each(engine, "lifecycle_classify", facts=facts, decision=decision, config=engine.config,
                              now=now)
        if overrides and isinstance(overrides[0], Decision):
            decision = overrides[0]
    if decision.next_change_at is not None and decision.next_change_at <= now:
        # A hook reported a change time that is not in the future; ignore it
        # rather than sweep the customer for ever.
        decision = dataclasses.replace(decision, next_change_at=None)
    return decision


#: Events of the engine's own making, not the store's: no ``lifecycle_event_processed``.
NOT_STORE_EVENTS = frozenset({"sweep", "backfill"})


def store_event(event: str) -> str:
    """`event` when it reports a change in the store, else empty."""
    return "" if event in NOT_STORE_EVENTS else event


def plan_new(engine: LifecycleEngine, customer: CustomerRef, facts: CustomerFacts, now: datetime,
             event: str) -> Plan:
    """A first profile for a customer the host knows."""
    decision = engine.decide(facts, now)
    profile = CustomerProfile(
        user_id=customer.user_id,
        email=customer.email,
        stage_since=now,
        tier_since=now if decision.tier else None,
        history_cutoff=now - FIRST_SIGHT_GRACE,
        decided_at=now,
    )
    _apply(profile, decision, facts, now)
    profile.stage = stage_code(decision.stage)
    profile.tier = decision.tier
    plan = Plan(customer, profile, facts, Outcome(None, profile.stage, profile.tier, created=True), project=True,
                event=store_event(event))
    plan.outcome.stage_changes.append(_record_stage(plan, None, decision, now, StageTransition.REASON_EVENT, event))
    if decision.tier:
        plan.outcome.tier_changes.append(
            _record_tier(engine.config, plan, None, decision, now, StageTransition.REASON_EVENT))
    return plan


def plan_advance(engine: LifecycleEngine, profile: CustomerProfile, facts: CustomerFacts, now: datetime, *,
                 event: str = "", recompute: bool | str = False, force_projection: bool = False) -> Plan:
    """Replay time-based moves at the exact moments they took effect, then decide for now."""
    config = engine.config
    # What classify hooks may read of the daily prediction run (see CustomerFacts.prediction).
    facts = dataclasses.replace(facts, prediction=prediction_of(profile))
    plan = Plan(CustomerRef(profile.email, profile.user_id), profile, facts,
                Outcome(profile.pk, profile.stage, profile.tier), event="" if recompute else store_event(event))
    outcome = plan.outcome
    stage, tier = profile.stage, profile.tier
    moment = profile.next_check_at
    # An order the profile has not seen yet may be reported after a check fell due.
    # Replaying time past it would record the order's effect as a time move (and
    # hide a win-back); stop there and let the decision for now record it as an event.
    unseen_from = min(
        (o.placed_at for o in facts.orders
         if counts(o, config) and (profile.last_order_at is None or o.placed_at > profile.last_order_at)),
        default=None,
    )
    steps = 0
    while (moment is not None and moment <= now and steps < MAX_REPLAY_STEPS
           and (unseen_from is None or moment < unseen_from)):
        steps += 1
        replayed = engine.decide(facts.as_of(moment), moment)
        if stage_code(replayed.stage) != stage:
            outcome.stage_changes.append(
                _record_stage(plan, stage, replayed, moment, StageTransition.REASON_TIME, ""))
            stage = stage_code(replayed.stage)
        if replayed.tier != tier:
            outcome.tier_changes.append(
                _record_tier(config, plan, tier, replayed, moment, StageTransition.REASON_TIME))
            tier = replayed.tier
        moment = replayed.next_change_at

    decision = engine.decide(facts, now)
    if stage_code(decision.stage) != stage:
        # A recompute's dormant -> active move is a win-back only when an order the profile
        # had not seen made it; otherwise the new settings alone moved the customer (quiet).
        if is_win_back(stage, decision.stage) and (not recompute or unseen_from is not None):
            reason = StageTransition.REASON_WIN_BACK
        elif recompute:
            reason = _recompute_reason(recompute)
        else:
            reason = StageTransition.REASON_EVENT
        outcome.stage_changes.append(_record_stage(plan, stage, decision, now, reason, event))
    if decision.tier != tier:
        reason = _recompute_reason(recompute) if recompute else StageTransition.REASON_EVENT
        outcome.tier_changes.append(_record_tier(config, plan, tier, decision, now, reason))

    for change in outcome.stage_changes:
        profile.stage, profile.stage_since = change.to_stage, change.occurred_at
    for tier_change in outcome.tier_changes:
        profile.tier, profile.tier_since = tier_change.to_tier, tier_change.occurred_at
    was_advocate = advocate_of(profile.extra_facts)
    _apply(profile, decision, facts, now)
    profile.version += 1
    outcome.stage, outcome.tier = profile.stage, profile.tier
    plan.project = bool(outcome.stage_changes or outcome.tier_changes or force_projection
                        or advocate_of(profile.extra_facts) != was_advocate)
    return plan


def _recompute_reason(recompute: bool | str) -> str:
    """`recompute` is True (a manual recompute) or the reason to record (``settings_change``)."""
    return recompute if isinstance(recompute, str) else StageTransition.REASON_RECOMPUTE


def _apply(profile: CustomerProfile, decision: Decision, facts: CustomerFacts, now: datetime) -> None:
    summary = decision.summary
    profile.extra_facts = dict(facts.extra)
    profile.stage_rule = decision.rule
    profile.orders_count = summary.orders_count
    profile.orders_by_currency = dict(summary.orders_by_currency)
    profile.lifetime_spend = money_json(summary.lifetime_spend)
    profile.window_spend = money_json(summary.window_spend)
    profile.first_order_at = summary.first_order_at
    profile.last_order_at = summary.last_order_at
    profile.decided_at = now
    profile.next_check_at = decision.next_change_at


def _record_stage(plan: Plan, from_stage, decision: Decision, at: datetime, reason: str, event: str) -> StageChange:
    to_stage = stage_code(decision.stage)
    plan.transitions.append(StageTransition(
        profile=plan.profile, from_stage=from_stage, to_stage=to_stage, occurred_at=at,
        reason=reason, event=event[:64], rule=decision.rule, facts=dict(decision.facts),
    ))
    return StageChange(from_stage, to_stage, at, reason, decision.rule, event)


def _record_tier(config: LifecycleConfig, plan: Plan, from_tier, decision: Decision, at: datetime,
                 reason: str) -> TierChange:
    spend = money_json(decision.summary.window_spend)
    plan.tier_changes.append(TierChangeRow(
        profile=plan.profile, from_tier=from_tier, to_tier=decision.tier, occurred_at=at, reason=reason,
        window_spend=spend,
    ))
    upgrade = tier_rank(config, decision.tier) > tier_rank(config, from_tier)
    return TierChange(from_tier, decision.tier, at, upgrade, spend, reason)
