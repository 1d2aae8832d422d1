"""Writing the ladder digest (`rules.digest`) next to the profile, by every writer of it.

- From facts in Python (`write_digests`): the event path, the sweep and the recompute
  (`plans.write_plans`) and the backfill's Python path, in the transaction that writes the
  profiles, one statement per batch.
- In SQL (`digests_from_sources_sql`) from a host's SELECTs: `fill_missing`, for profiles
  written before the digest existed (`lifecycle_digest`, the daily task); and from the
  orders the SQL evaluator already read (`write_digests_for_backfill`): the backfill's SQL
  path. The SQL states `digest_of` again; the differential test
  (tests/ladder/test_digest.py) holds the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from django.db import connection, transaction

from ..host import CustomerRef, Host
from ..models import CustomerProfile, LadderDigest
from ..rules import CustomerFacts
from ..rules.digest import DIGEST_VERSION, SENTINEL, LadderDigest as Digest, digest_of
from .bulk import bulk_cursor
from .deletion import apply_tombstones, deleted_at
from .sql_ladder_parts import FUNCTIONS, counted_any_payment_condition

DIGEST_TABLE = LadderDigest._meta.db_table
PROFILE_TABLE = CustomerProfile._meta.db_table
#: The digest's columns after profile_id and version, in the table's order.
_COLUMNS = ("has_account", "open_cart_lines", "moments", "paid_moments", "median_gap_us", "paid_median_gap_us",
            "spend_currencies", "spend_starts", "spend_moments", "spend_from", "paid_spend_from")


def _upsert(table: str, select: str, *, only_missing: bool = False) -> str:
    """INSERT ... `select` ON CONFLICT: the digest replaced when it differs from the stored one,
    or with `only_missing` only one of another version (a fill must not overwrite what an
    event wrote since it read the orders).

    Most events change nothing the digest holds (a checkout update, an order event repeated):
    comparing in the statement leaves such a row locked but not rewritten (no new row
    version, index entry or full-row WAL record), and `written_at` at the last change. The
    arrays compare element by element, the spend sums as numbers, which is what is stored:
    the column's numeric(38, 3) gives equal numbers one text."""
    if only_missing:
        keep = f"{table}.version <> EXCLUDED.version"
    else:
        stored = ", ".join(f"{table}.{name}" for name in ("version", *_COLUMNS))
        written = ", ".join(f"EXCLUDED.{name}" for name in ("version", *_COLUMNS))
        keep = f"({stored}) IS DISTINCT FROM ({written})"
    return f"""
    INSERT INTO {table} (profile_id, version, {", ".join(_COLUMNS)}, written_at)
    {select}
    ON CONFLICT (profile_id) DO UPDATE SET version = EXCLUDED.version,
        {", ".join(f"{name} = EXCLUDED.{name}" for name in _COLUMNS)}, written_at = EXCLUDED.written_at
        WHERE {keep}"""


# Arrays of arrays cannot be bound as one parameter when they are ragged: each ragged column
# goes as one text, the array literal of its rows' array literals (`_rows_literal`), cast to
# text[] and each row's element to its type in SQL. One text a column, not a list of 500
# texts: the driver dumps a list element by element in Python, the server parses a literal in C.
_SCALARS = (("profile_id", "bigint"), ("has_account", "boolean"), ("open_cart_lines", "integer"),
            ("median_gap_us", "bigint"), ("paid_median_gap_us", "bigint"))
_RAGGED = {"moments": "bigint[]", "paid_moments": "bigint[]", "spend_currencies": "text[]",
           "spend_starts": "integer[]", "spend_moments": "bigint[]", "spend_from": "numeric[]",
           "paid_spend_from": "numeric[]"}
_FROM_ROWS_SELECT = f"""
    SELECT v.profile_id, %(version)b, {", ".join(f"v.{n}::{_RAGGED[n]}" if n in _RAGGED else f"v.{n}" for n in _COLUMNS)},
           %(now)b
    FROM unnest({", ".join(f"%({n})b::{kind}[]" for n, kind in _SCALARS)},
                {", ".join(f"%({n})b::text[]" for n in _RAGGED)})
         AS v({", ".join(n for n, _ in _SCALARS)}, {", ".join(_RAGGED)})
    ORDER BY v.profile_id"""


def _quoted(text: str) -> str:
    """`text` as one element of an array literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rows_literal(rows: list[str]) -> str:
    """The text[] literal of the rows' array literals (each quoted: they hold braces and commas)."""
    return "{" + ",".join(map(_quoted, rows)) + "}"


def _numbers(values) -> str:
    """The array literal of integers or decimals (their text needs no quoting)."""
    return "{" + ",".join(map(str, values)) + "}"


def write_digests(digests: Sequence[tuple[int, Digest]], now: datetime, *, table: str = DIGEST_TABLE) -> None:
    """Each (profile id, digest), in one statement (a profile's digest replaced when it differs)."""
    if not digests:
        return
    scalars: dict[str, list] = {name: [] for name, _ in _SCALARS}
    ragged: dict[str, list[str]] = {name: [] for name in _RAGGED}
    for profile_id, digest in digests:
        scalars["profile_id"].append(profile_id)
        scalars["has_account"].append(digest.has_account)
        scalars["open_cart_lines"].append(digest.open_cart_lines)
        scalars["median_gap_us"].append(digest.median_gap_us)
        scalars["paid_median_gap_us"].append(digest.paid_median_gap_us)
        ragged["moments"].append(_numbers(digest.moments))
        ragged["paid_moments"].append(_numbers(digest.paid_moments))
        ragged["spend_currencies"].append("{" + ",".join(map(_quoted, digest.spend_currencies)) + "}")
        ragged["spend_starts"].append(_numbers(digest.spend_starts))
        ragged["spend_moments"].append(_numbers(digest.spend_moments))
        ragged["spend_from"].append(_numbers(digest.spend_from))
        ragged["paid_spend_from"].append(_numbers(digest.paid_spend_from))
    params = {"version": DIGEST_VERSION, "now": now, **scalars,
              **{name: _rows_literal(rows) for name, rows in ragged.items()}}
    with bulk_cursor(len(digests)) as cursor:
        cursor.execute(_upsert(table, _FROM_ROWS_SELECT), params)


def digests_from_sources_sql(customers_sql: str, orders_sql: str, targets: str, *, table: str = DIGEST_TABLE,
                             only_missing: bool = False) -> str:
    """The upsert of the digests of `targets` (a table or SELECT of ``customer``, the key of
    the host's SELECTs, and ``profile_id``) from the host's rows: `digest_of` in SQL.
    Binds %(version)s and %(now)s besides the host's parameters; needs the session's
    `sql_ladder_parts.FUNCTIONS`."""
    # The host's rows materialized first (in `_digests_sql`): their customer key is an
    # expression (ownership rules), which the planner cannot hash-join on and estimates
    # badly.
    return _digests_sql(customers_sql, f"""
        SELECT o.customer, (extract(epoch FROM o.placed_at) * 1000000)::bigint AS us, o.currency,
               GREATEST(o.total - o.refunded, 0) AS net, o.paid
        FROM ({orders_sql}) AS o
        WHERE {counted_any_payment_condition()}""", targets, table=table,
                        only_missing=only_missing, materialize=True)


def _digests_sql(customers_sql: str, counted_sql: str, targets: str, *, table: str, only_missing: bool,
                 materialize: bool) -> str:
    """The digest upsert over `counted_sql`: every order that counts whether or not it is
    paid (customer, us: its moment in µs since the epoch, currency, net, paid). With
    `materialize` the inputs are computed once first (a host's SELECTs); tables are read
    as they are."""
    return _upsert(table, _digests_select(customers_sql, counted_sql, targets, materialize=materialize),
                   only_missing=only_missing)


def _digests_select(customers_sql: str, counted_sql: str, targets: str, *, materialize: bool) -> str:
    """The digest rows of `_digests_sql`, each column named as the digest table's."""
    once = "MATERIALIZED" if materialize else "NOT MATERIALIZED"
    return f"""
    WITH targets AS {once} (SELECT customer, profile_id FROM ({targets}) AS t),
    host_orders AS {once} (SELECT customer, us, currency, net, paid FROM ({counted_sql}) AS o),
    host_customers AS {once} (SELECT customer, has_account, open_cart_lines FROM ({customers_sql}) AS c),
    counted AS (
        SELECT t.profile_id, o.us, o.currency, o.net, o.paid
        FROM host_orders o JOIN targets t ON t.customer = o.customer),
    -- The gaps between paid orders in the same pass: a paid order's gap is to the latest
    -- paid order before it (0 to one at the same moment, as between consecutive orders).
    rhythm AS (
        SELECT profile_id, array_agg(us ORDER BY us) AS moments,
               array_agg(us ORDER BY us) FILTER (WHERE paid) AS paid_moments,
               array_agg(gap ORDER BY gap) FILTER (WHERE gap IS NOT NULL) AS gaps,
               array_agg(paid_gap ORDER BY paid_gap) FILTER (WHERE paid AND paid_gap IS NOT NULL) AS paid_gaps
        FROM (SELECT *, us - lag(us) OVER w AS gap,
                     us - max(us) FILTER (WHERE paid) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                         AS paid_gap
              FROM counted WINDOW w AS (PARTITION BY profile_id ORDER BY us)) AS g
        GROUP BY profile_id),
    -- The spend from each moment on counts the orders of that moment too (RANGE), so ties
    -- read the same whatever their order. One sort: positions are counted from the latest
    -- order of each currency back, after the orders of the currencies before it.
    ordered AS (
        SELECT profile_id, currency, us,
               sum(net) OVER w AS spend_from,
               sum(CASE WHEN paid THEN net ELSE 0 END) OVER w AS paid_spend_from,
               row_number() OVER w AS from_last,
               count(*) OVER (PARTITION BY profile_id ORDER BY currency) AS through,
               dense_rank() OVER (PARTITION BY profile_id ORDER BY currency) AS currency_number
        FROM counted
        WINDOW w AS (PARTITION BY profile_id, currency ORDER BY us DESC RANGE UNBOUNDED PRECEDING)),
    -- Each currency's orders then its sentinel (the latest order's row, once more), each
    -- position shifted by the sentinels of the currencies before.
    spend AS (
        SELECT o.profile_id, o.currency, s.sentinel,
               CASE WHEN s.sentinel THEN {SENTINEL}::bigint ELSE o.us END AS us,
               CASE WHEN s.sentinel THEN 0 ELSE o.spend_from END AS spend_from,
               CASE WHEN s.sentinel THEN 0 ELSE o.paid_spend_from END AS paid_spend_from,
               o.through + o.currency_number - CASE WHEN s.sentinel THEN 0 ELSE o.from_last END AS position
        FROM ordered o CROSS JOIN LATERAL (VALUES (false), (true)) AS s(sentinel)
        WHERE NOT s.sentinel OR o.from_last = 1),
    spends AS (
        SELECT profile_id,
               array_agg(currency ORDER BY position) FILTER (WHERE sentinel) AS currencies,
               array_agg(us ORDER BY position) AS moments,
               array_agg(spend_from ORDER BY position) AS spend_from,
               array_agg(paid_spend_from ORDER BY position) AS paid_spend_from,
               array_agg(position + 1 ORDER BY position) FILTER (WHERE sentinel) AS ends
        FROM spend GROUP BY profile_id)
    SELECT t.profile_id, %(version)s AS version, c.has_account, c.open_cart_lines,
           COALESCE(r.moments, '{{}}') AS moments, COALESCE(r.paid_moments, '{{}}') AS paid_moments,
           {_median("r.gaps")} AS median_gap_us, {_median("r.paid_gaps")} AS paid_median_gap_us,
           COALESCE(s.currencies, '{{}}') AS spend_currencies, ARRAY[1] || COALESCE(s.ends, '{{}}') AS spend_starts,
           COALESCE(s.moments, '{{}}') AS spend_moments, COALESCE(s.spend_from, '{{}}') AS spend_from,
           COALESCE(s.paid_spend_from, '{{}}') AS paid_spend_from, %(now)s AS written_at
    FROM targets t JOIN host_customers c ON c.customer = t.customer
    LEFT JOIN rhythm r ON r.profile_id = t.profile_id
    LEFT JOIN spends s ON s.profile_id = t.profile_id
    ORDER BY t.profile_id"""


def _median(gaps: str) -> str:
    """`rules.digest.median_gap_us` over a sorted array of gaps (NULL: none)."""
    count = f"cardinality({gaps})"
    return (f"CASE WHEN {gaps} IS NULL THEN NULL WHEN mod({count}, 2) = 1 THEN {gaps}[({count} + 1) / 2] "
            f"ELSE pg_temp.lc_ladder_half({gaps}[{count} / 2] + {gaps}[{count} / 2 + 1]) END")


def write_digests_by_email(emails: set[str], facts: Mapping[CustomerRef, CustomerFacts], now: datetime) -> None:
    """The digests of the profiles of `emails` (just written by the backfill's Python path)
    from the facts they were decided from."""
    by_email = {ref.email: customer_facts for ref, customer_facts in facts.items() if ref.email in emails}
    if not by_email:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, email FROM {PROFILE_TABLE} WHERE email = ANY(%s)", [sorted(by_email)])
        written = cursor.fetchall()
    write_digests([(profile_id, digest_of(by_email[email])) for profile_id, email in written], now)


_EVALUATED_CUSTOMERS = "SELECT cid AS customer, has_account, open_cart_lines FROM lc_ladder_customers"
_EVALUATED_ORDERS = "SELECT cid AS customer, us, currency, net, paid FROM lc_ladder_counted"


def write_digests_for_backfill(cursor, now: datetime, *, computed: bool = False) -> None:
    """The SQL backfill's new profiles (lc_backfill_new: cid, id) from the orders and
    customers the evaluator read already (lc_ladder_counted, lc_ladder_customers), joined
    on the evaluator's integer customer numbers; or, `computed`, copied from
    lc_ladder_digests (`evaluated_digests_select`, keyed by cid)."""
    if computed:
        cursor.execute(_upsert(DIGEST_TABLE, f"""
            SELECT n.id, d.version, {", ".join(f"d.{name}" for name in _COLUMNS)}, d.written_at
            FROM lc_ladder_digests d JOIN lc_backfill_new n ON n.cid = d.profile_id ORDER BY n.id"""))
        return
    cursor.execute(_digests_sql(_EVALUATED_CUSTOMERS, _EVALUATED_ORDERS,
                                "SELECT cid AS customer, id AS profile_id FROM lc_backfill_new",
                                table=DIGEST_TABLE, only_missing=False, materialize=False),
                   {"version": DIGEST_VERSION, "now": now})


def evaluated_digests_select() -> tuple[str, dict]:
    """The digest of every customer the evaluator read (lc_ladder_customers), keyed by cid in
    `profile_id`, and its parameters beyond `now`: what a shard of the backfill computes
    (`sql_ladder_shards`) before the profiles' ids exist."""
    return (_digests_select(_EVALUATED_CUSTOMERS, _EVALUATED_ORDERS,
                            "SELECT cid AS customer, cid AS profile_id FROM lc_ladder_customers", materialize=False),
            {"version": DIGEST_VERSION})


def missing_count() -> int:
    """Profiles without a digest of the current version."""
    with connection.cursor() as cursor:
        cursor.execute(f"""SELECT count(*) FROM {PROFILE_TABLE} p
                           WHERE NOT EXISTS (SELECT 1 FROM {DIGEST_TABLE} d
                                             WHERE d.profile_id = p.id AND d.version = %s)""", [DIGEST_VERSION])
        return cursor.fetchone()[0]


def fill_missing(host: Host, now: datetime, chunk_size: int = 5000) -> int:
    """Write the digest of every profile without one of the current version (profiles from
    before the digest existed), `chunk_size` profiles a statement: in SQL over the host's
    rows when it offers them, in Python for the rest (no SQL, a deleted customer's tombstone,
    a customer the host no longer lists). How many were written."""
    written, after = 0, 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(f"""SELECT p.id, p.email, p.user_id FROM {PROFILE_TABLE} p
                               WHERE p.id > %s AND NOT EXISTS (SELECT 1 FROM {DIGEST_TABLE} d
                                     WHERE d.profile_id = p.id AND d.version = %s)
                               ORDER BY p.id LIMIT %s""", [after, DIGEST_VERSION, chunk_size])
            chunk = cursor.fetchall()
        if not chunk:
            return written
        after = chunk[-1][0]
        written += _fill_chunk(host, chunk, now)


def _fill_chunk(host: Host, chunk: list[tuple], now: datetime) -> int:
    ids = {email: profile_id for profile_id, email, _ in chunk}
    refs = {email: CustomerRef(email, user_id) for _, email, user_id in chunk}
    tombstoned = set(deleted_at({email: [(email, ref.user_id)] for email, ref in refs.items()}))
    in_sql = [refs[email] for email in refs if email not in tombstoned]
    done: set[str] = set()
    with transaction.atomic(), connection.cursor() as cursor:
        if in_sql and getattr(host, "ladder_sources", None) is not None:
            sources = host.ladder_sources(customers=in_sql)
            for statement in FUNCTIONS:
                cursor.execute(statement)
            cursor.execute(digests_from_sources_sql(
                sources.customers_sql, sources.orders_sql,
                "SELECT customer, profile_id FROM unnest(%(lc_digest_emails)s::text[], %(lc_digest_ids)s::bigint[])"
                " AS t(customer, profile_id)", only_missing=True),
                {**dict(sources.params), "lc_digest_emails": [r.email for r in in_sql],
                 "lc_digest_ids": [ids[r.email] for r in in_sql], "version": DIGEST_VERSION, "now": now})
            cursor.execute(f"SELECT p.email FROM {DIGEST_TABLE} d JOIN {PROFILE_TABLE} p ON p.id = d.profile_id "
                           f"WHERE d.profile_id = ANY(%s) AND d.version = %s", [list(ids.values()), DIGEST_VERSION])
            done = {email for (email,) in cursor.fetchall()}
        rest = [refs[email] for email in refs if email not in done]
        if rest:
            facts = apply_tombstones(host.read_facts(rest))
            write_digests([(ids[ref.email], digest_of(facts[ref])) for ref in rest], now)
    return len(chunk)
