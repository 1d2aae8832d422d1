"""The ladder digest and the now-only SQL evaluator over it (`engine.sql_digest`).

- For generated order histories and settings, the evaluator over the digests agrees with
  `decide` on stage, rule, tier and next change at `now` (what a recompute compares with
  the stored profile).
- The digest written in SQL from a host's rows (the backfill's SQL path, the fill) equals
  the one written from facts in Python (the event path, the backfill's Python path).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings

from lifecycle_plugin.engine.digest_writes import DIGEST_TABLE, digests_from_sources_sql, write_digests
from lifecycle_plugin.engine.sql_digest import decision_lateral
from lifecycle_plugin.engine.sql_ladder_parts import FUNCTIONS
from lifecycle_plugin.rules import CustomerFacts, LifecycleConfig, OrderFact, OrderState, Tier, decide
from lifecycle_plugin.rules.digest import DIGEST_VERSION, EPOCH, digest_of
from tests.ladder.harness import CUSTOMERS_SQL, ORDERS_SQL, load
from tests.rules.ladder_strategies import stores

pytestmark = pytest.mark.django_db

DIFFERENTIAL = settings(max_examples=100, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                               HealthCheck.data_too_large])
PYTHON_DIGESTS = "lc_test_digest_python"
SQL_DIGESTS = "lc_test_digest_sql"


def _tables(cursor) -> None:
    for table in (PYTHON_DIGESTS, SQL_DIGESTS):
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TEMP TABLE {table} (LIKE {DIGEST_TABLE} INCLUDING ALL)")


def _decided(cursor, table: str, config: LifecycleConfig, now: datetime) -> dict[int, tuple]:
    cursor.execute(f"""SELECT d.profile_id, x.stage, x.rule, x.tier, x.next_check_us FROM {table} d
                       CROSS JOIN LATERAL ({decision_lateral(config, now, with_rule=True, with_next_check=True)}) AS x""")
    return {key: (stage, rule, tier, None if check is None else EPOCH + timedelta(microseconds=check))
            for key, stage, rule, tier, check in cursor.fetchall()}


def _digests(cursor, table: str) -> dict[int, tuple]:
    cursor.execute(f"SELECT * FROM {table} ORDER BY profile_id")
    names = [column.name for column in cursor.description]
    return {row[0]: {name: value for name, value in zip(names, row) if name != "written_at"}
            for row in cursor.fetchall()}


def _write_both(cursor, customers: list[CustomerFacts], now: datetime) -> None:
    """Customer `i` is profile `i`: its digest from facts in Python, and in SQL from its rows."""
    _tables(cursor)
    load(cursor, customers)
    write_digests([(key, digest_of(facts)) for key, facts in enumerate(customers)], now, table=PYTHON_DIGESTS)
    for statement in FUNCTIONS:
        cursor.execute(statement)
    cursor.execute(digests_from_sources_sql(CUSTOMERS_SQL, ORDERS_SQL,
                                            "SELECT customer, customer AS profile_id FROM lc_test_customers",
                                            table=SQL_DIGESTS),
                   {"version": DIGEST_VERSION, "now": now})


def assert_agree(cursor, customers: list[CustomerFacts], config: LifecycleConfig, now: datetime) -> None:
    _write_both(cursor, customers, now)
    python, in_sql = _digests(cursor, PYTHON_DIGESTS), _digests(cursor, SQL_DIGESTS)
    assert in_sql == python
    decided = _decided(cursor, PYTHON_DIGESTS, config, now)
    for key, facts in enumerate(customers):
        expected = decide(facts, config, now)
        assert decided[key] == (expected.stage.value, expected.rule, expected.tier, expected.next_change_at), (key, facts)


@DIFFERENTIAL
@given(stores())
def test_digest_evaluator_agrees_with_decide(store):
    config, now, customers = store
    with transaction.atomic(), connection.cursor() as cursor:
        try:
            assert_agree(cursor, customers, config, now)
        finally:
            transaction.set_rollback(True)


UTC = timezone.utc


def _order(key: str, day: int, currency: str = "USD", total: str = "100", **kwargs) -> OrderFact:
    return OrderFact(key, datetime(2026, 1, day, tzinfo=UTC), currency, Decimal(total), **kwargs)


def test_ties_unpaid_and_currencies_read_as_decide_reads_them():
    """Orders at one moment, unpaid and fully refunded orders, two currencies, paid only on and off."""
    facts = CustomerFacts(email="a@example.com", has_account=True, orders=(
        _order("1", 2, total="300"), _order("2", 2, total="200", paid=False), _order("3", 9, "EUR", "900"),
        _order("4", 20, total="50", refunded=Decimal("50")), _order("5", 20, total="80"),
        _order("6", 21, total="10", state=OrderState.CANCELLED)))
    tiers = (Tier("bronze", {"USD": Decimal("400")}), Tier("silver", {"USD": Decimal("570"), "EUR": Decimal("901")}))
    with transaction.atomic(), connection.cursor() as cursor:
        try:
            for paid_only in (False, True):
                for window in (1, 20, 400):
                    config = LifecycleConfig(count_only_paid=paid_only, tier_window_days=window, tiers=tiers,
                                             loyal_min_orders=3, loyal_window_days=window).validate()
                    assert_agree(cursor, [facts, CustomerFacts(email="b@example.com")], config,
                                 datetime(2026, 1, 21, tzinfo=UTC))
        finally:
            transaction.set_rollback(True)


@pytest.mark.parametrize("multiplier", ["2", "3", "1.5", "0.75"])
def test_the_personal_rhythm_at_its_edge_whole_and_fractional_multipliers(multiplier):
    """A steady buyer is at risk exactly when the silence reaches the median gap times the
    multiplier (a bigint product for a whole multiplier, numeric with decide's rounding for
    another), not a microsecond before; medians of an odd and an even number of gaps."""

    multiplier = Decimal(multiplier)
    config = LifecycleConfig(personal_gap_multiplier=multiplier, personal_gap_floor_days=1, at_risk_days=200,
                             lapsed_days=400).validate()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rhythms = {"odd": [timedelta(days=10), timedelta(days=10, microseconds=3), timedelta(days=11)],
               "even": [timedelta(days=10), timedelta(days=10, microseconds=3)]}
    with transaction.atomic(), connection.cursor() as cursor:
        try:
            for gaps in rhythms.values():
                moments = [start]
                for gap in gaps:
                    moments.append(moments[-1] + gap)
                facts = CustomerFacts(email="steady@example.com", has_account=True, orders=tuple(
                    OrderFact(str(i), moment, "USD", Decimal("10")) for i, moment in enumerate(moments)))
                sorted_gaps = sorted(gaps)
                middle = len(sorted_gaps) // 2
                median = (sorted_gaps[middle] if len(sorted_gaps) % 2
                          else (sorted_gaps[middle - 1] + sorted_gaps[middle]) / 2)
                edge = moments[-1] + timedelta(microseconds=int(
                    (Decimal(median // timedelta(microseconds=1)) * multiplier).to_integral_value()))
                for now in (edge - timedelta(microseconds=1), edge):
                    expected = decide(facts, config, now)
                    assert (expected.stage.value == "at_risk") == (now == edge), (gaps, now, expected.stage)
                    assert_agree(cursor, [facts], config, now)
        finally:
            transaction.set_rollback(True)
