"""The owner's KPIs (`engine.kpis`) read from the ladder digests (`rules.digest`), not from
the host's orders, whenever the digests hold every figure exactly.

Every writer of a profile writes its digest from the facts it decided on, so the digests
hold exactly the counted orders (placed, not fully refunded, net of refunds) the profiles
were decided from, without the host's ownership rules (guest orders by e-mail, unconfirmed
accounts) that make its orders SELECT the slow part of a KPI query at a million customers.
Per customer, the figures a KPI needs are positions in sorted arrays:

- the counted orders before the period's end, and before its start, are two binary
  searches (`width_bucket`, the number of moments at or before a bound) in `moments`
  (or, for one currency, in that currency's slice of `spend_moments`);
- the first order is the first element, the last one before the end the element at the
  first search's position;
- a currency's revenue in the period, and its spend to date, are differences of the stored
  "spend from here on" (`spend_from`) at those positions.

So one scan of the digests answers, with no order read and no per-order row made. Two
cases cannot be answered from them and go through the host's orders (`kpi_orders`):
a channel (the digests do not keep channels) and "paid only" (a currency's slice lists
every counted order, and which of them were paid is only known across currencies).
Nor can a store where some profile has no digest of the current version yet (written
before the digest existed, until `lifecycle_digest` or the daily task fills it).

Both readers give the same relations, so `engine.kpis` states each KPI once:

``figures``  per customer, one row of their figures over the orders in scope (the asked
             currency, or all; `currency` null) and one row per currency with an order in
             scope before the period's end (`currency` its code): profile, stage, tier,
             cohort (first day of the UTC month of the first counted order before the
             period's end, any currency; null without one), currency, to_date (orders
             before the period's end), in_period (orders in the period); on the customer's
             row first_us and last_us (µs since the epoch; null without an order), on a
             currency's row revenue (in the period) and spend_to_date
``cohorts``  profile, cohort: the customers with a cohort

One relation, not a customers' and a money one joined on the profile, so one scan of the
profiles and digests gives every figure of a KPI query.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from ..rules.config import LifecycleConfig
from ..rules.digest import DIGEST_VERSION, epoch_us
from .digest_writes import DIGEST_TABLE, PROFILE_TABLE
from .kpi_orders import Scope

#: The month of a moment in µs since the epoch, as a date (its first day, UTC).
_MONTH = "date_trunc('month', to_timestamp({us} / 1000000.0) AT TIME ZONE 'UTC')::date"


def why_not_from_digests(config: LifecycleConfig, scope: Scope) -> str | None:
    """Why `scope`'s KPIs cannot be read from the digests under `config` (None: they can,
    once `digests_complete` says every profile has one)."""
    if scope.channel is not None:
        return "a channel was asked, and the digests do not keep channels"
    if config.count_only_paid:
        return "only paid orders count, and a digest does not say which of a currency's orders were paid"
    return None


def digests_complete(cursor) -> bool:
    """Whether every profile has a digest of the current version. A digest's key is its
    profile's, so equal counts mean every profile has one (two counts, no join)."""
    cursor.execute(f"SELECT (SELECT count(*) FROM {PROFILE_TABLE}) "
                   f"= (SELECT count(*) FROM {DIGEST_TABLE} WHERE version = %s)", [DIGEST_VERSION])
    return cursor.fetchone()[0]


def _scoped_moments(scope: Scope) -> tuple[str, str, str]:
    """The ascending moments of the customer's orders in scope, as the array they are a
    slice of, the offset of the slice in it, and the slice itself (a currency's keeps its
    sentinel, which sorts after every bound; a currency the customer never used gives
    null, counted as no order)."""
    if scope.currency is None:
        return "d.moments", "0", "d.moments"
    at = "array_position(d.spend_currencies, %(lc_currency)s)"
    start, end = f"d.spend_starts[{at}]", f"d.spend_starts[{at} + 1]"
    return "d.spend_moments", f"{start} - 1", f"d.spend_moments[{start}:{end} - 1]"


def figures_sql(scope: Scope) -> str:
    """The ``figures`` relation (see the module's docstring); params lc_since_us,
    lc_until_us (and lc_currency with a currency).

    A customer's rows are the entries of [null, their currencies…]: entry 1 is their own
    row over the moments in scope, entry i the currency i − 1 over its slice (its start,
    `d.spend_starts[c.i - 1]`, is null on entry 1 and leaves the money columns null
    there). One unnest, not a UNION ALL of the two kinds of row: PostgreSQL will not split
    a UNION ALL of lateral subqueries between its workers.

    The two binary searches are the columns of a function scan (`unnest` of one-element
    arrays): computed once a row. As plain expressions of a subquery, PostgreSQL would
    copy them (and the slice they search) into every place that reads them, eight times
    a row; the first and last moments are read from the digest's arrays by position, so
    no slice is made for them."""
    one_currency = "AND c.code = %(lc_currency)s" if scope.currency is not None else ""
    own_array, own_offset, own_moments = _scoped_moments(scope)
    moments = f"""CASE WHEN c.i = 1 THEN {own_moments}
                       ELSE d.spend_moments[d.spend_starts[c.i - 1]:d.spend_starts[c.i] - 1] END"""
    start = "d.spend_starts[c.i - 1]"
    return f"""
        SELECT p.id AS profile, p.stage, p.tier,
               CASE WHEN d.moments[1] < %(lc_until_us)s THEN {_MONTH.format(us="d.moments[1]")} END AS cohort,
               c.code AS currency, n.to_date, n.to_date - n.before AS in_period,
               CASE WHEN c.i = 1 AND n.to_date > 0 THEN {own_array}[{own_offset} + 1] END AS first_us,
               CASE WHEN c.i = 1 AND n.to_date > 0 THEN {own_array}[{own_offset} + n.to_date] END AS last_us,
               d.spend_from[{start} + n.before] - d.spend_from[{start} + n.to_date] AS revenue,
               d.spend_from[{start}] - d.spend_from[{start} + n.to_date] AS spend_to_date
        FROM {PROFILE_TABLE} p
        JOIN {DIGEST_TABLE} d ON d.profile_id = p.id AND d.version = {DIGEST_VERSION}
        CROSS JOIN LATERAL unnest(ARRAY[NULL]::text[] || d.spend_currencies) WITH ORDINALITY AS c(code, i)
        CROSS JOIN LATERAL unnest(ARRAY[COALESCE(width_bucket(%(lc_until_us)s - 1, {moments}), 0)],
                                  ARRAY[COALESCE(width_bucket(%(lc_since_us)s - 1, {moments}), 0)]) AS n(to_date, before)
        WHERE c.i = 1 OR (n.to_date > 0 {one_currency})"""


#: The ``cohorts`` relation (see the module's docstring); param lc_until_us.
COHORTS_SQL = f"""
    SELECT d.profile_id AS profile, {_MONTH.format(us="d.moments[1]")} AS cohort FROM {DIGEST_TABLE} d
    WHERE d.version = {DIGEST_VERSION} AND d.moments[1] < %(lc_until_us)s"""


def retention_cells(cursor, scope: Scope, params: dict, cohorts: list[date], months: int) -> list[tuple]:
    """Rows (cohort, month offset, currency, whether the row is every currency's, customers,
    revenue) of `cohorts` up to `months` after each, as `engine.retention` reads them from
    the orders: customers with an order in scope in the month, and the orders' revenue.

    Each order is one entry of a currency's slice, its amount the difference of the
    neighbours' spend-from (orders at one moment share it: their sum is exact); its month
    is its place among the months' starts (a binary search), so no date is computed per
    order."""
    starts = _month_starts(cohorts[0], scope.until)
    bounds = [epoch_us(start) for start in starts]
    one_currency = "AND e.currency = %(lc_currency)s" if scope.currency is not None else ""
    cursor.execute(f"""
        SELECT c.at, e.at - c.at, e.currency, GROUPING(e.currency) = 1, count(DISTINCT c.profile_id), sum(e.amount)
        FROM (SELECT d.profile_id, d.spend_currencies, d.spend_starts, d.spend_moments, d.spend_from,
                     width_bucket(d.moments[1], %(lc_bounds)s::bigint[]) AS at
              FROM {DIGEST_TABLE} d
              WHERE d.version = {DIGEST_VERSION} AND d.moments[1] >= %(lc_first_us)s
                AND d.moments[1] < %(lc_until_us)s) c
        CROSS JOIN LATERAL (
            SELECT width_bucket(s.us, %(lc_bounds)s::bigint[]) AS at,
                   c.spend_currencies[width_bucket(s.position::int, c.spend_starts)] AS currency,
                   s.spend_from - s.spend_next AS amount
            FROM unnest(c.spend_moments, c.spend_from, c.spend_from[2:])
                 WITH ORDINALITY AS s(us, spend_from, spend_next, position)
            WHERE s.us < %(lc_until_us)s) e
        WHERE c.at = ANY(%(lc_cohorts)s) AND e.at - c.at <= %(lc_months)s {one_currency}
        GROUP BY GROUPING SETS ((c.at, e.at - c.at), (c.at, e.at - c.at, e.currency))
        ORDER BY e.currency""", {**params, "lc_bounds": bounds, "lc_first_us": bounds[0], "lc_months": months,
                                 "lc_cohorts": [starts.index(_start(cohort)) + 1 for cohort in cohorts]})
    return [(starts[at - 1].date(), offset, *rest) for at, offset, *rest in cursor.fetchall()]


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, 1, tzinfo=timezone.utc)


def _month_starts(first: date, until: datetime) -> list[datetime]:
    """The first instants (UTC) of the months from `first`'s to the one `until` falls in
    (or ends)."""
    starts, start = [], _start(first)
    while start < until:
        starts.append(start)
        start = _start(date(start.year + start.month // 12, start.month % 12 + 1, 1))
    return starts
