"""The prediction's counted orders read in one pass over the host's orders SELECT.

`Host.ladder_sources` gives the store's customers and orders as two SELECTs (the SQL
ladder reads the same ones). Here PostgreSQL keeps the counted orders of customers with
a profile (`sql_ladder_parts.counted_condition`, the ladder's own rule), joins each to
its profile id, adds up a currency's orders placed at the same moment (as every reader
does, `prediction_orders`) and sorts them by profile, moment and currency; then it packs them, a group of
profiles per row, into one binary string of fixed-width big-endian fields, which numpy
reads straight into the preallocated columns. No Python object per order is made, and
the orders are held once, in the four arrays the models take.

A customer deleted once (a tombstone) keeps only the orders placed after the deletion,
as `deletion.apply_tombstones` does for facts. Tombstones are keyed hashes, so they are
matched in Python, page by page, and only when the store has any.
"""

from __future__ import annotations

from django.db import connection, transaction

from ..models import CustomerProfile, DeletedCustomer
from ..rules.config import LifecycleConfig
from .deletion import deleted_at
from .prediction_orders import MAX_CURRENCIES, OrderArrays
from .sql_ladder_parts import counted_condition

#: Profiles per packed row: about 100 orders each at 5 per customer, a couple of MB.
PROFILES_PER_ROW = 20_000
#: Customers whose tombstones are looked up per query.
TOMBSTONE_PAGE = 5_000

#: The packed row's fields, in `int8send || int4send || float8send || int2send` order.
_PACKED = [("profile", ">i8"), ("day", ">i4"), ("amount", ">f8"), ("currency", ">i2")]

_DROP = "DROP TABLE IF EXISTS lc_predict_orders, lc_predict_profiled"

#: date.toordinal() of a UTC day: days since 0001-01-01, which is day 1.
_ORDINAL_DAY = "((o.placed_at AT TIME ZONE 'UTC')::date - DATE '0001-01-01' + 1)"


def why_not_in_sql(engine) -> str | None:
    """Why the orders cannot be read here for `engine` (None: they can). Hooks do not
    matter: `lifecycle_collect_facts` adds extra facts, never orders, and `classify`
    changes decisions, not what was bought."""
    if getattr(engine.host, "ladder_sources", None) is None:
        return f"the {engine.host.name} host offers no SQL (Host.ladder_sources)"
    return None


def read_counted_orders_in_sql(sources, config: LifecycleConfig, now) -> OrderArrays:
    """Every profiled customer's counted orders placed up to `now`, as `OrderArrays`
    (sorted by profile id, then moment and currency). `sources` is the host's `LadderSources`."""
    import numpy as np

    params = {**sources.params, "lc_now": now}
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            # (ON COMMIT DROP does not fire inside an outer transaction, as in tests.)
            cursor.execute(_DROP)
            cursor.execute(f"""
                CREATE TEMP TABLE lc_predict_orders ON COMMIT DROP AS
                SELECT c.customer, c.user_id, o.placed_at, {_ORDINAL_DAY} AS day, o.currency,
                       GREATEST(o.total - o.refunded, 0) AS amount
                FROM ({sources.orders_sql}) AS o JOIN ({sources.customers_sql}) AS c ON c.customer = o.customer
                WHERE {counted_condition(config)} AND o.placed_at <= %(lc_now)s""", params)
            if DeletedCustomer.objects.exists():
                drop_orders_before_deletion(cursor)
            cursor.execute(f"""
                CREATE TEMP TABLE lc_predict_profiled ON COMMIT DROP AS
                SELECT p.id AS profile, o.placed_at, min(o.day) AS day, sum(o.amount)::float8 AS amount, o.currency
                FROM lc_predict_orders o JOIN {CustomerProfile._meta.db_table} p ON p.email = o.customer
                GROUP BY p.id, o.placed_at, o.currency""")
            cursor.execute("""
                SELECT (SELECT count(DISTINCT customer) FROM lc_predict_orders),
                       (SELECT count(*) FROM lc_predict_profiled),
                       (SELECT count(*) FROM (SELECT 1 FROM lc_predict_profiled GROUP BY profile) AS x),
                       (SELECT count(*) FROM (SELECT 1 FROM lc_predict_profiled GROUP BY profile
                                              HAVING count(DISTINCT day) > 1) AS x)""")
            buyers, order_count, customers, repeat_buyers = cursor.fetchone()
            cursor.execute("SELECT currency FROM lc_predict_profiled GROUP BY currency ORDER BY count(*) DESC, currency")
            ranked = [code for (code,) in cursor.fetchall()]
            currencies, skipped = ranked[:MAX_CURRENCIES], sorted(ranked[MAX_CURRENCIES:])
            if skipped:
                cursor.execute("DELETE FROM lc_predict_profiled WHERE currency = ANY(%s)", [skipped])
                order_count -= cursor.rowcount
            columns = {name: np.empty(order_count, dtype=kind)
                       for name, kind in (("profile", np.int64), ("day", np.int32),
                                          ("amount", np.float64), ("currency", np.int8))}
        # A server-side cursor: one packed row in memory at a time, beside the columns.
        with connection.chunked_cursor() as packed_rows:
            packed_rows.execute(f"""
                SELECT string_agg(int8send(profile) || int4send(day) || float8send(amount)
                                  || int2send((array_position(%s::text[], currency) - 1)::int2),
                                  ''::bytea ORDER BY profile, placed_at, currency COLLATE "C")
                FROM lc_predict_profiled GROUP BY profile / {PROFILES_PER_ROW} ORDER BY profile / {PROFILES_PER_ROW}""",
                                [currencies])
            _unpack_into(columns, packed_rows, np.dtype(_PACKED))
        with connection.cursor() as cursor:
            cursor.execute(_DROP)
    return OrderArrays(**columns, currencies=tuple(currencies), customers=customers,
                       repeat_buyers=repeat_buyers, unprofiled=buyers - customers, skipped_currencies=skipped)


def _unpack_into(columns: dict, cursor, packed) -> None:
    """Copy each packed row's fields into the columns (numpy converts the byte order)."""
    import numpy as np

    filled = 0
    while row := cursor.fetchone():
        group = np.frombuffer(row[0], dtype=packed)
        end = filled + len(group)
        for name in columns:
            columns[name][filled:end] = group[name]
        filled = end
    if filled != len(columns["profile"]):
        raise RuntimeError(f"read {filled} counted orders, expected {len(columns['profile'])}")


def drop_orders_before_deletion(cursor, table: str = "lc_predict_orders") -> None:
    """Orders of a deleted customer placed up to the deletion do not count again.

    `table` is a temporary table with the columns customer, user_id and placed_at (the
    owner's KPIs use this too, `engine.kpi_orders`)."""
    deletions: dict[str, object] = {}
    last = ""
    while True:
        cursor.execute(f"""SELECT DISTINCT customer, user_id FROM {table} WHERE customer > %s
                          ORDER BY customer LIMIT %s""", [last, TOMBSTONE_PAGE])
        page = cursor.fetchall()
        if not page:
            break
        deletions.update(deleted_at({customer: [(customer, user_id)] for customer, user_id in page}))
        last = page[-1][0]
    if deletions:
        cursor.execute(f"""
            DELETE FROM {table} o USING unnest(%s::text[], %s::timestamptz[]) AS d(customer, at)
            WHERE o.customer = d.customer AND o.placed_at <= d.at""",
                       [list(deletions), list(deletions.values())])
