"""The demo's KPI table per stage: what `lifecycleKpis(groupBy: STAGE)` answers for the
last 365 days, each column explained (docs/metrics.md has the formulas)."""

from __future__ import annotations

from datetime import datetime, timedelta

from .common import Out

#: The period the demo reports on: the year up to its `--now`.
KPI_DAYS = 365


def _number(value, digits: int = 2, width: int = 9) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width},.{digits}f}"


def _share(value, width: int = 7) -> str:
    return f"{'-':>{width}}" if value is None else f"{100 * value:>{width - 1}.1f}%"


def print_kpis(out: Out, host, config, now: datetime) -> None:
    from ...engine.kpi_orders import Scope, why_not_in_sql
    from ...engine.kpis import kpis

    if why_not_in_sql(host) is not None:
        return
    report = kpis(host, config, Scope.checked(now - timedelta(days=KPI_DAYS), now), "stage")
    out()
    out(f"KPIs per stage over the last {KPI_DAYS} days (customers by their stage now; churn by their stage "
        "a year ago; lifecycleKpis(groupBy: STAGE) answers the same)")
    out("  buyers: customers with a counted order in the period; freq: orders per buyer; repeat: buyers with "
        "2+ orders ever; lifespan: mean years from first to last order")
    out(f"  {'stage':<10} {'customers':>9} {'buyers':>7} {'orders':>7} {'freq':>5} {'repeat':>7} "
        f"{'lifespan':>8} {'active':>7} {'churn':>7}")
    rows = [row for row in report.rows if row.customers or row.active_at_start]
    for row in [*rows, report.total]:
        out(f"  {'all' if row.is_total else row.key:<10} {row.customers:>9,} {row.buyers:>7,} {row.orders:>7,} "
            f"{_number(row.transaction_frequency, 2, 5)} {_share(row.repeat_purchase_rate)} "
            f"{_number(row.lifespan_years, 2, 8)} {row.active_at_start:>7,} {_share(row.churn_rate)}")
    out()
    out("  Money per stage and currency (never added across currencies): revenue and AOV in the period; "
        "historic CLV = spend to date per customer who bought in the currency; simple CLV = frequency per "
        "year x AOV x lifespan")
    out(f"  {'stage':<10} {'cur':<4} {'orders':>7} {'revenue':>13} {'AOV':>9} {'hist. CLV':>10} {'simple CLV':>10}")
    for row in [*rows, report.total]:
        for money in row.currencies:
            out(f"  {'all' if row.is_total else row.key:<10} {money.currency:<4} {money.orders:>7,} "
                f"{_number(money.revenue, 2, 13)} {_number(money.average_order_value)} "
                f"{_number(money.historic_clv, 2, 10)} {_number(row.simple_clv(money), 2, 10)}")
