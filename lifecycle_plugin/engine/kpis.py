"""The owner's KPIs per stage, tier or cohort over a period (docs/metrics.md has each
formula): set-based SQL, one pass per figure family, every money figure per currency, over
per-customer figures read from the ladder digests (`kpi_digests`: one scan, no order read)
or, for a channel, under "paid only", or while some digest is missing, from the host's
counted orders (`kpi_orders`). Both give the same relations, so each KPI is stated once.

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

from ..models import StageTransition
from ..rules import Stage
from ..rules.config import LifecycleConfig
from .kpi_orders import Scope
from .kpi_sources import kpi_source

GROUPINGS = ("stage", "tier", "cohort")
#: Stages of customers who are not active buyers: churn is counted among the others.
NOT_ACTIVE = (Stage.VISITOR.value, Stage.LEAD.value, Stage.PROSPECT.value, Stage.LAPSED.value)
DAYS_PER_YEAR = 365.25
_HISTORY = StageTransition._meta.db_table


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


def _people_sql(group_by: str, customers: str) -> str:
    """Each customer of the grouping with their figures and their key `k`."""
    key = {"stage": "c.stage", "tier": "c.tier", "cohort": "to_char(c.cohort, 'YYYY-MM')"}[group_by]
    where = "WHERE c.cohort IS NOT NULL" if group_by == "cohort" else ""
    return f"SELECT c.*, {key} AS k FROM ({customers}) c {where}"


def _churn_sql(group_by: str, people: str) -> str:
    """Per group: customers active at the period's start (their last move before it was
    to a stage of an active buyer) and, of them, those who moved to `lapsed` in the period."""
    key = "s.stage" if group_by == "stage" else "g.k"
    return f"""
        SELECT GROUPING({key}) = 1, {key}, count(*),
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM {_HISTORY} t WHERE t.profile_id = s.profile_id AND t.to_stage = %(lapsed)s
                      AND t.occurred_at >= %(lc_since)s AND t.occurred_at < %(lc_until)s))
        FROM (SELECT DISTINCT ON (profile_id) profile_id, to_stage AS stage FROM {_HISTORY}
              WHERE occurred_at < %(lc_since)s ORDER BY profile_id, occurred_at DESC, id DESC) s
        JOIN ({people}) g ON g.profile = s.profile_id
        WHERE s.stage <> ALL(%(not_active)s)
        GROUP BY GROUPING SETS (({key}), ())"""


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
        cursor, people = source.cursor, _people_sql(group_by, source.customers_sql)
        params = {**source.params, "lapsed": Stage.LAPSED.value, "not_active": list(NOT_ACTIVE)}
        cursor.execute(f"""
            SELECT GROUPING(g.k) = 1, g.k, count(*), count(*) FILTER (WHERE g.in_period > 0),
                   COALESCE(sum(g.in_period), 0), count(*) FILTER (WHERE g.in_period > 0 AND g.to_date >= 2),
                   count(*) FILTER (WHERE g.to_date > 0), avg((g.last_us - g.first_us) / 86400000000.0)
            FROM ({people}) g
            GROUP BY GROUPING SETS ((g.k), ())""", params)
        counts = {(total, key): rest for total, key, *rest in cursor.fetchall()}
        cursor.execute(_churn_sql(group_by, people), params)
        churn = {(total, key): rest for total, key, *rest in cursor.fetchall()}
        cursor.execute(f"""
            SELECT GROUPING(g.k) = 1, g.k, m.currency, sum(m.orders)::bigint, COALESCE(sum(m.revenue), 0),
                   sum(m.spend_to_date), count(*)
            FROM ({source.money_sql}) m JOIN ({people}) g ON g.profile = m.profile
            GROUP BY GROUPING SETS ((g.k, m.currency), (m.currency)) ORDER BY m.currency""", params)
        money: dict[tuple, list[CurrencyKpis]] = {}
        for total, key, currency, orders, revenue, to_date, customers in cursor.fetchall():
            money.setdefault((total, key), []).append(CurrencyKpis(currency, orders, revenue, to_date, customers))

    def row(total: bool, key: str | None) -> KpiRow:
        customers, buyers, orders, repeat, with_orders, lifespan = counts.get((total, key), (0, 0, 0, 0, 0, None))
        active, churned = churn.get((total, key), (0, 0))
        return KpiRow(key, total, scope.days, customers, buyers, int(orders), repeat, with_orders,
                      None if lifespan is None else float(lifespan), active, churned,
                      tuple(money.get((total, key), ())))

    keys = {key for total, key in [*counts, *churn] if not total}
    rows = tuple(row(False, key) for key in _ordered(group_by, keys, config))
    return KpiReport(scope, group_by, row(True, None), rows, source.reads)


def _ordered(group_by: str, keys: set, config: LifecycleConfig) -> list:
    if group_by == "stage":
        builtin = [stage.value for stage in Stage]
        return builtin + sorted(key for key in keys if key not in builtin)
    if group_by == "tier":
        configured = list(config.tier_codes)
        return [*configured, *sorted(k for k in keys if k is not None and k not in configured), None]
    return sorted(keys)
