"""The prediction's two ways of reading the counted orders (one SQL pass over the host's
orders SELECT, and the host's facts) give the same orders, which are the ones plain SQL
over the sandbox's tables finds; and the run picks the SQL way only where it may."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection

from lifecycle_plugin import hookimpl
from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.engine.prediction_orders import read_counted_orders_through_facts
from lifecycle_plugin.engine.prediction_orders_sql import read_counted_orders_in_sql, why_not_in_sql
from lifecycle_plugin.engine.predictions import read_counted_orders
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import DeletedCustomer
from lifecycle_plugin.sandbox.generator import generate_store

from .test_predictions import ORDERS_SQL

np = pytest.importorskip("numpy")

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)

@pytest.fixture
def generated(store, engine, clock):
    clock.now = NOW
    generate_store(customers=400, years=2, seed=11, now=NOW)
    backfill(engine)
    return engine


def rows_of(arrays) -> list[tuple]:
    """The arrays as sorted (profile, day, amount, currency code) rows."""
    return sorted(zip(arrays.profile.tolist(), arrays.day.tolist(), arrays.amount.tolist(),
                      [arrays.currencies[index] for index in arrays.currency.tolist()]))


def independent_rows(paid_only: bool = False) -> list[tuple]:
    """(profile id, UTC day ordinal, net amount, currency) of every profile's counted order,
    by plain SQL over the sandbox tables (`test_predictions.ORDERS_SQL`)."""
    paid = " AND o.charge_status IN ('full', 'overcharged')" if paid_only else ""
    with connection.cursor() as cursor:
        cursor.execute(ORDERS_SQL + paid, [NOW])
        return sorted(cursor.fetchall())


def assert_sorted_by_profile_then_day(arrays) -> None:
    keys = list(zip(arrays.profile.tolist(), arrays.day.tolist()))
    assert keys == sorted(keys)


def test_sql_and_facts_read_the_orders_plain_sql_finds(generated, store):
    # A future order (after the run's now) and a fully refunded one must not count.
    customer = generated.host.customer_chunks(1).__next__()[0]
    store.place_order(customer.email, "30.00", at=NOW + timedelta(days=1), notify=False)
    refunded = store.place_order(customer.email, "40.00", at=NOW - timedelta(days=3), notify=False)
    store.refund_order(refunded)
    # A buyer the engine has not decided yet: no profile, left out and counted as such.
    store.place_order("not.decided.yet@example.com", "20.00", at=NOW - timedelta(days=1), notify=False)

    in_sql = read_counted_orders_in_sql(generated.host.ladder_sources(), generated.config, NOW)
    through_facts = read_counted_orders_through_facts(generated, chunk_size=37)

    expected = independent_rows()
    assert len(expected) > 800
    assert rows_of(in_sql) == rows_of(through_facts) == [
        (profile, day, pytest.approx(amount), currency) for profile, day, amount, currency in expected]
    assert_sorted_by_profile_then_day(in_sql)
    profiles = {row[0] for row in expected}
    repeat = {p for p in profiles if len({row[1] for row in expected if row[0] == p}) > 1}
    for arrays in (in_sql, through_facts):
        assert (arrays.customers, arrays.repeat_buyers, arrays.unprofiled) == (len(profiles), len(repeat), 1)


def test_paid_only_reads_only_fully_paid_orders(generated, store):
    buyer = generated.host.customer_chunks(1).__next__()[0]
    store.place_order(buyer.email, "25.00", at=NOW - timedelta(days=2), paid=False, notify=False)
    config = dataclasses.replace(generated.config, count_only_paid=True)
    generated.config = config

    in_sql = read_counted_orders_in_sql(generated.host.ladder_sources(), config, NOW)
    expected = independent_rows(paid_only=True)

    assert rows_of(in_sql) == rows_of(read_counted_orders_through_facts(generated))
    assert len(rows_of(in_sql)) == len(expected) < len(independent_rows())


def test_a_deleted_customers_orders_before_the_deletion_do_not_count(generated, store, clock):
    with connection.cursor() as cursor:
        cursor.execute("""SELECT p.email FROM lifecycle_plugin_customerprofile p
                          WHERE p.orders_count >= 2 AND p.user_id IS NULL ORDER BY p.email LIMIT 1""")
        (email,) = cursor.fetchone()
    generated.forget(CustomerRef(email))
    DeletedCustomer.objects.update(deleted_at=NOW - timedelta(days=10))  # tombstones take the wall clock
    clock.now = NOW - timedelta(days=5)
    store.place_order(email, "60.00", at=clock.now, notify=False)  # comes back as a new customer
    generated.process(CustomerRef(email))
    clock.now = NOW

    in_sql = read_counted_orders_in_sql(generated.host.ladder_sources(), generated.config, NOW)
    theirs = [row for row in rows_of(in_sql) if row[2] == 60.0 and row[1] == (NOW - timedelta(days=5)).toordinal()]

    assert rows_of(in_sql) == rows_of(read_counted_orders_through_facts(generated))
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM lifecycle_plugin_customerprofile WHERE email = %s", [email])
        (profile_id,) = cursor.fetchone()
    assert [row for row in rows_of(in_sql) if row[0] == profile_id] == theirs and len(theirs) == 1


def test_a_collect_facts_hook_keeps_the_sql_reading(generated):
    # Such hooks add extra facts (the built-in referral action has one), never orders.
    class AddsFacts:
        @hookimpl
        def lifecycle_collect_facts(self, customers):
            return {customer: {"reviews_written": 1} for customer in customers}

    generated.pm.register(AddsFacts())
    assert why_not_in_sql(generated) is None
    assert rows_of(read_counted_orders(generated)) == rows_of(read_counted_orders_through_facts(generated))


def test_the_in_memory_host_reads_through_facts(generated):
    class NoSqlHost:
        name = "no-sql"

    engine = type("Engine", (), {"host": NoSqlHost(), "pm": generated.pm})()
    assert why_not_in_sql(engine) == "the no-sql host offers no SQL (Host.ladder_sources)"
