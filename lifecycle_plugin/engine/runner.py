"""The runner: events in, one transaction per batch, written set-based, then the hooks.

Every write for one customer happens under a transaction-scoped advisory lock on
their e-mail, and facts are read after the lock is taken, so concurrent events
for the same customer are serialised and none is lost. Facts are always re-read
from the host, so a repeated or out-of-order event gives the same result as one
clean event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction

from ..host import CustomerRef
from ..models import StageTransition
from .context import ActionContext
from .hook_calls import call_customer_hook
from .identity import as_profile_owners, email_taken, find_profiles, keep_one
from .planner import plan_advance, plan_new
from .plans import Outcome, Plan, mark_once_only, once_only_key, write_plans
from .transactions import lock_customers

if TYPE_CHECKING:
    from .service import LifecycleEngine


def process_many(engine: LifecycleEngine, events: Iterable[tuple[CustomerRef, str]], *, recompute: bool | str = False,
                 force_projection: bool = False) -> list[Outcome | None]:
    """Many customers' events in one transaction (see `LifecycleEngine.process_many`)."""
    items = [(customer, event or "") for customer, event in events]
    if not items:
        return []
    merged: dict[str, tuple[CustomerRef, str]] = {}
    for customer, event in items:
        known = merged.get(customer.email)
        if known is not None:
            customer = CustomerRef(customer.email, customer.user_id or known[0].user_id)
            event = event or known[1]
        merged[customer.email] = (customer, event)
    with transaction.atomic(), engine.after_commit.collect():
        lock_customers(list(merged))
        outcomes = _process_locked(engine, list(merged.values()), recompute=recompute,
                                   force_projection=force_projection)
    return [outcomes[customer.email] for customer, _ in items]


def _process_locked(engine: LifecycleEngine, pairs: Sequence[tuple[CustomerRef, str]], *, recompute: bool | str,
                    force_projection: bool) -> dict[str, Outcome | None]:
    customers = [customer for customer, _ in pairs]
    facts = engine.read_facts(customers)
    now = engine.clock()
    # The account is the one the host found: an event can name an account deleted
    # since it was queued (its profile went with it), which must not come back.
    refs = [CustomerRef(c.email, facts[c].user_id if facts[c].has_account else None) for c in customers]
    profiles = find_profiles(refs)
    refs, facts_of = as_profile_owners(refs, [facts[c] for c in customers], profiles, engine.read_facts)
    claimed: set[int] = set()
    accounts: set[int] = set()
    plans: list[Plan] = []
    later: list[tuple[CustomerRef, str]] = []
    outcomes: dict[str, Outcome | None] = {}
    for (customer, event), ref, matches in zip(pairs, refs, profiles):
        if any(found.pk in claimed for found in matches) or ref.user_id in accounts:
            # The profile or the account is also another customer's of this batch (an
            # account that changed its e-mail): decided after that one is written.
            later.append((ref, event))
            continue
        claimed.update(found.pk for found in matches)
        customer_facts = facts_of[ref]
        if ref.user_id:
            accounts.add(ref.user_id)
            if not customer_facts.account_confirmed:
                # Not confirmed: its own profile only; a guest's is not merged into it.
                matches = [found for found in matches if found.user_id == ref.user_id]
        profile = keep_one(ref, matches)
        if profile is None:
            if customer_facts.known:
                plans.append(plan_new(engine, ref, customer_facts, now, event))
            else:
                outcomes[customer.email] = None
            continue
        linked = bool(ref.user_id and profile.user_id != ref.user_id)
        if linked:
            profile.user_id = ref.user_id
        if profile.email != ref.email and not email_taken(ref.email, profile):
            profile.email = ref.email
        plans.append(plan_advance(engine, profile, customer_facts, now, event=event, recompute=recompute,
                                  force_projection=force_projection or linked))
    carry_out(engine, plans, now)
    outcomes.update((plan.customer.email, plan.outcome) for plan in plans)
    if later:
        outcomes.update(_process_locked(engine, later, recompute=recompute, force_projection=force_projection))
    return outcomes


def carry_out(engine: LifecycleEngine, plans: Sequence[Plan], now: datetime) -> None:
    """Write the plans with one statement per table, then call each customer's hooks.

    Hooks run after every row is written, so an implementation that reads the
    profile, its history or the ledger from the database sees this decision.
    """
    if not plans:
        return
    write_plans(plans, engine.host)
    first_times = mark_once_only(plans, engine.config, engine.clock())
    with engine.scheduled.batch({plan.profile.pk for plan in plans}):
        for plan in plans:
            _fire(engine, plan, now, first_times)


def _fire(engine: LifecycleEngine, plan: Plan, now: datetime, first_times: set[str]) -> None:
    profile, outcome = plan.profile, plan.outcome
    context = ActionContext(engine, profile, now)
    won_back = any(c.reason == StageTransition.REASON_WIN_BACK for c in outcome.stage_changes)
    counted = plan.counted
    for order in counted:
        if once_only_key("order_counted", profile.pk, order.order_id) in first_times:
            is_latest = order is counted[-1]
            call_customer_hook(engine, "lifecycle_order_counted", context=context, order=order,
                               win_back=won_back and is_latest)
    for order in counted:
        if once_only_key("order_fulfilled", profile.pk, order.order_id) in first_times:
            call_customer_hook(engine, "lifecycle_order_fulfilled", context=context, order=order)
    # Moves the owner's new settings alone caused are quiet unless they chose otherwise.
    quiet = not engine.settings.get("recompute_actions")
    for change in outcome.stage_changes:
        if not (quiet and change.reason == StageTransition.REASON_SETTINGS_CHANGE):
            call_customer_hook(engine, "lifecycle_stage_changed", context=context, change=change)
    for tier_change in outcome.tier_changes:
        if not (quiet and tier_change.reason == StageTransition.REASON_SETTINGS_CHANGE):
            call_customer_hook(engine, "lifecycle_tier_changed", context=context, change=tier_change)
    if plan.event:
        call_customer_hook(engine, "lifecycle_event_processed", context=context, event=plan.event, facts=plan.facts)
