"""Runs the SQL evaluator over facts in temporary tables and puts both evaluators'
answers in one comparable shape."""

from __future__ import annotations

import json
from datetime import datetime

from lifecycle_plugin.engine.sql_ladder_run import SqlLadderResult, evaluate
from lifecycle_plugin.rules import CustomerFacts, LifecycleConfig
from lifecycle_plugin.rules.timeline import Timeline, reconstruct

CUSTOMERS_SQL = "SELECT customer, has_account, open_cart_lines FROM lc_test_customers"
ORDERS_SQL = "SELECT customer, placed_at, currency, total, refunded, state, paid FROM lc_test_orders"


def load(cursor, customers: list[CustomerFacts]) -> None:
    """Customer `i` of the list is key `i`."""
    cursor.execute("DROP TABLE IF EXISTS lc_test_customers, lc_test_orders")
    cursor.execute("""CREATE TEMP TABLE lc_test_customers (customer integer, has_account boolean,
                      open_cart_lines integer)""")
    cursor.execute("""CREATE TEMP TABLE lc_test_orders (customer integer, placed_at timestamptz, currency text,
                      total numeric, refunded numeric, state text, paid boolean)""")
    cursor.executemany("INSERT INTO lc_test_customers VALUES (%s, %s, %s)",
                       [(key, c.has_account, c.open_cart_lines) for key, c in enumerate(customers)])
    rows = [(key, o.placed_at, o.currency, str(o.total), str(o.refunded), o.state.value, o.paid)
            for key, c in enumerate(customers) for o in c.orders]
    if rows:
        cursor.executemany("INSERT INTO lc_test_orders VALUES (%s, %s, %s, %s::numeric, %s::numeric, %s, %s)", rows)


def run_sql(cursor, customers: list[CustomerFacts], config: LifecycleConfig, now: datetime) -> SqlLadderResult:
    load(cursor, customers)
    return evaluate(cursor, config, now, customers_sql=CUSTOMERS_SQL, orders_sql=ORDERS_SQL)


def _plain(mapping) -> dict:
    return json.loads(json.dumps(dict(mapping), default=str))


def _money(amounts) -> dict[str, str]:
    return {currency: str(amount) for currency, amount in amounts.items()}


def python_view(timeline: Timeline) -> dict:
    d = timeline.decision
    s = d.summary
    return {
        "stage": d.stage.value, "tier": d.tier, "rule": d.rule, "facts": _plain(d.facts),
        "next_check_at": d.next_change_at, "orders_count": s.orders_count,
        "first_order_at": s.first_order_at, "last_order_at": s.last_order_at,
        "orders_by_currency": dict(s.orders_by_currency), "lifetime_spend": _money(s.lifetime_spend),
        "window_spend": _money(s.window_spend),
        "stage_moves": [(m.at, m.from_stage and m.from_stage.value, m.to_stage.value, m.reason, m.rule,
                         _plain(m.facts)) for m in timeline.stage_moves],
        "tier_moves": [(m.at, m.from_tier, m.to_tier, m.reason, _money(m.window_spend)) for m in timeline.tier_moves],
    }


def sql_view(result: SqlLadderResult, key) -> dict:
    d = result.decisions[key]
    return {
        "stage": d.stage, "tier": d.tier, "rule": d.rule, "facts": d.facts, "next_check_at": d.next_check_at,
        "orders_count": d.orders_count, "first_order_at": d.first_order_at, "last_order_at": d.last_order_at,
        "orders_by_currency": d.orders_by_currency, "lifetime_spend": d.lifetime_spend,
        "window_spend": d.window_spend,
        "stage_moves": [(m.at, m.from_stage, m.to_stage, m.reason, m.rule, m.facts)
                        for m in result.stage_moves.get(key, [])],
        "tier_moves": [(m.at, m.from_tier, m.to_tier, m.reason, m.window_spend)
                       for m in result.tier_moves.get(key, [])],
    }


def assert_agree(cursor, customers: list[CustomerFacts], config: LifecycleConfig, now: datetime) -> None:
    result = run_sql(cursor, customers, config, now)
    assert set(result.decisions) == set(range(len(customers)))
    for key, facts in enumerate(customers):
        expected = python_view(reconstruct(facts, config, now))
        actual = sql_view(result, key)
        differing = {name: {"sql": actual[name], "python": expected[name]}
                     for name in expected if actual[name] != expected[name]}
        assert not differing, f"customer {key} differs: {differing}\n{facts!r}\n{config!r}\nnow {now!r}"
