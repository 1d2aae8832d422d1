"""The counted orders and customers the owner's KPIs (`engine.kpis`) and cohort retention
(`engine.retention`) read, set up per query as temporary tables in the database.

The orders are the host's orders SELECT (`Host.ladder_sources`, the SELECT the SQL ladder
and the prediction read) kept by the ladder's one counted-order rule
(`sql_ladder_parts.counted_condition`): placed, not fully refunded (and paid, when the
settings ask for it), each at its amount net of refunds, never below zero. An order
belongs to the profile of its customer (the normalised e-mail, as the ladder owns it);
orders of customers the engine has not decided yet (no profile) are left out, and so
are a deleted customer's orders from before the deletion (`deletion`).

Tables, on the connection, inside the caller's transaction (dropped at its end):

``lc_kpi_orders``  profile, placed_at, currency, channel, amount, in_scope — every counted
                   order placed before the period's end; `in_scope`: in the asked channel
                   and currency (true when none was asked)
``lc_kpi_people``  profile, stage, tier (the profile's, now), cohort — the first day
                   (UTC) of the month of the customer's first counted order in any
                   channel and currency before the period's end, null without one
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from django.db import connection, transaction

from ..models import CustomerProfile, DeletedCustomer
from ..rules.config import LifecycleConfig
from .prediction_orders_sql import drop_orders_before_deletion
from .sql_ladder_parts import counted_condition

#: The longest period asked about: ten years of 365.25 days, rounded up.
MAX_PERIOD = timedelta(days=3653)
_PROFILE = CustomerProfile._meta.db_table
_DROP = "DROP TABLE IF EXISTS lc_kpi_all, lc_kpi_orders, lc_kpi_people"


class ScopeError(ValueError):
    """An argument of the period or scope is wrong; `argument` names it."""

    def __init__(self, argument: str, message: str):
        super().__init__(message)
        self.argument = argument
        self.message = message


@dataclass(frozen=True)
class Scope:
    """What a KPI or retention query looks at: the period [since, until), and optionally
    one channel (its slug) and one currency (ISO 4217)."""

    since: datetime
    until: datetime
    channel: str | None = None
    currency: str | None = None

    @classmethod
    def checked(cls, since: datetime, until: datetime, channel: str | None = None,
                currency: str | None = None) -> Scope:
        """A scope with times read as UTC when they have no zone; `ScopeError` when the
        period is reversed, empty or longer than ten years, or a currency is not a code."""
        since, until = _aware(since), _aware(until)
        if since >= until:
            raise ScopeError("until", f"until ({until.isoformat()}) must be after since ({since.isoformat()}).")
        if until - since > MAX_PERIOD:
            raise ScopeError("until", f"The period from since to until may be at most 10 years "
                                      f"({MAX_PERIOD.days:,} days); it is {(until - since).days:,} days.")
        if currency is not None:
            code = currency.strip().upper()
            if len(code) != 3 or not code.isalpha():
                raise ScopeError("currency", f"currency must be an ISO 4217 code such as USD, got {currency!r}.")
            currency = code
        if channel is not None and not channel.strip():
            raise ScopeError("channel", "channel must be a channel's slug, got an empty string.")
        return cls(since, until, channel, currency)

    @property
    def days(self) -> float:
        return (self.until - self.since).total_seconds() / 86400


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def why_not_in_sql(host) -> str | None:
    """Why the KPIs cannot be read from `host` (None: they can)."""
    if getattr(host, "ladder_sources", None) is None:
        return f"the {getattr(host, 'name', 'this')} host offers no SQL (Host.ladder_sources)"
    return None


def check_scope_exists(cursor, sources, scope: Scope) -> None:
    """`ScopeError` when `scope` names a channel or currency no order of the host has."""
    params = {**sources.params, "lc_channel": scope.channel, "lc_currency": scope.currency}
    for argument, value in (("channel", scope.channel), ("currency", scope.currency)):
        if value is not None:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM ({sources.orders_sql}) AS o "
                           f"WHERE o.{argument} = %(lc_{argument})s)", params)
            if not cursor.fetchone()[0]:
                raise ScopeError(argument, f"No order of the store is in the {argument} {value!r}.")


@contextmanager
def kpi_tables(host, config: LifecycleConfig, scope: Scope):
    """Yield a cursor on which ``lc_kpi_orders`` and ``lc_kpi_people`` hold `scope`'s data
    (see the module's docstring); `ScopeError` for a channel or currency no order has."""
    sources = host.ladder_sources()
    params = {**sources.params, "lc_until": scope.until, "lc_channel": scope.channel, "lc_currency": scope.currency}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(_DROP)  # (ON COMMIT DROP does not fire inside an outer transaction, as in tests)
        check_scope_exists(cursor, sources, scope)
        counted = f"""
            SELECT o.customer, o.placed_at, o.currency, o.channel, GREATEST(o.total - o.refunded, 0)::numeric AS amount
            FROM ({sources.orders_sql}) AS o
            WHERE {counted_condition(config)} AND o.placed_at < %(lc_until)s"""
        if DeletedCustomer.objects.exists():
            # Tombstones are matched by e-mail and account id: the customers SELECT has the id.
            cursor.execute(f"""
                CREATE TEMP TABLE lc_kpi_all ON COMMIT DROP AS
                SELECT o.*, c.user_id FROM ({counted}) AS o JOIN ({sources.customers_sql}) AS c USING (customer)""",
                           params)
            drop_orders_before_deletion(cursor, "lc_kpi_all")
            counted = "SELECT * FROM lc_kpi_all"
        in_channel = "o.channel = %(lc_channel)s" if scope.channel is not None else "true"
        in_currency = "o.currency = %(lc_currency)s" if scope.currency is not None else "true"
        cursor.execute(f"""
            CREATE TEMP TABLE lc_kpi_orders ON COMMIT DROP AS
            SELECT p.id AS profile, o.placed_at, o.currency, o.channel, o.amount,
                   ({in_channel} AND {in_currency}) AS in_scope
            FROM ({counted}) AS o JOIN {_PROFILE} p ON p.email = o.customer""", params)
        cursor.execute(f"""
            CREATE TEMP TABLE lc_kpi_people ON COMMIT DROP AS
            SELECT p.id AS profile, p.stage, p.tier, f.cohort
            FROM {_PROFILE} p
            LEFT JOIN (SELECT profile, date_trunc('month', min(placed_at) AT TIME ZONE 'UTC')::date AS cohort
                       FROM lc_kpi_orders GROUP BY profile) f ON f.profile = p.id""")
        cursor.execute("ANALYZE lc_kpi_orders")
        cursor.execute("ANALYZE lc_kpi_people")
        yield cursor
        # (On an error the transaction, or the savepoint, rolls back and the tables with it.)
        cursor.execute(_DROP)


#: The KPIs' relations (`engine.kpi_digests` describes them) over the tables of
#: `kpi_tables`: the same figures the digests give, from the orders.
FIGURES_SQL = """
    SELECT pe.profile, pe.stage, pe.tier, pe.cohort, NULL::text AS currency, COALESCE(b.to_date, 0) AS to_date,
           COALESCE(b.in_period, 0) AS in_period, b.first_us, b.last_us,
           NULL::numeric AS revenue, NULL::numeric AS spend_to_date
    FROM lc_kpi_people pe
    LEFT JOIN (SELECT profile, count(*) AS to_date, count(*) FILTER (WHERE placed_at >= %(lc_since)s) AS in_period,
                      (extract(epoch FROM min(placed_at)) * 1000000)::bigint AS first_us,
                      (extract(epoch FROM max(placed_at)) * 1000000)::bigint AS last_us
               FROM lc_kpi_orders WHERE in_scope GROUP BY profile) b ON b.profile = pe.profile
    UNION ALL
    SELECT pe.profile, pe.stage, pe.tier, pe.cohort, m.currency, m.to_date, m.in_period, NULL, NULL,
           m.revenue, m.spend_to_date
    FROM (SELECT profile, currency, count(*) AS to_date, count(*) FILTER (WHERE placed_at >= %(lc_since)s) AS in_period,
                 COALESCE(sum(amount) FILTER (WHERE placed_at >= %(lc_since)s), 0) AS revenue,
                 sum(amount) AS spend_to_date
          FROM lc_kpi_orders WHERE in_scope GROUP BY profile, currency) m
    JOIN lc_kpi_people pe ON pe.profile = m.profile"""
COHORTS_SQL = "SELECT profile, cohort FROM lc_kpi_people WHERE cohort IS NOT NULL"
