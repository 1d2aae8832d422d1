"""The prediction's counted orders read from the ladder digests (`rules.digest`), not from
the host's orders.

Every writer of a profile writes its digest from the facts it decided on, so the digests
hold exactly the orders the profiles were decided from, without the host's ownership
rules (guest orders by e-mail, unconfirmed accounts) that make its orders SELECT slow at a
million customers. Each currency's slice of a digest lists the moments of its counted
orders (placed, not fully refunded) ascending, with the spend from each moment on: an
order's net amount is the difference of neighbours. Orders of one currency placed at the
same microsecond share one entry (their summed amount); the models add up a day's orders
anyway, and the other readers (`prediction_orders_sql`, `prediction_orders`) group them
the same way, so all three give equal arrays (tests/sandbox/test_prediction_digests.py).

"Paid only" (`count_only_paid`): a group's paid spend is the difference of
`paid_spend_from` (unpaid orders add 0), and a group counts when that is positive or
when its moment is among `paid_moments` (a paid order of amount 0). That moment test
cannot tell which currency a paid order of amount 0 belongs to when another currency has
an order at the very same microsecond; such profiles (none in a real store, in practice)
are read through the host instead, so the arrays stay exact.

Profiles without a digest of the current version (written before it existed) are filled
first (`digest_writes.fill_missing`), so every profile is read here.
"""

from __future__ import annotations

from django.db import connection, transaction

from ..host import CustomerRef
from ..models import CustomerProfile, LadderDigest
from ..rules.digest import DIGEST_VERSION, SENTINEL, epoch_us
from .digest_writes import fill_missing
from .prediction_orders import MAX_CURRENCIES, OrderArrays, join_columns, read_counted_orders_through_facts
from .prediction_orders_sql import read_counted_orders_in_sql, why_not_in_sql

#: Digests read per statement: about 100,000 orders at 5 per customer, a couple of MB.
PROFILES_PER_PAGE = 20_000
#: date.toordinal() of 1970-01-01, the digest moments' epoch.
EPOCH_ORDINAL = 719_163
US_PER_DAY = 86_400_000_000

DIGEST_TABLE = LadderDigest._meta.db_table
PROFILE_TABLE = CustomerProfile._meta.db_table

#: The packed entry: profile id, moment (µs since the epoch), net amount, and the
#: currency's 1-based position in the page's own list of currencies.
_PACKED = [("profile", ">i8"), ("us", ">i8"), ("amount", ">f8"), ("currency", ">i2")]


def _page_sql(paid_only: bool) -> str:
    # Orders at one moment share their spend-from value: the last of them (the next
    # moment differs; a currency's last order is followed by its sentinel) stands for the
    # group, and the difference to the next moment's value is the group's amount. Each
    # entry's currency is the bucket of its position among the slices' starts.
    # Amounts are subtracted in numeric, then made float8: exactly what the host reading
    # gives for the same group of orders.
    spend, present = ("s.paid_from", "(s.paid_from > s.paid_next OR s.us = ANY(d.paid_moments))") if paid_only \
        else ("s.spend_from", "true")
    return f"""
    WITH page AS MATERIALIZED (
        SELECT * FROM {DIGEST_TABLE}
        WHERE profile_id > %(after)s AND version = %(version)s ORDER BY profile_id LIMIT %(limit)s),
    entries AS MATERIALIZED (
        SELECT d.profile_id AS profile, s.us,
               d.spend_currencies[width_bucket(s.position::int, d.spend_starts)] AS code,
               ({spend} - {spend.replace("_from", "_next")})::float8 AS amount
        FROM page d CROSS JOIN LATERAL unnest(d.spend_moments, d.spend_moments[2:], d.spend_from, d.spend_from[2:],
                                              d.paid_spend_from, d.paid_spend_from[2:])
             WITH ORDINALITY AS s(us, next_us, spend_from, spend_next, paid_from, paid_next, position)
        WHERE s.us <> {SENTINEL} AND s.us <= %(now_us)s AND s.us <> s.next_us AND {present}
          AND d.profile_id <> ALL(%(through_host)s::bigint[])),
    codes AS (SELECT array_agg(DISTINCT code ORDER BY code) AS codes FROM entries)
    SELECT (SELECT max(profile_id) FROM page), (SELECT codes FROM codes),
           (SELECT string_agg(int8send(e.profile) || int8send(e.us) || float8send(e.amount)
                              || int2send(array_position(codes.codes, e.code)::int2),
                              ''::bytea ORDER BY e.profile, e.us, e.code COLLATE "C")
            FROM entries e, codes)"""


#: Profiles whose paid-only reading the digest cannot settle (see the module's docstring):
#: a zero paid difference at a paid moment that another currency's slice shares.
_UNSETTLED_SQL = f"""
    SELECT d.profile_id FROM {DIGEST_TABLE} d
    WHERE d.version = %(version)s AND cardinality(d.spend_currencies) > 1
      AND EXISTS (
        SELECT 1 FROM unnest(d.spend_moments, d.spend_moments[2:], d.paid_spend_from, d.paid_spend_from[2:])
                      WITH ORDINALITY AS s(us, next_us, paid_from, paid_next, position)
        WHERE s.us <> {SENTINEL} AND s.us <> s.next_us AND s.paid_from = s.paid_next
          AND s.us = ANY(d.paid_moments)
          AND EXISTS (SELECT 1 FROM unnest(d.spend_moments) WITH ORDINALITY AS o(us, position)
                      WHERE o.us = s.us AND width_bucket(o.position::int, d.spend_starts)
                                            <> width_bucket(s.position::int, d.spend_starts)))
    ORDER BY d.profile_id"""


def read_counted_orders_from_digests(engine, chunk_size: int = 2000) -> OrderArrays:
    """Every profile's counted orders placed up to the engine's now, as `OrderArrays`
    (sorted by profile id, then moment and currency; one entry per currency and moment)."""
    import numpy as np

    config, now = engine.config, engine.clock()
    fill_missing(engine.host, now)
    paid_only = config.count_only_paid
    through_host: list[int] = []
    if paid_only:
        with connection.cursor() as cursor:
            cursor.execute(_UNSETTLED_SQL, {"version": DIGEST_VERSION})
            through_host = [profile_id for (profile_id,) in cursor.fetchall()]

    parts: dict[str, list] = {"profile": [], "day": [], "amount": [], "currency": []}
    names: dict[str, int] = {}  # currency code -> global index (int16 until ranked)
    statement, packed, after = _page_sql(paid_only), np.dtype(_PACKED), 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        while True:
            cursor.execute(statement, {"after": after, "version": DIGEST_VERSION, "limit": PROFILES_PER_PAGE,
                                       "now_us": epoch_us(now), "through_host": through_host})
            last, codes, data = cursor.fetchone()
            if last is None:
                break
            after = last
            if data is None:
                continue
            page = np.frombuffer(data, dtype=packed)
            del data
            # Page-local currency positions (1-based) -> the run's own indexes.
            local = np.array([0] + [names.setdefault(code, len(names)) for code in codes], dtype=np.int16)
            parts["profile"].append(page["profile"].astype(np.int64))
            parts["day"].append((page["us"] // US_PER_DAY + EPOCH_ORDINAL).astype(np.int32))
            parts["amount"].append(page["amount"].astype(np.float64))
            parts["currency"].append(local[page["currency"]])
            del page
    if through_host:
        _add_through_host(engine, through_host, parts, names)
    return _arrays(np, parts, names, sort=bool(through_host))


def _add_through_host(engine, profile_ids: list[int], parts: dict, names: dict) -> None:
    """The unsettled profiles' orders, read through the host: in SQL where it offers it."""
    import numpy as np

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT email, user_id FROM {PROFILE_TABLE} WHERE id = ANY(%s) ORDER BY id", [profile_ids])
        refs = [CustomerRef(email, user_id) for email, user_id in cursor.fetchall()]
    if why_not_in_sql(engine) is None:
        read = read_counted_orders_in_sql(engine.host.ladder_sources(customers=refs), engine.config, engine.clock())
    else:
        read = read_counted_orders_through_facts(engine, chunks=[refs])
    index = np.array([names.setdefault(code, len(names)) for code in read.currencies] or [0], dtype=np.int16)
    parts["profile"].append(read.profile)
    parts["day"].append(read.day)
    parts["amount"].append(read.amount)
    parts["currency"].append(index[read.currency])


def _arrays(np, parts: dict, names: dict, sort: bool) -> OrderArrays:
    """Join the pages (`join_columns`; sorted when the host's profiles came last), keep the
    MAX_CURRENCIES currencies with the most entries (as the host reading does), and count
    the customers and repeat buyers."""
    columns = join_columns(parts, {"profile": np.int64, "day": np.int32, "amount": np.float64,
                                   "currency": np.int16}, sort=sort)
    by_name = sorted(names, key=names.get)
    counts = np.bincount(columns["currency"], minlength=len(by_name)) if len(by_name) else np.zeros(0, np.int64)
    ranked = sorted(range(len(by_name)), key=lambda index: (-counts[index], by_name[index]))
    kept, skipped = ranked[:MAX_CURRENCIES], sorted(by_name[index] for index in ranked[MAX_CURRENCIES:])
    if skipped:
        keep = np.isin(columns["currency"], kept)
        for name in columns:
            columns[name] = columns[name][keep]
        del keep
    renumber = np.zeros(max(len(by_name), 1), dtype=np.int8)
    renumber[kept] = np.arange(len(kept), dtype=np.int8)
    columns["currency"] = renumber[columns["currency"]]
    customers, repeat_buyers = _buyers(np, columns["profile"], columns["day"])
    return OrderArrays(**columns, currencies=tuple(by_name[index] for index in kept), customers=customers,
                       repeat_buyers=repeat_buyers, unprofiled=None, skipped_currencies=skipped)


def _buyers(np, profile, day) -> tuple[int, int]:
    """Profiles with an entry, and of those with entries on two or more days."""
    if not len(profile):
        return 0, 0
    first = np.flatnonzero(np.concatenate(([True], profile[1:] != profile[:-1])))
    new_day = np.concatenate(([True], day[1:] != day[:-1]))
    new_day[first] = True
    days = np.add.reduceat(new_day, first, dtype=np.int64)
    return len(first), int((days > 1).sum())
