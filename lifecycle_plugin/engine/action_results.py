"""What each action did in a period: sent, held back and why, failed, and who converted.

Read-only, set-based: one query over the action ledger for the counts, one for the
conversions, joining the messages to the host's counted orders (`Host.ladder_sources`,
the SELECTs the SQL ladder reads), so it runs the same on Saleor and the sandbox and
costs two queries, whatever the number of customers. No list of actions: every action
in the ledger has its row, the built-in ones and any a plugin adds. What the figures
mean is in docs/actions.md ("Action results"); `lifecycleActionResults` is meant to
serve `action_results` unchanged.

Per action, over the ledger entries of the period (an entry belongs to it by when it
finished, ``completed_at``; one still open, by when it was recorded), for the whole period
and for each ISO week (Monday 00:00 UTC) of it that has entries, an entry counting in the
week it belongs to:

- **sent**: messages that went out (entries done with a delivery result: ``sent_at``
  or ``delivered_by``); **customers**: the distinct customers they went to;
- **vouchers issued**: its ``<action>_voucher`` entries done (counted on the action);
  **vouchers redeemed**: those whose code a counted order redeemed (``voucher_code``);
- **held back**, by reason, from the skip reason the ledger keeps: *held out* (the stable
  holdout, `actions.holdout`), *consent* (no
  marketing consent), *opted out* (unsubscribed, or no consent while an opt-out was on
  record), *frequency cap*, *quiet hours* (still pending, waiting for the quiet hours to
  end; ``sent_after_quiet_hours`` counts those that went out later), *other* (any other
  skip: nothing to offer, the template failed, no plugin carries the action out);
- **failed** (to be retried), **unsure** (may or may not have gone out), **pending**
  (waiting to run), **recorded** (done without a message: bookkeeping such as
  ``winback_order``);
- **converted**: customers sent a message who placed a counted order after it and no
  later than the end of its attribution window: the voucher's validity when the message
  announced one, else `window_days` (default 7). A customer counts once; **orders** and
  **revenue** (net of refunds, per currency, never summed across currencies) count each
  attributed order once, however many of the action's messages it follows;
- **lift**: the same conversion for the held-out customers (their window starts when the
  message would have gone out, the moment the held-out entry finished, and is as long as
  the sent message's: the voucher's validity when one would have been issued, else
  `window_days`), the number of customers in each group, and the difference and ratio of
  the two rates (None when a group is empty, or, for the ratio, when nobody held out
  converted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from django.db import connection

from ..models import ActionLedgerEntry, CustomerProfile, MarketingOptOut
from .sql_ladder_parts import counted_condition

#: The attribution window of a message that announces no voucher.
DEFAULT_WINDOW_DAYS = 7
MAX_WINDOW_DAYS = 365
#: The skip reasons the held-back figures read (the actions write them: `offers`,
#: `pacing`, `unsubscribe` import these, so the two cannot drift apart).
NO_CONSENT_REASON = "no marketing consent"
UNSUBSCRIBED_REASON = "the customer unsubscribed"
FREQUENCY_CAP_PREFIX = "frequency cap"
#: A message (and its voucher) skipped because the customer is in the action's holdout.
HOLDOUT_REASON = "held out"
#: The engine's own once-only marks (`plans.once_only_key`: each counted order's hooks fire
#: once) live in the ledger too; they are no action's.
ENGINE_MARK_PREFIX = "event:"
#: A voucher entry is ``<action>_voucher`` with ``for_action`` in its payload (`offers`).
VOUCHER_SUFFIX = "_voucher"


@dataclass(frozen=True)
class HeldBack:
    """Messages not sent, by why (each message entry counts under one reason)."""

    consent: int = 0
    opted_out: int = 0
    frequency_cap: int = 0
    quiet_hours: int = 0
    other: int = 0
    held_out: int = 0

    @property
    def total(self) -> int:
        return self.consent + self.opted_out + self.frequency_cap + self.quiet_hours + self.other + self.held_out


def _rate(converted: int, customers: int) -> float | None:
    return converted / customers if customers else None


@dataclass(frozen=True)
class Lift:
    """Conversion of the customers sent the action (treated) against those held out of it."""

    treated_customers: int
    treated_converted: int
    holdout_customers: int
    holdout_converted: int

    @property
    def treated_rate(self) -> float | None:
        return _rate(self.treated_converted, self.treated_customers)

    @property
    def holdout_rate(self) -> float | None:
        return _rate(self.holdout_converted, self.holdout_customers)

    @property
    def difference(self) -> float | None:
        """treated rate − holdout rate (a fraction: 0.05 is five points); None when a group is empty."""
        if self.treated_rate is None or self.holdout_rate is None:
            return None
        return self.treated_rate - self.holdout_rate

    @property
    def ratio(self) -> float | None:
        """treated rate ÷ holdout rate; None when a group is empty or nobody held out converted."""
        if self.treated_rate is None or not self.holdout_rate:
            return None
        return self.treated_rate / self.holdout_rate


@dataclass(frozen=True)
class ActionResult:
    action: str
    #: The Monday (UTC) of the ISO week these figures are for; None for the whole period.
    week: date | None = None
    sent: int = 0
    customers: int = 0
    vouchers_issued: int = 0
    #: Customers with a held-out message (the holdout group; `Lift.holdout_customers`).
    held_out_customers: int = 0
    held_back: HeldBack = field(default_factory=HeldBack)
    sent_after_quiet_hours: int = 0
    failed: int = 0
    unsure: int = 0
    pending: int = 0
    recorded: int = 0
    #: None when the host offers no SQL over its orders (see `ActionResults.conversions_unavailable`).
    converted: int | None = None
    orders: int | None = None
    revenue: Mapping[str, Decimal] | None = None
    vouchers_redeemed: int | None = None
    #: Held-out customers who ordered within their window (None without conversions).
    held_out_converted: int | None = None
    #: The period's figures per ISO week, oldest first (empty on a week's own figures).
    weeks: tuple[ActionResult, ...] = ()

    @property
    def conversion_rate(self) -> float | None:
        """Converted customers per customer sent a message; None when nobody was sent one."""
        if self.converted is None:
            return None
        return _rate(self.converted, self.customers)

    @property
    def iso_week(self) -> str | None:
        """``2026-W10`` for a week's figures, None for the whole period."""
        if self.week is None:
            return None
        year, number, _ = self.week.isocalendar()
        return f"{year}-W{number:02d}"

    @property
    def lift(self) -> Lift | None:
        """Treated against held out; None when conversions were not computed."""
        if self.converted is None or self.held_out_converted is None:
            return None
        return Lift(self.customers, self.converted, self.held_out_customers, self.held_out_converted)


@dataclass(frozen=True)
class ActionResults:
    since: datetime | None
    until: datetime | None
    window_days: int
    actions: tuple[ActionResult, ...]
    #: Why conversions were not computed (the host has no `ladder_sources`); empty when they were.
    conversions_unavailable: str = ""


def action_results(engine, *, since: datetime | None = None, until: datetime | None = None,
                   window_days: int = DEFAULT_WINDOW_DAYS) -> ActionResults:
    """Every action's results for entries of ``[since, until)`` (either end open when None).

    :param engine: a `LifecycleEngine`: its host's counted orders and the settings that
        say which orders count (``count_only_paid``).
    :param window_days: the attribution window of a message without a voucher (1 to 365).
    Raises ValueError for a period that ends before it starts or a window out of range.
    """
    _check(since, until, window_days)
    counts = _ledger_counts(since, until)
    sources = getattr(engine.host, "ladder_sources", None)
    unavailable = "" if sources is not None else (
        f"the {getattr(engine.host, 'name', '')} host offers no SQL over its orders (Host.ladder_sources)")
    conversions = _conversions(engine, sources(), since, until, window_days) if sources is not None else {}

    def result(action: str, week: date | None) -> ActionResult:
        row = counts[action, week]
        if not unavailable:
            row = {**row, **_NO_CONVERSIONS, **conversions.get((action, week), {})}
        return ActionResult(action=action, week=week, **row)

    actions = []
    for action in sorted({action for action, _ in counts}):
        weeks = sorted(week for kind, week in counts if kind == action and week is not None)
        actions.append(replace(result(action, None), weeks=tuple(result(action, week) for week in weeks)))
    return ActionResults(since, until, window_days, tuple(actions), unavailable)


#: The conversion figures of an action (or week) none of whose messages converted.
_NO_CONVERSIONS = {"converted": 0, "orders": 0, "revenue": {}, "vouchers_redeemed": 0, "held_out_converted": 0}


def _check(since, until, window_days) -> None:
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise ValueError(f"{name} must be an aware datetime (with a time zone), got {moment!r}")
    if since is not None and until is not None and until <= since:
        raise ValueError(f"the period must end after it starts: since {since.isoformat()}, until {until.isoformat()}")
    if isinstance(window_days, bool) or not isinstance(window_days, int) or not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise ValueError(f"the attribution window is a whole number of days from 1 to {MAX_WINDOW_DAYS}, "
                         f"got {window_days!r}")


def _entries_sql() -> str:
    """The ledger entries of the period, each with its action (a voucher's: the one it is for)."""
    return f"""
        SELECT e.id, e.profile_id, e.status, e.result, e.payload, e.completed_at,
               date_trunc('week', COALESCE(e.completed_at, e.created_at) AT TIME ZONE 'UTC')::date AS week,
               COALESCE(e.action = (e.payload->>'for_action') || '{VOUCHER_SUFFIX}', false) AS is_voucher,
               CASE WHEN e.action = (e.payload->>'for_action') || '{VOUCHER_SUFFIX}'
                    THEN e.payload->>'for_action' ELSE e.action END AS kind
        FROM {ActionLedgerEntry._meta.db_table} e
        WHERE NOT starts_with(e.action, '{ENGINE_MARK_PREFIX}')
          AND (%(lc_since)s::timestamptz IS NULL OR COALESCE(e.completed_at, e.created_at) >= %(lc_since)s)
          AND (%(lc_until)s::timestamptz IS NULL OR COALESCE(e.completed_at, e.created_at) < %(lc_until)s)"""


#: A message entry that went out (`offers.send_message` results carry both keys).
_SENT = "(m.status = 'done' AND (m.result->>'sent_at' IS NOT NULL OR m.result->>'delivered_by' IS NOT NULL))"
#: A message (or voucher) entry skipped because the customer is in the action's holdout.
_HELD_OUT = "(m.status = 'skipped' AND m.result->>'reason' = %(lc_held_out)s)"


def _ledger_counts(since, until) -> dict[str, dict]:
    skipped = "m.status = 'skipped'"
    reason = "m.result->>'reason'"
    opted_out = f"""({reason} = %(lc_unsubscribed)s OR ({reason} = %(lc_no_consent)s AND o.opted_out_at IS NOT NULL
                     AND o.opted_out_at <= m.completed_at))"""
    consent = f"({reason} = %(lc_no_consent)s AND NOT {opted_out})"
    cap = f"starts_with(COALESCE({reason}, ''), %(lc_cap)s)"
    sql = f"""
        SELECT m.kind, m.week, GROUPING(m.week),
               count(*) FILTER (WHERE NOT m.is_voucher AND {_SENT}),
               count(DISTINCT m.profile_id) FILTER (WHERE NOT m.is_voucher AND {_SENT}),
               count(*) FILTER (WHERE m.is_voucher AND m.status = 'done'),
               count(*) FILTER (WHERE NOT m.is_voucher AND {_HELD_OUT}),
               count(DISTINCT m.profile_id) FILTER (WHERE NOT m.is_voucher AND {_HELD_OUT}),
               count(*) FILTER (WHERE NOT m.is_voucher AND {skipped} AND {consent}),
               count(*) FILTER (WHERE NOT m.is_voucher AND {skipped} AND {opted_out}),
               count(*) FILTER (WHERE NOT m.is_voucher AND {skipped} AND {cap}),
               count(*) FILTER (WHERE NOT m.is_voucher AND m.status = 'pending' AND m.result->>'held' IS NOT NULL),
               count(*) FILTER (WHERE NOT m.is_voucher AND (m.status = 'cancelled' OR ({skipped}
                                AND NOT {consent} AND NOT {opted_out} AND NOT {cap} AND NOT {_HELD_OUT}))),
               count(*) FILTER (WHERE NOT m.is_voucher AND {_SENT} AND m.result->>'held' IS NOT NULL),
               count(*) FILTER (WHERE NOT m.is_voucher AND m.status = 'failed'),
               count(*) FILTER (WHERE NOT m.is_voucher AND m.status IN ('sending', 'uncertain')),
               count(*) FILTER (WHERE NOT m.is_voucher AND m.status = 'pending' AND m.result->>'held' IS NULL),
               count(*) FILTER (WHERE NOT m.is_voucher AND m.status = 'done' AND NOT {_SENT})
        FROM ({_entries_sql()}) AS m
        LEFT JOIN {MarketingOptOut._meta.db_table} o ON o.profile_id = m.profile_id
        GROUP BY GROUPING SETS ((m.kind), (m.kind, m.week))"""
    params = {"lc_since": since, "lc_until": until, "lc_no_consent": NO_CONSENT_REASON,
              "lc_unsubscribed": UNSUBSCRIBED_REASON, "lc_cap": FREQUENCY_CAP_PREFIX, "lc_held_out": HOLDOUT_REASON}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    counts = {}
    for (kind, week, whole_period, sent, customers, vouchers, held_out, held_out_customers, consent_, opted, capped,
         quiet, other, late, failed, unsure, pending, recorded) in rows:
        counts[kind, None if whole_period else week] = {
            "sent": sent, "customers": customers, "vouchers_issued": vouchers,
            "held_out_customers": held_out_customers,
            "held_back": HeldBack(consent=consent_, opted_out=opted, frequency_cap=capped, quiet_hours=quiet,
                                  other=other, held_out=held_out),
            "sent_after_quiet_hours": late, "failed": failed, "unsure": unsure, "pending": pending,
            "recorded": recorded,
        }
    return counts


def _conversions(engine, sources, since, until, window_days) -> dict[tuple[str, date | None], dict]:
    """(action, week or None for the period) → its conversion figures (`ActionResult` fields)."""
    sql = f"""
        WITH entries AS MATERIALIZED ({_entries_sql()}),
        messages AS (
            -- the messages sent, and those held out, each with its attribution window
            SELECT m.kind, m.week, p.email AS customer, m.completed_at AS sent_at, {_HELD_OUT} AS held_out,
                   m.completed_at + make_interval(days => %(lc_window_days)s) AS default_end,
                   CASE WHEN {_HELD_OUT}
                        THEN m.completed_at + make_interval(days => (v.payload->>'valid_days')::integer)
                        ELSE (v.result->>'valid_until')::timestamptz END AS voucher_end
            FROM entries AS m
            JOIN {CustomerProfile._meta.db_table} p ON p.id = m.profile_id
            -- the voucher it announced; a held-out message's, held out with it (its validity)
            LEFT JOIN {ActionLedgerEntry._meta.db_table} v
                   ON v.dedupe_key = m.payload->>'voucher_entry'
                  AND ((m.result->>'voucher_code' IS NOT NULL AND v.status = 'done')
                       OR ({_HELD_OUT} AND v.status = 'skipped' AND v.result->>'reason' = %(lc_held_out)s))
            WHERE NOT m.is_voucher AND ({_SENT} OR {_HELD_OUT})
        ), windows AS (
            SELECT kind, week, customer, sent_at, held_out, COALESCE(voucher_end, default_end) AS ends
            FROM messages
        ), counted AS MATERIALIZED (
            -- Only orders between the first message and the last window's end are read: the
            -- bounds reach the host's order table (an index on its order time, if it has one).
            -- numbered: an order in the windows of two of an action's messages counts once
            SELECT row_number() OVER () AS order_no, o.customer, o.placed_at, o.currency,
                   GREATEST(o.total - o.refunded, 0) AS net
            FROM ({sources.orders_sql}) AS o
            WHERE {counted_condition(engine.config)}
              AND o.placed_at > (SELECT min(sent_at) FROM windows) AND o.placed_at <= (SELECT max(ends) FROM windows)
        ), attributed AS (
            SELECT DISTINCT m.kind, m.week, m.held_out, o.order_no, o.customer, o.currency, o.net
            FROM counted o JOIN windows m ON m.customer = o.customer
                                         AND o.placed_at > m.sent_at AND o.placed_at <= m.ends
        ), treated AS (
            -- an order counts once in the period, and once in each week it converted for
            SELECT DISTINCT kind, NULL::date AS week, order_no, customer, currency, net
            FROM attributed WHERE NOT held_out
            UNION ALL
            SELECT DISTINCT kind, week, order_no, customer, currency, net FROM attributed WHERE NOT held_out
        ), issued AS (
            SELECT kind, week, completed_at, result->>'code' AS code
            FROM entries m WHERE m.is_voucher AND m.status = 'done'
        ), redeemed_codes AS (
            -- a code exists from its issue on: older orders are not read
            SELECT DISTINCT o.voucher_code AS code
            FROM ({sources.orders_sql}) AS o
            WHERE {counted_condition(engine.config)} AND o.voucher_code IN (SELECT code FROM issued)
              AND o.placed_at >= (SELECT min(completed_at) FROM issued)
        )
        SELECT 'treated', kind, week, currency, GROUPING(currency), count(DISTINCT customer), count(*), sum(net)
        FROM treated GROUP BY GROUPING SETS ((kind, week), (kind, week, currency))
        UNION ALL
        SELECT 'held out', kind, week, NULL, 1, count(DISTINCT customer), NULL, NULL
        FROM attributed WHERE held_out GROUP BY GROUPING SETS ((kind), (kind, week))
        UNION ALL
        SELECT 'redeemed', kind, week, NULL, 1, count(*), NULL, NULL
        FROM issued WHERE code IN (SELECT code FROM redeemed_codes) GROUP BY GROUPING SETS ((kind), (kind, week))"""
    params = {**dict(sources.params), "lc_since": since, "lc_until": until, "lc_window_days": window_days,
              "lc_held_out": HOLDOUT_REASON}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    figures: dict[tuple[str, date | None], dict] = {}
    for what, kind, week, currency, all_currencies, customers, orders, amount in rows:
        row = figures.setdefault((kind, week), {})
        if what == "held out":
            row["held_out_converted"] = customers
        elif what == "redeemed":
            row["vouchers_redeemed"] = customers
        elif all_currencies:
            row.update(converted=customers, orders=orders)
        else:
            row.setdefault("revenue", {})[currency] = Decimal(amount)
    for row in figures.values():
        if "revenue" in row:
            row["revenue"] = dict(sorted(row["revenue"].items()))
    return figures
