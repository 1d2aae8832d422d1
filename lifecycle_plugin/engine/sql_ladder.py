"""The ladder compiled to set-based SQL (PostgreSQL): a whole store, or any subset, decided
in the database, with each customer's history dated from their orders.

The SQL is compiled from the one statement of the ladder (`rules.ladder.LADDER`) and a
`LifecycleConfig`; it agrees with `decide` and `rules.timeline.reconstruct` on every
stage, tier, rule, fact, next check and dated move (tests/ladder/).

Input: two SELECTs a host provides. They name no table of Saleor's or the sandbox's here.

``customers_sql`` — one row per customer to decide:
    customer         any type, unique: the key every output row carries
    has_account      boolean: the customer has an account
    open_cart_lines  integer: lines in their open checkouts (0 when none)
    (further columns, such as a host's `user_id`, are kept in lc_ladder_customers)

``orders_sql`` — every order of those customers (others are ignored), in any state:
    customer         the key, as in customers_sql
    placed_at        timestamptz
    currency         text, ISO 4217
    total            numeric, >= 0
    refunded         numeric, >= 0 (0 when none)
    state            text: 'placed', 'draft', 'unconfirmed', 'cancelled' or 'expired'
                     (`OrderState` values)
    paid             boolean: fully paid
    channel          text: the channel's slug (the ladder ignores it; the owner's KPIs
                     filter by it, `engine.kpi_orders`)
    voucher_code     text: the voucher code the order redeemed, '' when none (the ladder
                     ignores it; the action results count redeemed vouchers by it)

Which orders belong to whom (accounts, guest orders by e-mail, unconfirmed accounts) is
the host's to settle in those SELECTs, as its `read_facts` does. Timestamps in the facts
(`last_order_at`) are written in UTC.

Output: temporary tables on the connection (see `sql_ladder_run` to read them); `cid`
numbers the customers (lc_ladder_customers: cid, then customers_sql's columns):
    lc_ladder_decisions  customer, cid, stage, tier, rule, facts (jsonb), next_check_at,
                         orders_count, first_order_at, last_order_at, orders_by_currency,
                         lifetime_spend, window_spend (jsonb: currency -> count / amount text)
    lc_ladder_stage_moves  cid, at, from_stage, to_stage, reason, rule, facts
    lc_ladder_tier_moves   cid, at, from_tier, to_tier, reason, window_spend
    lc_ladder_counted    cid, placed_at, currency, net, us, paid (what counts, paid or not)

How: counted orders -> per distinct order moment the order count, the time of the
order that keeps the customer loyal, the at-risk threshold (median gap over the orders
so far) -> the stage at any moment of the interval up to the next order is a CASE over
the statement's rules. Moves are dated at the order moments and where a condition's
truth flips between orders (silence reaching a threshold, the loyal window emptying);
tiers from running spend sums per tier currency, with orders entering and leaving
the window as events. Everything is in microseconds since the epoch (`*_us`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..rules.config import ConfigError, LifecycleConfig
from ..rules.ladder import (
    LADDER,
    Always,
    HasAccount,
    Ladder,
    OpenCart,
    OrdersAtLeast,
    OrdersInWindowAtLeast,
    SilenceAtLeast,
    StageRule,
    sql_unsupported,
)
from ..rules.timeline import BACKFILL, EVENT, TIME, WIN_BACK
from .sql_ladder_parts import (FUNCTIONS, counted_any_payment_condition, literal, stage_array, tier_case,
                               with_statistics)

US_PER_DAY = 86_400_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
TABLES = ("customers", "counted", "ranked", "moments", "rhythm", "steps", "summary", "tier_points",
          "decisions", "stage_moves", "tier_moves")


@dataclass(frozen=True)
class CompiledLadder:
    #: Run in order on one connection; `params` binds `%(now)s` and `%(now_us)s`.
    statements: tuple[str, ...]
    params: dict
    drop: str


def epoch_us(moment: datetime) -> int:
    return (moment - EPOCH) // _MICROSECOND


def check_exact(config: LifecycleConfig) -> None:
    """Validate `config`, and refuse (ConfigError, by field) what SQL cannot decide exactly."""
    config.validate()
    problems = sql_unsupported(config)
    if problems:
        raise ConfigError(problems)


def compile_ladder(config: LifecycleConfig, now: datetime, *, customers_sql: str, orders_sql: str,
                   ladder: Ladder = LADDER, history: bool = True) -> CompiledLadder:
    """The statements that decide `customers_sql` as of `now`. Refuses (ConfigError, by
    field) settings the SQL cannot decide exactly as `decide` would. Without `history`
    only lc_ladder_decisions is made (no dated moves): what a what-if needs."""
    check_exact(config)
    return _Compiler(config, ladder).compile(now, customers_sql, orders_sql, history)


class _Compiler:
    def __init__(self, config: LifecycleConfig, ladder: Ladder):
        self.config = config
        self.ladder = ladder
        loyal = [r.when for r in ladder.buyers if isinstance(r.when, OrdersInWindowAtLeast)]
        if len(loyal) != 1:
            raise ValueError("the SQL evaluator expects exactly one orders-in-window rule")
        self.window = loyal[0]
        self.window_us = self.window.window_days.of(config) * US_PER_DAY
        self.risk = ladder.at_risk_after

    def counts(self, alias: str = "") -> str:
        """Of lc_ladder_counted's rows (every order that counts whether or not "paid only" is
        on, placed at any time), those these settings count as of now."""
        prefix = f"{alias}." if alias else ""
        paid = f" AND {prefix}paid" if self.ladder.counted.paid_only.of(self.config) else ""
        return f"{prefix}us <= %(now_us)s{paid}"

    def days_us(self, setting) -> int:
        return setting.of(self.config) * US_PER_DAY

    # ------------------------------------------------------------ conditions at a moment `s` (µs)

    def holds(self, condition, s: str) -> str:
        if isinstance(condition, SilenceAtLeast):
            threshold = "risk_us" if condition.days is None else str(self.days_us(condition.days))
            return f"({s}) - tus >= {threshold}"
        if isinstance(condition, OrdersInWindowAtLeast):
            return f"(lth_us IS NOT NULL AND lth_us > ({s}) - {self.window_us})"
        if isinstance(condition, OrdersAtLeast):
            return f"n >= {condition.minimum}"
        if isinstance(condition, Always):
            return "true"
        raise TypeError(f"the SQL evaluator cannot compile {condition!r}")

    def flip(self, condition) -> str | None:
        """When time alone changes the condition's truth after the last order."""
        if isinstance(condition, SilenceAtLeast):
            return "tus + " + ("risk_us" if condition.days is None else str(self.days_us(condition.days)))
        if isinstance(condition, OrdersInWindowAtLeast):
            return f"lth_us + {self.window_us}"
        return None

    def flips(self) -> str:
        times = [t for t in (self.flip(r.when) for r in self.ladder.buyers) if t]
        return f"ARRAY[{', '.join(times)}]::bigint[]"

    def which(self, s: str) -> str:
        """The index (from 0) of the first buyer rule that holds at `s`: computed once per row,
        then the stage, rule and facts are looked up by it."""
        whens = " ".join(f"WHEN {self.holds(r.when, s)} THEN {i}" for i, r in enumerate(self.ladder.buyers))
        return f"CASE {whens} END"

    def stage_of(self, index: str) -> str:
        stages = ", ".join(literal(r.stage.value) for r in self.ladder.buyers)
        return f"(ARRAY[{stages}]::text[])[{index} + 1]"

    def rule_of(self, index: str) -> str:
        rules = ", ".join("risk_rule" if r.rule is None else literal(r.rule) for r in self.ladder.buyers)
        return f"(ARRAY[{rules}]::text[])[{index} + 1]"

    def facts_of(self, index: str, s: str, in_window: str) -> str:
        values = {
            "orders": "n",
            "last_order_at": "pg_temp.lc_ladder_iso(t)",
            "days_since_last_order": f"(({s}) - tus) / {US_PER_DAY}",
            "lapsed_days": str(self.config.lapsed_days),
            "at_risk_after_days": "pg_temp.lc_ladder_days(risk_us)",
            "median_gap_days": "pg_temp.lc_ladder_days(median_us)",
            "orders_in_window": in_window,
            "loyal_window_days": str(self.config.loyal_window_days),
        }
        whens = " ".join(f"WHEN {i} THEN {_object(r.facts, values)}" for i, r in enumerate(self.ladder.buyers))
        # A fact that does not apply (no median gap yet) is NULL and left out.
        return f"jsonb_strip_nulls(CASE {index} {whens} END)"

    def pre_purchase(self, then) -> str:
        conditions = {OpenCart: "c.open_cart_lines > 0", HasAccount: "c.has_account", Always: "true"}
        whens = " ".join(f"WHEN {conditions[type(r.when)]} THEN {then(r)}" for r in self.ladder.pre_purchase)
        return f"CASE {whens} END"

    def pre_purchase_facts(self, rule: StageRule) -> str:
        return _object(rule.facts, {"open_cart_lines": "c.open_cart_lines", "has_account": "c.has_account",
                                    "orders": "0"})

    # ------------------------------------------------------------ statements

    def compile(self, now: datetime, customers_sql: str, orders_sql: str, history: bool) -> CompiledLadder:
        config = self.config
        tier_window = f"interval '{config.tier_window_days * 24} hours'"
        loyal_minimum = self.window.minimum.of(config)
        risk_days = self.days_us(self.risk.global_days)
        floor = self.days_us(self.risk.floor_days)
        multiplier = self.risk.multiplier.of(config)
        statements = [
            *FUNCTIONS,
            # Each customer numbered (`cid`): the statements below sort and join on that
            # integer, not on the host's key (an e-mail sorts by collation, twice as slow).
            f"""CREATE TEMP TABLE lc_ladder_customers AS
                SELECT (row_number() OVER ())::integer AS cid, c.* FROM ({customers_sql}) AS c""",
            # Every order that counts under either "paid only" setting, at any time: the
            # digest (`digest_writes`) is read from it too, so the host's orders are read once.
            f"""CREATE TEMP TABLE lc_ladder_counted AS
                SELECT c.cid, o.placed_at, o.currency, GREATEST(o.total - o.refunded, 0) AS net,
                       (extract(epoch FROM o.placed_at) * 1000000)::bigint AS us, o.paid
                FROM ({orders_sql}) AS o JOIN lc_ladder_customers c ON c.customer = o.customer
                WHERE {counted_any_payment_condition(self.ladder)}""",
            # Ties (orders at one moment) take consecutive numbers. A moment is its last row,
            # the one whose next row is later: its number, window count and the next moment.
            f"""CREATE TEMP TABLE lc_ladder_ranked AS
                SELECT cid, placed_at, us, row_number() OVER w AS rn, us - lag(us) OVER w AS gap,
                       lag(us, {loyal_minimum - 1}) OVER w AS lth_us, lead(us) OVER w AS next_row_us,
                       count(*) OVER (PARTITION BY cid ORDER BY placed_at
                                      RANGE BETWEEN interval '{self.window_us - 1} microseconds' PRECEDING
                                      AND CURRENT ROW) AS in_window
                FROM lc_ladder_counted WHERE {self.counts()} WINDOW w AS (PARTITION BY cid ORDER BY placed_at)""",
            """CREATE TEMP TABLE lc_ladder_moments AS
                SELECT cid, placed_at AS t, us AS tus, rn AS n, lth_us, in_window, next_row_us AS next_us
                FROM lc_ladder_ranked WHERE next_row_us IS DISTINCT FROM us""",
            # The median gap, only where the at-risk threshold can matter: an interval longer
            # than the floor (every threshold is at least the floor) or the last one.
            f"""CREATE TEMP TABLE lc_ladder_rhythm AS
                SELECT cid, tus,
                       CASE WHEN mod(cnt, 2) = 1 THEN gaps[(cnt + 1) / 2]
                            ELSE pg_temp.lc_ladder_half(gaps[cnt / 2] + gaps[cnt / 2 + 1]) END AS median_us
                FROM (SELECT m.cid, m.tus, m.n - 1 AS cnt, array_agg(r.gap ORDER BY r.gap) AS gaps
                      FROM lc_ladder_moments m JOIN lc_ladder_ranked r
                        ON r.cid = m.cid AND r.rn BETWEEN 2 AND m.n
                      WHERE m.n >= {self.risk.min_orders.of(config)}
                        AND (m.next_us IS NULL OR m.next_us - m.tus > {floor})
                      GROUP BY m.cid, m.tus, m.n) AS x""",
            # Where no median was taken (too few orders, or an interval shorter than the floor)
            # the global threshold stands in: in such an interval no threshold is reached anyway.
            # Each level computed once a row (OFFSET 0): flattened, the threshold's numeric
            # arithmetic was copied into every place the rules read it, eight times a row.
            f"""CREATE TEMP TABLE lc_ladder_steps AS
                SELECT *, {self.which('tus')} AS start_rule,
                       CASE WHEN next_us IS NOT NULL THEN {self.stage_of(self.which('next_us - 1'))} END
                           AS end_stage
                FROM (SELECT p.*,
                             CASE WHEN personal < {risk_days} THEN personal ELSE {risk_days} END AS risk_us,
                             CASE WHEN personal < {risk_days} THEN {literal(self.risk.personal_rule)}
                                  ELSE {literal(self.risk.global_rule)} END AS risk_rule
                      FROM (SELECT m.*, r.median_us, CASE WHEN r.median_us IS NOT NULL THEN GREATEST(pg_temp.lc_ladder_even(
                                r.median_us * {literal(str(multiplier))}::numeric), {floor}) END AS personal
                            FROM lc_ladder_moments m LEFT JOIN lc_ladder_rhythm r ON r.cid = m.cid AND r.tus = m.tus
                            OFFSET 0) AS p
                      OFFSET 0) AS s""",
            self.summary(),
            self.tier_points(tier_window),
            self.decisions(),
            *((self.stage_moves(), self.tier_moves(tier_window)) if history else ()),
        ]
        # Temporary tables get no statistics unless asked: without them the planner
        # guesses row counts and picks nested loops over millions of rows.
        statements = [step for statement in statements for step in with_statistics(statement)]
        drop = "DROP TABLE IF EXISTS " + ", ".join(f"lc_ladder_{name}" for name in TABLES)
        return CompiledLadder(tuple(statements), {"now": now, "now_us": epoch_us(now)}, drop)

    def summary(self) -> str:
        return f"""CREATE TEMP TABLE lc_ladder_summary AS
            SELECT cid, sum(orders)::integer AS orders_count, min(first_at) AS first_order_at,
                   max(last_at) AS last_order_at,
                   jsonb_object_agg(currency, orders) AS orders_by_currency,
                   jsonb_object_agg(currency, spend::text) AS lifetime_spend,
                   COALESCE(jsonb_object_agg(currency, window_spend::text) FILTER (WHERE in_tier_window > 0),
                            '{{}}') AS window_spend,
                   sum(in_loyal_window) AS in_loyal_window
            FROM (SELECT cid, currency, count(*) AS orders, min(placed_at) AS first_at,
                         max(placed_at) AS last_at, sum(net) AS spend,
                         sum(net) FILTER (WHERE us > %(now_us)s - {self.config.tier_window_days * US_PER_DAY})
                             AS window_spend,
                         count(*) FILTER (WHERE us > %(now_us)s - {self.config.tier_window_days * US_PER_DAY})
                             AS in_tier_window,
                         count(*) FILTER (WHERE us > %(now_us)s - {self.window_us}) AS in_loyal_window
                  FROM lc_ladder_counted WHERE {self.counts()} GROUP BY cid, currency) AS x
            GROUP BY cid"""

    def tier_points(self, tier_window: str) -> str:
        """The moments a customer's tier changes, past and future: the running spend per tier
        currency after each order and each order's exit from the window, kept where the tier
        it reaches differs from the one before."""
        tiers = self.ladder.tiers.table.of(self.config)
        currencies = sorted({c for tier in tiers for c in tier.thresholds})
        running = "".join(f", sum(CASE WHEN currency = {literal(c)} THEN delta ELSE 0 END) OVER w AS s_{c}"
                          for c in currencies)
        exits = (f"""UNION ALL SELECT cid, placed_at + {tier_window}, false, currency, -net
                     FROM lc_ladder_counted
                     WHERE {self.counts()} AND currency IN ({', '.join(literal(c) for c in currencies)})"""
                 if currencies else "")
        # Events at one moment are peers of the window's order: the running sums (RANGE, the
        # default frame) and `is_order` (any of them an order) are the moment's on each of its
        # rows, and one sort serves every window, where grouping the moments first cost a
        # second pass. Only the rows where the tier differs from the one before are kept (one
        # per change, a ninth of the rows): the decision and the moves need nothing else.
        return f"""CREATE TEMP TABLE lc_ladder_tier_points AS
            SELECT cid, at, is_order, tier
            FROM (SELECT cid, at, is_order, tier, lag(tier) OVER w AS tier_before
                  FROM (SELECT cid, at, bool_or(is_order) OVER peers AS is_order {running}
                        FROM (SELECT cid, placed_at AS at, true AS is_order, currency, net AS delta
                              FROM lc_ladder_counted WHERE {self.counts()} {exits}) AS e
                        WINDOW w AS (PARTITION BY cid ORDER BY at),
                               peers AS (w RANGE BETWEEN CURRENT ROW AND CURRENT ROW)) AS r,
                       LATERAL (SELECT {tier_case(tiers)} AS tier) AS t
                  WINDOW w AS (PARTITION BY cid ORDER BY at)) AS c
            WHERE tier IS DISTINCT FROM tier_before"""

    def decisions(self) -> str:
        now = "%(now_us)s"
        return f"""CREATE TEMP TABLE lc_ladder_decisions AS
            WITH last AS (SELECT *, {self.stage_of('now_rule')} AS stage_now, {self.rule_of('now_rule')} AS rule_now,
                                 {self.facts_of('now_rule', now, 'in_loyal_window')} AS facts_now,
                                 (SELECT min(u) FROM unnest({self.flips()}) AS u
                                   WHERE u > {now} AND {self.which('u')} <> now_rule) AS stage_change_us
                          FROM (SELECT s.*, {self.which(now)} AS now_rule, y.in_loyal_window, y.orders_count,
                                       y.first_order_at, y.last_order_at, y.orders_by_currency, y.lifetime_spend,
                                       y.window_spend
                                FROM lc_ladder_steps s JOIN lc_ladder_summary y USING (cid)
                                WHERE s.next_us IS NULL) AS x),
                 tier_now AS (SELECT DISTINCT ON (cid) cid, tier
                              FROM lc_ladder_tier_points WHERE at <= %(now)s ORDER BY cid, at DESC),
                 tier_next AS (SELECT p.cid, min(p.at) AS at FROM lc_ladder_tier_points p
                               JOIN tier_now n USING (cid)
                               WHERE p.at > %(now)s AND p.tier IS DISTINCT FROM n.tier GROUP BY p.cid)
            SELECT c.customer, c.cid,
                   COALESCE(l.stage_now, {self.pre_purchase(lambda r: literal(r.stage.value))}) AS stage,
                   tn.tier,
                   COALESCE(l.rule_now, {self.pre_purchase(lambda r: literal(r.rule))}) AS rule,
                   COALESCE(l.facts_now, {self.pre_purchase(self.pre_purchase_facts)}) AS facts,
                   LEAST(l.t + (l.stage_change_us - l.tus) * interval '1 microsecond', tx.at) AS next_check_at,
                   COALESCE(l.orders_count, 0) AS orders_count, l.first_order_at, l.last_order_at,
                   COALESCE(l.orders_by_currency, '{{}}') AS orders_by_currency,
                   COALESCE(l.lifetime_spend, '{{}}') AS lifetime_spend,
                   COALESCE(l.window_spend, '{{}}') AS window_spend
            FROM lc_ladder_customers c LEFT JOIN last l USING (cid)
            LEFT JOIN tier_now tn USING (cid) LEFT JOIN tier_next tx USING (cid)"""

    def stage_moves(self) -> str:
        # Each distinct flip once (two conditions may flip at the same moment).
        flips = self.flips()
        flips_between = f"""SELECT u FROM unnest({flips}) WITH ORDINALITY AS f(u, i)
                             WHERE u > tus AND u < COALESCE(next_us, %(now_us)s + 1)
                               AND array_position({flips}, u) = i"""
        win_back = (f"from_stage = ANY({stage_array(self.ladder.win_back_from)}) "
                    f"AND {self.stage_of('start_rule')} = ANY({stage_array(self.ladder.win_back_to)})")
        return f"""CREATE TEMP TABLE lc_ladder_stage_moves AS
            SELECT cid, t AS at, from_stage, {self.stage_of('start_rule')} AS to_stage,
                   CASE WHEN {win_back} THEN {literal(WIN_BACK)} ELSE {literal(EVENT)} END AS reason,
                   {self.rule_of('start_rule')} AS rule, {self.facts_of('start_rule', 'tus', 'in_window')} AS facts
            FROM (SELECT *, lag(end_stage) OVER (PARTITION BY cid ORDER BY tus) AS from_stage
                  FROM lc_ladder_steps) AS o
            WHERE from_stage IS DISTINCT FROM {self.stage_of('start_rule')}
            UNION ALL
            SELECT cid, t + (u - tus) * interval '1 microsecond', {self.stage_of('before')},
                   {self.stage_of('after')}, {literal(TIME)}, {self.rule_of('after')},
                   {self.facts_of('after', 'u', 'NULL::bigint')}
            FROM (SELECT s.*, f.u, {self.which('f.u - 1')} AS before, {self.which('f.u')} AS after
                  FROM lc_ladder_steps s CROSS JOIN LATERAL ({flips_between}) AS f) AS x
            WHERE before <> after
            UNION ALL
            SELECT cid, %(now)s::timestamptz, NULL, stage, {literal(BACKFILL)}, rule, facts
            FROM lc_ladder_decisions WHERE orders_count = 0"""

    def tier_moves(self, tier_window: str) -> str:
        return f"""CREATE TEMP TABLE lc_ladder_tier_moves AS
            WITH moves AS (
                SELECT cid, at, from_tier, tier AS to_tier,
                       CASE WHEN is_order THEN {literal(EVENT)} ELSE {literal(TIME)} END AS reason
                FROM (SELECT *, lag(tier) OVER (PARTITION BY cid ORDER BY at) AS from_tier
                      FROM lc_ladder_tier_points WHERE at <= %(now)s) AS p
                WHERE tier IS DISTINCT FROM from_tier),
            spend AS (
                SELECT cid, at, jsonb_object_agg(currency, amount::text) AS window_spend
                FROM (SELECT m.cid, m.at, o.currency, sum(o.net) AS amount
                      FROM moves m JOIN lc_ladder_counted o
                        ON o.cid = m.cid AND o.placed_at > m.at - {tier_window} AND o.placed_at <= m.at
                      WHERE {self.counts('o')}
                      GROUP BY m.cid, m.at, o.currency) AS x
                GROUP BY cid, at)
            SELECT m.*, COALESCE(s.window_spend, '{{}}') AS window_spend
            FROM moves m LEFT JOIN spend s USING (cid, at)"""


def _object(names: tuple[str, ...], values: dict[str, str]) -> str:
    return "jsonb_build_object(" + ", ".join(f"{literal(name)}, {values[name]}" for name in names) + ")"
