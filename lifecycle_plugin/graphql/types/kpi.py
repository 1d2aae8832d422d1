"""The owner's KPIs per stage, tier or cohort, and retention by cohort (docs/metrics.md).

`graphql.kpis` fills them from the engine's reports (`engine.kpis`, `engine.retention`);
figures that cannot be computed (a division by zero customers or orders) are null.
"""

from __future__ import annotations

import enum

import graphene

from .values import LifecycleMoney, LifecycleStage, LifecycleTier

KpiGroupingValues = enum.Enum("LifecycleKpiGrouping", [("STAGE", "stage"), ("TIER", "tier"), ("COHORT", "cohort")])
LifecycleKpiGrouping = graphene.Enum.from_enum(
    KpiGroupingValues,
    description=lambda value: "How the KPIs' customers are grouped." if value is None else {
        "stage": "By the customer's current stage (churn: by the stage held at the period's start).",
        "tier": "By the customer's current loyalty tier; `tier: null` is below every tier.",
        "cohort": "By the month (UTC) of the customer's first counted order.",
    }[value.value],
)


class LifecycleKpiMoney(graphene.ObjectType):
    """A group's money figures in one currency (never added to another currency's)."""

    currency = graphene.String(required=True)
    orders = graphene.Int(required=True, description="Counted orders in the period in this currency.")
    revenue = graphene.Float(required=True, description="Their amounts net of refunds.")
    average_order_value = graphene.Float(description="revenue ÷ orders; null without orders.")
    spend_to_date = graphene.Float(
        required=True, description="Every counted order in this currency placed before the period's end.")
    customers_to_date = graphene.Int(required=True, description="Customers with such an order.")
    historic_clv = graphene.Float(description="Historic CLV: spendToDate ÷ customersToDate; null without them.")
    simple_clv = graphene.Float(
        description="The articles' CLV: purchaseFrequencyPerYear × averageOrderValue × averageLifespanYears "
        "(the row's terms); null when a term is.")


class LifecycleChurn(graphene.ObjectType):
    active_at_start = graphene.Int(
        required=True, description="Customers whose stage at the period's start was one of an active buyer "
        "(not visitor, lead, prospect or lapsed), from the dated history.")
    churned = graphene.Int(required=True, description="Of them, customers who moved to `lapsed` in the period.")
    rate = graphene.Float(description="churned ÷ activeAtStart; null when no customer was active.")


class LifecycleKpiRow(graphene.ObjectType):
    """One group's KPIs (or, as `total`, every customer the rows count)."""

    key = graphene.String(description="The stage key, tier key or cohort month (YYYY-MM); null for the "
                                      "total and for customers below every tier.")
    stage = graphene.Field(LifecycleStage, description="When grouped by stage.")
    tier = graphene.Field(LifecycleTier, description="When grouped by tier; null below every tier.")
    cohort = graphene.String(description="When grouped by cohort: the first-order month, YYYY-MM.")
    customers = graphene.Int(required=True, description="Customers in the group, now (cohorts: by first order).")
    buyers = graphene.Int(required=True, description="Of them, customers with a counted order in the period.")
    orders = graphene.Int(required=True, description="Their counted orders in the period, in every currency.")
    transaction_frequency = graphene.Float(description="orders ÷ buyers; null without buyers.")
    purchase_frequency_per_year = graphene.Float(
        description="transactionFrequency × 365.25 ÷ the period's days: the simple CLV's frequency term.")
    customers_with_orders = graphene.Int(
        required=True, description="Customers with a counted order before the period's end (the lifespan's base).")
    average_lifespan_days = graphene.Float(
        description="Mean time from first to last counted order of customersWithOrders (0 for one order).")
    average_lifespan_years = graphene.Float(description="averageLifespanDays ÷ 365.25: the simple CLV's lifespan term.")
    repeat_buyers = graphene.Int(
        required=True, description="Buyers with two or more counted orders placed before the period's end.")
    repeat_purchase_rate = graphene.Float(description="repeatBuyers ÷ buyers; null without buyers.")
    churn = graphene.Field(LifecycleChurn, required=True)
    money = graphene.List(graphene.NonNull(LifecycleKpiMoney), required=True,
                          description="Per currency, by currency code.")


class LifecycleKpis(graphene.ObjectType):
    since = graphene.DateTime(required=True)
    until = graphene.DateTime(required=True)
    channel = graphene.String(description="The channel asked for; null: every channel.")
    currency = graphene.String(description="The currency asked for; null: every currency.")
    group_by = graphene.Field(LifecycleKpiGrouping, required=True)
    period_days = graphene.Float(required=True)
    total = graphene.Field(LifecycleKpiRow, required=True)
    rows = graphene.List(graphene.NonNull(LifecycleKpiRow), required=True)


class LifecycleRetentionMonth(graphene.ObjectType):
    month = graphene.Int(required=True, description="Months after the cohort's month (0: the month itself).")
    start = graphene.DateTime(required=True, description="The month's first moment (UTC).")
    complete = graphene.Boolean(required=True, description="The month ended before the period's end.")
    customers = graphene.Int(required=True, description="Cohort customers with a counted order in the month.")
    share = graphene.Float(required=True, description="customers ÷ the cohort's customers.")
    revenue = graphene.List(graphene.NonNull(LifecycleMoney), required=True,
                            description="The month's revenue from the cohort, per currency.")
    revenue_per_customer = graphene.List(
        graphene.NonNull(LifecycleMoney), required=True,
        description="revenue ÷ the cohort's customers (every one, buyers or not), per currency.")


class LifecycleRetentionCohort(graphene.ObjectType):
    cohort = graphene.String(required=True, description="The first-order month, YYYY-MM.")
    customers = graphene.Int(required=True, description="Customers whose first counted order fell in it.")
    months = graphene.List(graphene.NonNull(LifecycleRetentionMonth), required=True)


class LifecycleRetention(graphene.ObjectType):
    since = graphene.DateTime(required=True)
    until = graphene.DateTime(required=True)
    channel = graphene.String()
    currency = graphene.String()
    months = graphene.Int(required=True, description="The last month after the first one asked for.")
    cohorts_in_period = graphene.Int(required=True, description="Cohorts in the period, before first/last.")
    cohorts = graphene.List(graphene.NonNull(LifecycleRetentionCohort), required=True)
