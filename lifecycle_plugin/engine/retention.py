"""Retention by cohort (docs/metrics.md): for each month of first orders, the share of its
customers who ordered in month 0, 1, 2, … after it, and the revenue per cohort customer
by month and currency — the table behind a cohort heatmap. Set-based SQL over the counted
orders held by the ladder digests (`kpi_digests`) or, for a channel, under "paid only" or
while a digest is missing, the host's (`kpi_orders`); months are calendar months in UTC.

A cohort is the customers whose first counted order (any channel, any currency) fell in
that month; `channel` and `currency` choose which orders count in the cells. The period
chooses the cohorts (the months that start before `until` and do not end before `since`),
and no order placed from `until` on is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

from ..rules.config import LifecycleConfig
from .kpi_digests import retention_cells
from .kpi_orders import Scope
from .kpi_sources import kpi_source

#: The most months after the first one a query may ask for.
MAX_MONTHS = 120


@dataclass(frozen=True)
class RetentionMonth:
    offset: int  # 0: the cohort's own month
    start: datetime
    complete: bool  # the month ended before the period's end
    customers: int  # cohort customers with a counted order in the month (in scope)
    share: float  # of the cohort's customers
    revenue: tuple[tuple[str, Decimal], ...]  # (currency, amount), by currency

    def revenue_per_customer(self, cohort_size: int) -> tuple[tuple[str, Decimal], ...]:
        return tuple((currency, amount / cohort_size) for currency, amount in self.revenue)


@dataclass(frozen=True)
class RetentionCohort:
    month: date  # its first day
    customers: int
    months: tuple[RetentionMonth, ...]


@dataclass(frozen=True)
class RetentionReport:
    scope: Scope
    months: int
    cohorts: tuple[RetentionCohort, ...]
    cohorts_in_period: int  # before `first`/`last` chose some
    reads: str  # "digests" or "orders" (`kpi_sources`)


#: Each cohort month's customers, for the cohorts that start in the period, from the
#: source's ``cohorts`` relation (`kpi_sources`: the digests' or the orders').
_COHORT_SIZES_SQL = """
    SELECT cohort, count(*) FROM ({cohorts}) c
    WHERE cohort >= date_trunc('month', %(lc_since)s AT TIME ZONE 'UTC')::date
      AND cohort < %(lc_until)s AT TIME ZONE 'UTC'
    GROUP BY cohort ORDER BY cohort"""
#: The cells from the orders' tables (`kpi_orders`); the digests' are `kpi_digests.retention_cells`.
_CELLS_SQL = """
    SELECT pe.cohort, m.offset_, o.currency, GROUPING(o.currency) = 1, count(DISTINCT o.profile), sum(o.amount)
    FROM lc_kpi_orders o JOIN lc_kpi_people pe ON pe.profile = o.profile
    CROSS JOIN LATERAL (SELECT (extract(year FROM o.placed_at AT TIME ZONE 'UTC') * 12
                                + extract(month FROM o.placed_at AT TIME ZONE 'UTC')
                                - extract(year FROM pe.cohort) * 12
                                - extract(month FROM pe.cohort))::int AS offset_) m
    WHERE o.in_scope AND pe.cohort = ANY(%(cohorts)s) AND m.offset_ <= %(months)s
    GROUP BY GROUPING SETS ((pe.cohort, m.offset_), (pe.cohort, m.offset_, o.currency))
    ORDER BY o.currency"""


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def retention(host, config: LifecycleConfig, scope: Scope, months: int = 12, first: int | None = None,
              last: int | None = None, *, from_digests: bool = True) -> RetentionReport:
    """The cohorts of `scope`'s period, oldest first (`first`: only the oldest N, `last`:
    only the newest N), each with months 0..`months` that start before the period's end.
    Read from the ladder digests where they hold the figures (`kpi_sources`; not with
    `from_digests=False`, the reference of tests and bench/kpis.py)."""
    if not 0 <= months <= MAX_MONTHS:
        raise ValueError(f"months must be between 0 and {MAX_MONTHS}, got {months}")
    with kpi_source(host, config, scope, from_digests) as source:
        cursor = source.cursor
        cursor.execute(_COHORT_SIZES_SQL.format(cohorts=source.cohorts_sql), source.params)
        sizes = cursor.fetchall()
        in_period = len(sizes)
        if first is not None:
            sizes = sizes[:first]
        if last is not None:
            sizes = sizes[len(sizes) - last:] if last else []
        cells: dict[tuple[date, int], int] = {}
        revenue: dict[tuple[date, int], list[tuple[str, Decimal]]] = {}
        if sizes:
            chosen = [cohort for cohort, _ in sizes]
            if source.reads == "digests":
                rows = retention_cells(cursor, scope, source.params, chosen, months)
            else:
                cursor.execute(_CELLS_SQL, {"cohorts": chosen, "months": months})
                rows = cursor.fetchall()
            for cohort, offset, currency, all_currencies, customers, amount in rows:
                if all_currencies:
                    cells[(cohort, offset)] = customers
                else:
                    revenue.setdefault((cohort, offset), []).append((currency, amount))
    cohorts = []
    for cohort, size in sizes:
        rows = []
        for offset in range(months + 1):
            start = _start(_add_months(cohort, offset))
            if start >= scope.until:
                break
            customers = cells.get((cohort, offset), 0)
            rows.append(RetentionMonth(offset, start, _start(_add_months(cohort, offset + 1)) <= scope.until,
                                       customers, customers / size, tuple(revenue.get((cohort, offset), ()))))
        cohorts.append(RetentionCohort(cohort, size, tuple(rows)))
    return RetentionReport(scope, months, tuple(cohorts), in_period, source.reads)
