"""The SQL evaluator's edges: refused settings, the exact fact arithmetic, subsets,
and reasons spelled as the history table spells them."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection, transaction

from lifecycle_plugin.engine.sql_ladder import compile_ladder
from lifecycle_plugin.engine.sql_ladder_parts import FUNCTIONS
from lifecycle_plugin.engine.sql_ladder_run import evaluate
from lifecycle_plugin.models import StageTransition
from lifecycle_plugin.rules import ConfigError, CustomerFacts, LifecycleConfig, OrderFact
from lifecycle_plugin.rules import timeline
from lifecycle_plugin.rules.ladder import as_days
from tests.ladder.harness import CUSTOMERS_SQL, ORDERS_SQL, assert_agree, load

pytestmark = pytest.mark.django_db
NOW = datetime(2025, 6, 15, 12, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def test_settings_the_sql_cannot_decide_exactly_are_refused_by_name():
    config = LifecycleConfig(personal_gap_multiplier=Decimal("1.00000000001"))
    with pytest.raises(ConfigError) as refused:
        compile_ladder(config, NOW, customers_sql=CUSTOMERS_SQL, orders_sql=ORDERS_SQL)
    assert list(refused.value.errors) == ["personal_gap_multiplier"]
    assert "personal_gap_multiplier" in str(refused.value)


def test_invalid_settings_are_refused_too():
    with pytest.raises(ConfigError) as refused:
        compile_ladder(LifecycleConfig(at_risk_days=200), NOW, customers_sql=CUSTOMERS_SQL, orders_sql=ORDERS_SQL)
    assert "at_risk_days" in refused.value.errors


def test_days_in_facts_are_rounded_exactly_as_python_rounds_them():
    # Ties of the 4th decimal (45 minutes is 0.03125 days, 108 s is 0.00125) and a spread of others.
    rng = random.Random(14)
    values = [0, 1, 108_000_000, 2_700_000_000, 14 * 86_400_000_000 + 2_700_000_000, 4_320_000,
              *(rng.randrange(0, 400 * 86_400_000_000) for _ in range(3000)),
              *(rng.randrange(0, 400 * 86_400) * 1_000_000 for _ in range(3000)),
              *(4_320_000 * (2 * rng.randrange(0, 10**7) + 1) for _ in range(3000))]
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in FUNCTIONS:
            cursor.execute(statement)
        cursor.execute("SELECT us, pg_temp.lc_ladder_days(us)::text FROM unnest(%s::bigint[]) AS us", [values])
        rows = cursor.fetchall()
    wrong = [(us, sql) for us, sql in rows if float(sql) != as_days(timedelta(microseconds=us))]
    assert not wrong


def test_a_subset_is_decided_alone():
    def order(days_ago, total="20"):
        return OrderFact(f"o{days_ago}", NOW - days_ago * DAY, "USD", Decimal(total))

    customers = [CustomerFacts("a", orders=(order(10),)), CustomerFacts("b", orders=(order(200), order(100)))]
    with transaction.atomic(), connection.cursor() as cursor:
        load(cursor, customers)
        result = evaluate(cursor, LifecycleConfig(), NOW, customers_sql=CUSTOMERS_SQL + " WHERE customer = 1",
                          orders_sql=ORDERS_SQL)
    assert list(result.decisions) == [1]
    assert result.decisions[1].stage == "at_risk" and result.decisions[1].orders_count == 2
    assert list(result.stage_moves) == [1]


def test_sql_and_python_agree_on_a_store_around_the_defaults():
    """A fixed store (the hypothesis test's complement): every default threshold hit exactly."""
    def order(i, age, total="120", currency="USD", **kwargs):
        return OrderFact(f"o{i}", NOW - age, currency, Decimal(total), **kwargs)

    stories = [
        (order(1, 90 * DAY),),
        (order(1, 90 * DAY - timedelta(microseconds=1)),),
        (order(1, 180 * DAY), order(2, 400 * DAY)),
        tuple(order(i, (365 - i) * DAY) for i in range(4)),
        tuple(order(i, (20 + 7 * i) * DAY + timedelta(minutes=45 * i)) for i in range(6)),
        (order(1, 364 * DAY, "1000"), order(2, 300 * DAY, "600", "PLN"), order(3, 300 * DAY, "1500", "EUR")),
        (order(1, 10 * DAY, "50", paid=False), order(2, 5 * DAY, "80", refunded=Decimal("80"))),
        # An order placed the very moment an older one leaves the tier window: one tier
        # move (silver -> none), an order's (reason `event`), whichever event sorts first.
        (order(1, 385 * DAY, "600"), order(2, 20 * DAY, "50")),
        (order(1, 20 * DAY, "50"), order(2, 385 * DAY, "600")),
        (order(1, 385 * DAY, "600", "EUR"), order(2, 20 * DAY, "50", "EUR"), order(3, 100 * DAY, "40", "EUR")),
    ]
    customers = [CustomerFacts(f"c{i}@x", has_account=bool(i % 2), orders=orders) for i, orders in enumerate(stories)]
    customers.append(CustomerFacts("cart@x", open_cart_lines=2))
    for config in (LifecycleConfig(), LifecycleConfig(count_only_paid=True)):
        with transaction.atomic(), connection.cursor() as cursor:
            assert_agree(cursor, customers, config, NOW)


def test_reasons_are_the_history_tables():
    assert (timeline.EVENT, timeline.TIME, timeline.WIN_BACK, timeline.BACKFILL) == (
        StageTransition.REASON_EVENT, StageTransition.REASON_TIME, StageTransition.REASON_WIN_BACK,
        StageTransition.REASON_BACKFILL)
