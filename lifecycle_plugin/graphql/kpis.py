"""The staff fields `lifecycleKpis` and `lifecycleRetention`: arguments checked (each
error names its argument), the engine's reports (`engine.kpis`, `engine.retention`)
turned into the API's types."""

from __future__ import annotations

from datetime import datetime

from ..engine.kpi_orders import Scope, ScopeError, why_not_in_sql
from ..engine.kpis import KpiRow, kpis
from ..engine.retention import MAX_MONTHS, retention
from .errors import PAGE_TOO_LARGE, UNAVAILABLE, LifecycleError, bad_input
from .types import LifecycleMoney
from .types.kpi import (
    LifecycleChurn,
    LifecycleKpiMoney,
    LifecycleKpiRow,
    LifecycleKpis,
    LifecycleRetention,
    LifecycleRetentionCohort,
    LifecycleRetentionMonth,
)

#: The most cohorts `first`/`last` may ask for.
MAX_COHORTS = 1000


def checked_scope(since: datetime, until: datetime, channel: str | None = None,
                  currency: str | None = None) -> Scope:
    """The period (and channel, currency) of a staff metrics query, or a GraphQL error naming
    the argument: every period-taking field checks it the same way."""
    try:
        return Scope.checked(since, until, channel, currency)
    except ScopeError as error:
        raise bad_input(error.message, argument=error.argument) from None


def _count(name: str, value: int | None, maximum: int, code: str = PAGE_TOO_LARGE) -> None:
    if value is None:
        return
    if value < 0:
        raise bad_input(f"{name} must not be negative, got {value}.", argument=name)
    if value > maximum:
        raise LifecycleError(code, f"{name} may be at most {maximum:,}, got {value:,}.",
                             {"argument": name, "maximum": maximum})


def answer(call):
    """Run an engine report, its argument errors as GraphQL errors naming the argument."""
    try:
        return call()
    except ScopeError as error:
        raise bad_input(error.message, argument=error.argument) from None


def require_sql_host(host) -> None:
    reason = why_not_in_sql(host)
    if reason is not None:
        raise LifecycleError(UNAVAILABLE, f"These figures are read in SQL from the store's orders and {reason}.")


def _money(money, row: KpiRow) -> LifecycleKpiMoney:
    aov, clv = money.average_order_value, money.historic_clv
    return LifecycleKpiMoney(
        currency=money.currency, orders=money.orders, revenue=float(money.revenue),
        average_order_value=None if aov is None else float(aov), spend_to_date=float(money.spend_to_date),
        customers_to_date=money.customers_to_date, historic_clv=None if clv is None else float(clv),
        simple_clv=row.simple_clv(money),
    )


def _row(row: KpiRow, group_by: str) -> LifecycleKpiRow:
    key = None if row.is_total else row.key
    return LifecycleKpiRow(
        key=key, stage=key if group_by == "stage" else None, tier=key if group_by == "tier" else None,
        cohort=key if group_by == "cohort" else None,
        customers=row.customers, buyers=row.buyers, orders=row.orders,
        transaction_frequency=row.transaction_frequency, purchase_frequency_per_year=row.purchase_frequency_per_year,
        customers_with_orders=row.customers_with_orders, average_lifespan_days=row.lifespan_days,
        average_lifespan_years=row.lifespan_years, repeat_buyers=row.repeat_buyers,
        repeat_purchase_rate=row.repeat_purchase_rate,
        churn=LifecycleChurn(active_at_start=row.active_at_start, churned=row.churned, rate=row.churn_rate),
        money=[_money(money, row) for money in row.currencies],
    )


def lifecycle_kpis(context, group_by: str, since: datetime, until: datetime, channel: str | None = None,
                   currency: str | None = None, first: int | None = None, last: int | None = None) -> LifecycleKpis:
    scope = checked_scope(since, until, channel, currency)
    _count("first", first, MAX_COHORTS)
    _count("last", last, MAX_COHORTS)
    if (first is not None or last is not None) and group_by != "cohort":
        raise bad_input("first and last choose cohorts: give them only with groupBy: COHORT.",
                        argument="first" if first is not None else "last")
    if first is not None and last is not None:
        raise bad_input("Give first or last, not both.", argument="last")
    require_sql_host(context.host)
    report = answer(lambda: kpis(context.host, context.config, scope, group_by))
    rows = list(report.rows)
    if first is not None:
        rows = rows[:first]
    if last is not None:
        rows = rows[len(rows) - last:] if last else []
    return LifecycleKpis(since=scope.since, until=scope.until, channel=scope.channel, currency=scope.currency,
                         group_by=group_by, period_days=scope.days, total=_row(report.total, group_by),
                         rows=[_row(row, group_by) for row in rows])


def lifecycle_retention(context, since: datetime, until: datetime, channel: str | None = None,
                        currency: str | None = None, months: int = 12, first: int | None = None,
                        last: int | None = None) -> LifecycleRetention:
    scope = checked_scope(since, until, channel, currency)
    months = 12 if months is None else months
    if not 0 <= months <= MAX_MONTHS:
        raise bad_input(f"months must be between 0 and {MAX_MONTHS}, got {months}.", argument="months")
    _count("first", first, MAX_COHORTS)
    _count("last", last, MAX_COHORTS)
    if first is not None and last is not None:
        raise bad_input("Give first or last, not both.", argument="last")
    require_sql_host(context.host)
    report = answer(lambda: retention(context.host, context.config, scope, months, first, last))
    return LifecycleRetention(
        since=scope.since, until=scope.until, channel=scope.channel, currency=scope.currency, months=months,
        cohorts_in_period=report.cohorts_in_period,
        cohorts=[LifecycleRetentionCohort(
            cohort=cohort.month.strftime("%Y-%m"), customers=cohort.customers,
            months=[LifecycleRetentionMonth(
                month=month.offset, start=month.start, complete=month.complete, customers=month.customers,
                share=month.share,
                revenue=[LifecycleMoney(currency=c, amount=float(a)) for c, a in month.revenue],
                revenue_per_customer=[LifecycleMoney(currency=c, amount=float(a))
                                      for c, a in month.revenue_per_customer(cohort.customers)],
            ) for month in cohort.months],
        ) for cohort in report.cohorts],
    )
