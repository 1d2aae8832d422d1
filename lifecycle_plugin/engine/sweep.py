"""The sweep: time-based moves for profiles whose next check has come, and the daily tick.

Each profile keeps the time its stage would next change by the clock alone
(`next_check_at`), so the sweep is an indexed range scan over the due ones. One
profile that fails is pushed back an hour; the rest of its batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from django.db import transaction

from ..hooks import has_implementations
from ..host import CustomerRef
from ..models import CustomerProfile
from .context import ActionContext
from .hook_calls import call_customer_hook
from .planner import plan_advance
from .plans import Plan
from .runner import carry_out

if TYPE_CHECKING:
    from .service import LifecycleEngine

logger = logging.getLogger(__name__)

#: A profile whose sweep failed is looked at again after this.
PUSH_BACK = timedelta(hours=1)


@dataclass
class SweepReport:
    profiles: int = 0
    stage_changes: int = 0
    tier_changes: int = 0


def sweep(engine: LifecycleEngine, batch_size: int = 500, max_batches: int | None = None) -> SweepReport:
    """Advance every profile whose next-check time has passed (an indexed range scan)."""
    report = SweepReport()
    now = engine.clock()
    batches = 0
    while max_batches is None or batches < max_batches:
        batches += 1
        with transaction.atomic(), engine.after_commit.collect():
            due = list(
                CustomerProfile.objects.select_for_update(skip_locked=True)
                .filter(next_check_at__lte=now)
                .order_by("next_check_at")[:batch_size]
            )
            if not due:
                break
            customers = [CustomerRef(p.email, p.user_id) for p in due]
            facts = engine.read_facts(customers)
            plans = []
            for profile, customer in zip(due, customers):
                try:
                    plans.append(plan_advance(engine, profile, facts[customer], now, event="sweep"))
                except Exception:
                    _push_back(profile, now)
            report.profiles += len(due)
            for plan in _carry_out_isolated(engine, plans, now):
                report.stage_changes += len(plan.outcome.stage_changes)
                report.tier_changes += len(plan.outcome.tier_changes)
    return report


def _carry_out_isolated(engine: LifecycleEngine, plans: Sequence[Plan], now: datetime) -> list[Plan]:
    """A sweep batch's writes and hooks; if they fail, each profile on its own.

    One broken profile must not stop the sweep: it is pushed back an hour and
    retried then, and the rest of its batch is written without it.
    """
    try:
        with engine.after_commit.rolled_back(), transaction.atomic():
            carry_out(engine, plans, now)
        return list(plans)
    except Exception:
        if len(plans) == 1:
            _push_back(plans[0].profile, now)
            return []
    done = []
    for plan in plans:
        plan.forget_written()
        try:
            with engine.after_commit.rolled_back(), transaction.atomic():
                carry_out(engine, [plan], now)
            done.append(plan)
        except Exception:
            _push_back(plan.profile, now)
    return done


def _push_back(profile: CustomerProfile, now: datetime) -> None:
    logger.exception("lifecycle sweep failed for profile %s", profile.pk)
    CustomerProfile.objects.filter(pk=profile.pk).update(next_check_at=now + PUSH_BACK)


def daily_tick(engine: LifecycleEngine, today: date | None = None, batch_size: int = 1000) -> int:
    """Call `lifecycle_daily_tick` once per profile for `today` (only if a plugin implements it)."""
    if not has_implementations(engine.pm, "lifecycle_daily_tick"):
        return 0
    today = today or engine.clock().date()
    ticked, last_id = 0, 0
    while True:
        with transaction.atomic(), engine.after_commit.collect():
            batch = list(CustomerProfile.objects.filter(pk__gt=last_id).order_by("pk")[:batch_size])
            if not batch:
                break
            for profile in batch:
                # Implementations act through context.enqueue(key=today), which makes
                # a second tick on the same day a no-op.
                context = ActionContext(engine, profile, engine.clock())
                call_customer_hook(engine, "lifecycle_daily_tick", context=context, today=today)
                ticked += 1
            last_id = batch[-1].pk
    return ticked
