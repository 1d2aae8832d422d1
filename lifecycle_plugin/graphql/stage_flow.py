"""The staff field `lifecycleStageFlow`: customers per stage at each day, week or month of
a period and the conversions between stages with their median days (`engine.stage_flow`,
docs/metrics.md "Stage flow"), its arguments checked as every metrics field checks them
(each error names its argument)."""

from __future__ import annotations

import enum
from datetime import datetime

import graphene

from ..engine.stage_flow import MAX_POINTS, Interval, stage_flow
from .kpis import answer, checked_scope, require_sql_host
from .statistics import stage_counts
from .types import LifecycleStageCount
from .types.values import LifecycleStage

LifecycleFlowInterval = graphene.Enum.from_enum(
    enum.Enum("LifecycleFlowInterval", [(member.name, member.value) for member in Interval]), description=lambda value: "How far apart the flow's points are." if value is None else {
        "day": "A point each day from since.", "week": "A point every 7 days from since.",
        "month": "A point each calendar month from since (its day kept, or the month's last).",
    }[value.value])


class LifecycleFlowPoint(graphene.ObjectType):
    at = graphene.DateTime(required=True)
    total = graphene.Int(required=True, description="Customers known at this moment (with a move at or before it).")
    stages = graphene.List(graphene.NonNull(LifecycleStageCount), required=True,
                           description="Customers per stage held at this moment; every built-in stage, zeros "
                                       "included, then plugins' stages.")


class LifecycleStageConversion(graphene.ObjectType):
    """Of the customers who entered a from-stage in the period, those who reached a to-stage by `until`."""

    name = graphene.String(required=True, description="lead_to_new, new_to_repeat, repeat_to_loyal or win_back.")
    from_stages = graphene.List(graphene.NonNull(LifecycleStage), required=True)
    to_stages = graphene.List(graphene.NonNull(LifecycleStage), required=True)
    entered = graphene.Int(description="Customers whose first move into a from-stage from outside them (not a "
                                       "settings change) was in the period: the denominator.")
    converted = graphene.Int(description="Of them, customers whose next move into a to-stage came before until: "
                                         "the numerator.")
    rate = graphene.Float(description="converted ÷ entered; null without entries.")
    median_days = graphene.Float(description="Median days from that entry to that move, over the converted; null "
                                             "without conversions.")
    unavailable = graphene.String(description="Why entered and converted are null (lead_to_new with a channel).")


class LifecycleStageFlow(graphene.ObjectType):
    since = graphene.DateTime(required=True)
    until = graphene.DateTime(required=True)
    interval = graphene.Field(LifecycleFlowInterval, required=True)
    channel = graphene.String(description="The channel asked for; null: every customer.")
    points = graphene.List(graphene.NonNull(LifecycleFlowPoint), required=True,
                           description="since, each interval after it before until, then until.")
    conversions = graphene.List(graphene.NonNull(LifecycleStageConversion), required=True)


FIELD = graphene.Field(
    LifecycleStageFlow,
    since=graphene.DateTime(required=True, description="Start of the period (included); no zone: UTC."),
    until=graphene.DateTime(required=True, description="End of the period (excluded); at most 10 years after since."),
    interval=LifecycleFlowInterval(required=True, description=f"Distance between points; at most {MAX_POINTS:,} "
                                                               "points (since to until, both included)."),
    channel=graphene.String(description="Only customers whose first counted order before until was in this "
                                        "channel (its slug). Default: every customer."),
    description="MANAGE_USERS. Stage flow from the dated history: customers per stage at each day, week or month "
    "of a period, and the conversions lead → new, new → repeat, repeat → loyal and win-back with numerator, "
    "denominator and median days (docs/metrics.md, \"Stage flow\").",
)


def lifecycle_stage_flow(context, since: datetime, until: datetime, interval: str,
                         channel: str | None = None) -> LifecycleStageFlow:
    scope = checked_scope(since, until, channel)
    if scope.channel is not None:  # (without one, the flow reads only the plugin's own tables)
        require_sql_host(context.host)
    report = answer(lambda: stage_flow(context.host, context.config, scope, Interval(interval)))
    return LifecycleStageFlow(
        since=scope.since, until=scope.until, interval=report.interval.value, channel=scope.channel,
        points=[LifecycleFlowPoint(at=point.at, total=point.total, stages=stage_counts(point.stages))
                for point in report.points],
        conversions=[LifecycleStageConversion(
            name=c.path.name, from_stages=list(c.path.from_stages), to_stages=list(c.path.to_stages),
            entered=c.entered, converted=c.converted, rate=c.rate, median_days=c.median_days,
            unavailable=c.unavailable,
        ) for c in report.conversions],
    )


def resolve(root, info, **arguments):
    info.context.require_manage_users()
    return lifecycle_stage_flow(info.context, **arguments)
