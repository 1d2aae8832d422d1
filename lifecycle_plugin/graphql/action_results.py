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
    total = graphene.Int(required=True)


class LifecycleActionResult(graphene.ObjectType):
    """One action's figures over the ledger entries of the period (docs/actions.md, "Action results")."""

    action = graphene.String(required=True, description="The action's name, e.g. winback.")
    sent = graphene.Int(required=True, description="Messages that went out.")
    customers = graphene.Int(required=True, description="Distinct customers they went to.")
    vouchers_issued = graphene.Int(required=True)
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
    description="MANAGE_USERS. What each action did in a period: sent, held back by reason, failed, vouchers "
    "issued, and the customers who ordered within its attribution window, their orders and revenue per currency "
    "(docs/actions.md, \"Action results\").",
)


def _result(row) -> LifecycleActionResult:
    held = row.held_back
    return LifecycleActionResult(
        action=row.action, sent=row.sent, customers=row.customers, vouchers_issued=row.vouchers_issued,
        held_back=LifecycleActionHeldBack(consent=held.consent, opted_out=held.opted_out,
                                          frequency_cap=held.frequency_cap, quiet_hours=held.quiet_hours,
                                          other=held.other, total=held.total),
        sent_after_quiet_hours=row.sent_after_quiet_hours, failed=row.failed, unsure=row.unsure,
        pending=row.pending, recorded=row.recorded, converted=row.converted, orders=row.orders,
        revenue=None if row.revenue is None else [
            LifecycleMoney(currency=currency, amount=float(amount)) for currency, amount in row.revenue.items()],
        conversion_rate=row.conversion_rate,
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
