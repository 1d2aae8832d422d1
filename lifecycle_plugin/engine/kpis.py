"""The owner's KPIs per stage, tier or cohort over a period (docs/metrics.md has each
formula): two set-based statements, the figures per group and currency and the churn from
the dated history, every money figure per currency, over per-customer figures read from
the ladder digests (`kpi_digests`: one scan, no order read) or, for a channel, under "paid
only", or while some digest is missing, from the host's counted orders (`kpi_orders`).
Both give the same relations, so each KPI is stated once.

A group is the customers' **current** stage or tier (the profile's, as
`lifecycleStageCounts` counts them), or their cohort (the month of their first counted
order). Churn is the exception, per stage only: it is counted against the stage each
customer held at the period's start (from the dated history), since customers who lapsed
in the period are, by the period's end, in `lapsed` and no longer in the stage they left.
The total row is every customer the rows count (for cohorts: those with a cohort).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..models import CustomerProfile, StageTransition
from ..rules import Stage
from ..rules.config import LifecycleConfig
from .kpi_orders import Scope
from .kpi_sources import kpi_source
from .sql_ladder import US_PER_DAY

GROUPINGS = ("stage", "tier", "cohort")
#: Stages of customers who are not active buyers: churn is counted among the others.
NOT_ACTIVE = (Stage.VISITOR.value, Stage.LEAD.value, Stage.PROSPECT.value, Stage.LAPSED.value)
DAYS_PER_YEAR = 365.25
_HISTORY = StageTransition._meta.db_table
_PROFILE = CustomerProfile._meta.db_table


@dataclass(frozen=True)
class CurrencyKpis:
    """A group's money figures in one currency."""

    currency: str
    orders: int  # counted orders in the period, in this currency
    revenue: Decimal  # their amounts net of refunds
    spend_to_date: Decimal  # every counted order before the period's end, in this currency
    customers_to_date: int  # customers with such an order

    @property
    def average_order_value(self) -> Decimal | None:
        return self.revenue / self.orders if self.orders else None

    @property
    def historic_clv(self) -> Decimal | None:
        return self.spend_to_date / self.customers_to_date if self.customers_to_date else None


@dataclass(frozen=True)
class KpiRow:
    key: str | None  # stage key, tier key (None: below every tier) or cohort "YYYY-MM"; None for the total
    is_total: bool
    period_days: float
    customers: int  # in the group
    buyers: int  # of them, with a counted order in the period
    orders: int  # their counted orders in the period
    repeat_buyers: int  # buyers with two or more counted orders before the period's end
    customers_with_orders: int  # customers with a counted order before the period's end
    lifespan_days: float | None  # mean first-to-last-order span of those
    active_at_start: int
    churned: int
    currencies: tuple[CurrencyKpis, ...]

    @property
    def transaction_frequency(self) -> float | None:
        return self.orders / self.buyers if self.buyers else None

    @property
    def purchase_frequency_per_year(self) -> float | None:
        frequency = self.transaction_frequency
        return None if frequency is None else frequency * DAYS_PER_YEAR / self.period_days

    @property
    def lifespan_years(self) -> float | None:
        return None if self.lifespan_days is None else self.lifespan_days / DAYS_PER_YEAR

    @property
    def repeat_purchase_rate(self) -> float | None:
        return self.repeat_buyers / self.buyers if self.buyers else None

    @property
    def churn_rate(self) -> float | None:
        return self.churned / self.active_at_start if self.active_at_start else None

    def simple_clv(self, money: CurrencyKpis) -> float | None:
        """Purchase frequency per year × average order value × average lifespan in years."""
        terms = (self.purchase_frequency_per_year, money.average_order_value, self.lifespan_years)
        if any(term is None for term in terms):
            return None
        return terms[0] * float(terms[1]) * terms[2]


@dataclass(frozen=True)
class KpiReport:
    scope: Scope
    group_by: str
    total: KpiRow
    rows: tuple[KpiRow, ...]
    #: What the figures were read from: "digests" (`kpi_digests`) or "orders" (`kpi_orders`).
    reads: str


#: Each group's key of a row of ``figures`` `f`, and which rows have one (a cohort's key is
#: its month's first day, written "YYYY-MM" by `_report`: not a string made per row).
_KEYS = {"stage": ("f.stage", "true"), "tier": ("f.tier", "true"), "cohort": ("f.cohort", "f.cohort IS NOT NULL")}


def _figures_by_group_sql(group_by: str, figures: str) -> str:
    """Per group and currency (null: the customers' own figures, see `kpi_digests`): the
    sums the KPIs are made of. One plain GROUP BY, which PostgreSQL can split between its
    workers (grouping sets it cannot); `kpis` adds the groups up to the total. Lifespans
    are summed in whole µs (integers, exact) and turned into days once, in `_report`, not
    divided per customer in numeric."""
    key, has_key = _KEYS[group_by]
    return f"""
        SELECT {key}, f.currency, count(*), count(*) FILTER (WHERE f.in_period > 0),
               COALESCE(sum(f.in_period), 0), count(*) FILTER (WHERE f.in_period > 0 AND f.to_date >= 2),
               count(*) FILTER (WHERE f.to_date > 0), sum(f.last_us - f.first_us),
               count(f.last_us), COALESCE(sum(f.revenue), 0), sum(f.spend_to_date)
        FROM ({figures}) f WHERE {has_key}
        GROUP BY 1, 2"""


def _churn_sql(group_by: str, cohorts: str) -> str:
    """Per group: customers active at the period's start (their last move before it was
    to a stage of an active buyer) and, of them, those who moved to `lapsed` in the period.
    Grouped by stage, the history alone answers (every move has its profile)."""
    key, join = {"stage": ("s.stage", ""),
                 "tier": ("g.tier", f"JOIN {_PROFILE} g ON g.id = s.profile_id"),
                 "cohort": ("g.cohort", f"JOIN ({cohorts}) g ON g.profile = s.profile_id")}[group_by]
    return f"""
        SELECT {key}, count(*), count(l.profile_id)
        FROM (SELECT DISTINCT ON (profile_id) profile_id, to_stage AS stage FROM {_HISTORY}
              WHERE occurred_at < %(lc_since)s ORDER BY profile_id, occurred_at DESC, id DESC) s
        {join}
        LEFT JOIN (SELECT DISTINCT profile_id FROM {_HISTORY}
                   WHERE to_stage = %(lapsed)s AND occurred_at >= %(lc_since)s AND occurred_at < %(lc_until)s) l
               ON l.profile_id = s.profile_id
        WHERE s.stage <> ALL(%(not_active)s)
        GROUP BY 1"""


def kpis(host, config: LifecycleConfig, scope: Scope, group_by: str, *, from_digests: bool = True) -> KpiReport:
    """The KPIs of every group of `group_by` ("stage", "tier" or "cohort") and their total.

    Stages: every built-in stage in ladder order (zeros included), then plugins' stages.
    Tiers: every configured tier lowest first, retired tiers, then None (below every tier).
    Cohorts: each month with a first order, oldest first. Raises `ScopeError` for a
    channel or currency no order of the store has. `from_digests=False` reads the host's
    orders even where the digests would do (the reference of tests and bench/kpis.py).
    """
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {GROUPINGS}, got {group_by!r}")
    with kpi_source(host, config, scope, from_digests) as source:
        cursor = source.cursor
        params = {**source.params, "lapsed": Stage.LAPSED.value, "not_active": list(NOT_ACTIVE)}
        cursor.execute(_figures_by_group_sql(group_by, source.figures_sql), params)
        figures = cursor.fetchall()
        cursor.execute(_churn_sql(group_by, source.cohorts_sql), params)
        churn = cursor.fetchall()
    return _report(scope, group_by, config, figures, churn, source.reads)


def _report(scope: Scope, group_by: str, config: LifecycleConfig, figures: list[tuple], churn: list[tuple],
            reads: str) -> KpiReport:
    """The report of the groups' sums, each group's figures added up to the total's."""
    if group_by == "cohort":
        figures = [(month.strftime("%Y-%m"), *rest) for month, *rest in figures]
        churn = [(month.strftime("%Y-%m"), *rest) for month, *rest in churn]
    totals = _Sums()
    groups: dict[str | None, _Sums] = {}
    for key, currency, *sums in figures:
        for target in (groups.setdefault(key, _Sums()), totals):
            target.add_figures(currency, sums)
    for key, active, churned in churn:
        for target in (groups.setdefault(key, _Sums()), totals):
            target.active += active
            target.churned += churned

    def row(key: str | None, sums: _Sums, is_total: bool) -> KpiRow:
        lifespan = float(sums.lifespan_us / US_PER_DAY / sums.lifespans) if sums.lifespans else None
        money = tuple(CurrencyKpis(code, *money) for code, money in sorted(sums.money.items()))
        return KpiRow(key, is_total, scope.days, sums.customers, sums.buyers, sums.orders, sums.repeat_buyers,
                      sums.customers_with_orders, lifespan, sums.active, sums.churned, money)

    rows = tuple(row(key, groups.get(key, _Sums()), False) for key in _ordered(group_by, set(groups), config))
    return KpiReport(scope, group_by, row(None, totals, True), rows, reads)


class _Sums:
    """A group's (or the total's) sums of the figures and churn rows."""

    def __init__(self):
        self.customers = self.buyers = self.orders = self.repeat_buyers = self.customers_with_orders = 0
        self.lifespan_us, self.lifespans = Decimal(0), 0
        self.active = self.churned = 0
        self.money: dict[str, list] = {}  # currency → [orders, revenue, spend_to_date, customers_to_date]

    def add_figures(self, currency: str | None, sums: list) -> None:
        rows, buyers, in_period, repeat_buyers, with_orders, lifespan_us, lifespans, revenue, spend = sums
        if currency is None:
            self.customers += rows
            self.buyers += buyers
            self.orders += int(in_period)
            self.repeat_buyers += repeat_buyers
            self.customers_with_orders += with_orders
            self.lifespan_us += lifespan_us or 0
            self.lifespans += lifespans
        else:
            money = self.money.setdefault(currency, [0, Decimal(0), Decimal(0), 0])
            money[0] += int(in_period)
            money[1] += revenue
            money[2] += spend
            money[3] += rows


def _ordered(group_by: str, keys: set, config: LifecycleConfig) -> list:
    if group_by == "stage":
        builtin = [stage.value for stage in Stage]
        return builtin + sorted(key for key in keys if key not in builtin)
    if group_by == "tier":
        configured = list(config.tier_codes)
        return [*configured, *sorted(k for k in keys if k is not None and k not in configured), None]
    return sorted(keys)
