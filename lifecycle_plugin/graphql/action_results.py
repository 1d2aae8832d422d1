"""The staff field `lifecycleActionResults`: what each action did in a period and who
converted, `engine.action_results` unchanged, its arguments checked (each error names its
argument) and money as a list per currency (never summed across currencies)."""

from __future__ import annotations

from datetime import datetime

import graphene

from ..engine.action_results import DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS, action_results
from .errors import bad_input
from .kpis import checked_scope
from .types import LifecycleMoney


class LifecycleActionHeldBack(graphene.ObjectType):
    """Messages not sent, by why (each message counts under one reason)."""

    consent = graphene.Int(required=True, description="No marketing consent.")
    opted_out = graphene.Int(required=True, description="Unsubscribed, or no consent while an opt-out was on record.")
    frequency_cap = graphene.Int(required=True, description="Over the frequency cap.")
    quiet_hours = graphene.Int(required=True, description="Still waiting for the quiet hours to end.")
    other = graphene.Int(required=True, description="Any other skip (nothing to offer, the template failed, no "
                                                    "plugin carries the action out) or cancelled.")
    held_out = graphene.Int(required=True, description="In the action's holdout (holdout_percent): never sent.")
    total = graphene.Int(required=True)


class LifecycleActionLift(graphene.ObjectType):
    """The customers sent the action against those held out of it, each over their attribution window."""

    treated_customers = graphene.Int(required=True, description="Customers sent a message (= customers).")
    treated_converted = graphene.Int(required=True, description="Of them, who converted (= converted).")
    treated_rate = graphene.Float(description="treatedConverted ÷ treatedCustomers; null without customers.")
    holdout_customers = graphene.Int(required=True, description="Customers held out of a message.")
    holdout_converted = graphene.Int(
        required=True, description="Of them, who placed a counted order within the window the message would have "
                                   "had, from when it would have been sent.")
    holdout_rate = graphene.Float(description="holdoutConverted ÷ holdoutCustomers; null without customers.")
    difference = graphene.Float(description="treatedRate − holdoutRate (0.05: five points); null when a group "
                                            "is empty.")
    ratio = graphene.Float(description="treatedRate ÷ holdoutRate; null when a group is empty or no held-out "
                                       "customer converted.")


class LifecycleActionResult(graphene.ObjectType):
    """One action's figures over the ledger entries of the period (docs/actions.md, "Action results")."""

    action = graphene.String(required=True, description="The action's name, e.g. winback.")
    week = graphene.String(description="The ISO week of these figures, e.g. 2026-W10; null for the whole period.")
    week_start = graphene.Date(description="The Monday (UTC) that week starts; null for the whole period.")
    sent = graphene.Int(required=True, description="Messages that went out.")
    customers = graphene.Int(required=True, description="Distinct customers they went to.")
    vouchers_issued = graphene.Int(required=True)
    vouchers_redeemed = graphene.Int(description="Vouchers issued that a counted order redeemed; null when "
                                                 "conversions are unavailable.")
    held_back = graphene.Field(LifecycleActionHeldBack, required=True)
    sent_after_quiet_hours = graphene.Int(required=True)
    failed = graphene.Int(required=True, description="Failed, to be retried.")
    unsure = graphene.Int(required=True, description="May or may not have gone out.")
    pending = graphene.Int(required=True, description="Waiting to run.")
    recorded = graphene.Int(required=True, description="Done without a message (bookkeeping).")
    converted = graphene.Int(description="Customers sent a message who placed a counted order within its "
                                         "attribution window; null when conversionsUnavailable says why.")
    orders = graphene.Int(description="Attributed orders, each once; null when conversions are unavailable.")
    revenue = graphene.List(graphene.NonNull(LifecycleMoney),
                            description="Their amounts net of refunds, per currency; null when conversions "
                                        "are unavailable.")
    conversion_rate = graphene.Float(description="converted ÷ customers; null without customers or conversions.")
    lift = graphene.Field(LifecycleActionLift, description="Conversion against the holdout; null when conversions "
                                                           "are unavailable.")
    weeks = graphene.List(graphene.NonNull(lambda: LifecycleActionResult), required=True,
                          description="The same figures per ISO week of the period with entries, oldest first "
                                      "(an order converting in two weeks counts in each); empty on a week.")


class LifecycleActionResults(graphene.ObjectType):
    since = graphene.DateTime(required=True)
    until = graphene.DateTime(required=True)
    window_days = graphene.Int(required=True)
    conversions_unavailable = graphene.String(
        description="Why converted, orders and revenue are null (the host offers no SQL over its orders); "
                    "null when they were computed.")
    actions = graphene.List(graphene.NonNull(LifecycleActionResult), required=True,
                            description="One row per action with ledger entries in the period, by name.")


FIELD = graphene.Field(
    LifecycleActionResults,
    since=graphene.DateTime(required=True, description="Start of the period (included); no zone: UTC."),
    until=graphene.DateTime(required=True, description="End of the period (excluded); at most 10 years after since."),
    window_days=graphene.Int(default_value=DEFAULT_WINDOW_DAYS,
                             description=f"Attribution window of a message without a voucher, 1 to "
                                         f"{MAX_WINDOW_DAYS} days (a voucher's is its validity)."),
    description="MANAGE_USERS. What each action did in a period, in all and per ISO week: sent, held back by "
    "reason, failed, vouchers issued and redeemed, the customers who ordered within its attribution window, their "
    "orders and revenue per currency, and the lift against the holdout (docs/actions.md, \"Action results\").",
)


def _lift(lift) -> LifecycleActionLift | None:
    if lift is None:
        return None
    return LifecycleActionLift(
        treated_customers=lift.treated_customers, treated_converted=lift.treated_converted,
        treated_rate=lift.treated_rate, holdout_customers=lift.holdout_customers,
        holdout_converted=lift.holdout_converted, holdout_rate=lift.holdout_rate, difference=lift.difference,
        ratio=lift.ratio)


def _result(row) -> LifecycleActionResult:
    held = row.held_back
    return LifecycleActionResult(
        action=row.action, week=row.iso_week, week_start=row.week, sent=row.sent, customers=row.customers,
        vouchers_issued=row.vouchers_issued, vouchers_redeemed=row.vouchers_redeemed,
        held_back=LifecycleActionHeldBack(consent=held.consent, opted_out=held.opted_out,
                                          frequency_cap=held.frequency_cap, quiet_hours=held.quiet_hours,
                                          other=held.other, held_out=held.held_out, total=held.total),
        sent_after_quiet_hours=row.sent_after_quiet_hours, failed=row.failed, unsure=row.unsure,
        pending=row.pending, recorded=row.recorded, converted=row.converted, orders=row.orders,
        revenue=None if row.revenue is None else [
            LifecycleMoney(currency=currency, amount=float(amount)) for currency, amount in row.revenue.items()],
        conversion_rate=row.conversion_rate, lift=_lift(row.lift), weeks=[_result(week) for week in row.weeks],
    )


def lifecycle_action_results(context, since: datetime, until: datetime,
                             window_days: int = DEFAULT_WINDOW_DAYS) -> LifecycleActionResults:
    scope = checked_scope(since, until)
    window_days = DEFAULT_WINDOW_DAYS if window_days is None else window_days
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise bad_input(f"windowDays must be between 1 and {MAX_WINDOW_DAYS}, got {window_days}.",
                        argument="windowDays")
    report = action_results(context.engine, since=scope.since, until=scope.until, window_days=window_days)
    return LifecycleActionResults(
        since=scope.since, until=scope.until, window_days=report.window_days,
        conversions_unavailable=report.conversions_unavailable or None,
        actions=[_result(row) for row in report.actions],
    )


def resolve(root, info, **arguments):
    info.context.require_manage_users()
    return lifecycle_action_results(info.context, **arguments)
