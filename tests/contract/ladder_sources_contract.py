"""The host contract for `Host.ladder_sources`: deciding in SQL over a host's two SELECTs
equals deciding in Python over its `read_facts`, for a mix of customers.

`HostContract` includes these tests; a host without the optional method (the in-memory
host: it has no SQL) skips them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection, transaction

from lifecycle_plugin.engine.sql_ladder_run import evaluate
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.rules import LifecycleConfig
from lifecycle_plugin.rules.timeline import reconstruct
from tests.ladder.harness import python_view, sql_view

NOW = datetime.now(timezone.utc).replace(microsecond=0)
DAY = timedelta(days=1)


def a_mixed_store(store) -> None:
    """Accounts and guests, every default stage, guest orders before sign-up, an unconfirmed
    account with a guest history it must not get, a staff member who ordered, orders in
    every state, refunds and two currencies."""
    store.checkout("visitor@example.com", lines=0)
    store.account("lead@example.com")
    store.checkout("prospect@example.com", lines=3)
    store.order("new@example.com", placed_at=NOW - 5 * DAY)
    store.order("Repeat@Example.com", placed_at=NOW - 400 * DAY, total="300.00")  # a guest, before sign-up
    repeat = store.account("repeat@example.com", joined=NOW - 300 * DAY)
    store.order("repeat@example.com", user_id=repeat, placed_at=NOW - 20 * DAY)
    store.order("old-address@example.com", user_id=repeat, placed_at=NOW - 10 * DAY, currency="PLN", total="900")
    for days in (5, 40, 80, 120, 160):
        store.order("loyal@example.com", placed_at=NOW - days * DAY, total="400.00")
    store.order("risk@example.com", placed_at=NOW - 100 * DAY)
    store.order("lapsed@example.com", placed_at=NOW - 300 * DAY)
    store.order("refunded@example.com", placed_at=NOW - 3 * DAY, total="80.00", refunded="80.00")
    store.order("refunded@example.com", placed_at=NOW - 30 * DAY, total="80.00", refunded="30.00")
    store.order("states@example.com", placed_at=NOW - 2 * DAY, status="canceled")
    store.order("states@example.com", placed_at=NOW - 4 * DAY, status="draft")
    store.order("states@example.com", placed_at=NOW - 6 * DAY, paid=False)
    store.order("unconfirmed@example.com", placed_at=NOW - 50 * DAY)  # the guest's
    unconfirmed = store.account("unconfirmed@example.com")
    store.unconfirm(unconfirmed)
    store.order("unconfirmed@example.com", user_id=unconfirmed, placed_at=NOW - 8 * DAY)
    staff = store.staff_account("staff@example.com")
    store.order("staff@example.com", user_id=staff, placed_at=NOW - 7 * DAY)  # nobody's
    store.order("staff@example.com", placed_at=NOW - 9 * DAY)  # a guest's


class LadderSourcesContract:
    def test_sql_over_the_host_selects_decides_as_python_over_read_facts(self, host, store):
        if getattr(host, "ladder_sources", None) is None:
            pytest.skip(f"the {host.name} host has no SQL to decide in")
        a_mixed_store(store)
        config = LifecycleConfig()
        customers = [ref for chunk in host.customer_chunks(100) for ref in chunk]
        facts = host.read_facts(customers)
        sources = host.ladder_sources()
        with transaction.atomic(), connection.cursor() as cursor:
            result = evaluate(cursor, config, NOW, customers_sql=sources.customers_sql,
                              orders_sql=sources.orders_sql, params=dict(sources.params))
            cursor.execute(f"SELECT customer, user_id FROM ({sources.customers_sql}) AS c", dict(sources.params))
            accounts = dict(cursor.fetchall())

        assert set(result.decisions) == {ref.email for ref in customers}
        assert "staff@example.com" in result.decisions and not facts[CustomerRef("staff@example.com")].has_account
        for ref in customers:
            assert accounts[ref.email] == ref.user_id
            expected = python_view(reconstruct(facts[ref], config, NOW))
            actual = sql_view(result, ref.email)
            assert actual == expected, ref
        decided = {key: d.stage for key, d in result.decisions.items()}
        assert {decided[s + "@example.com"] for s in ("visitor", "lead", "prospect", "new", "loyal", "lapsed")} == {
            "visitor", "lead", "prospect", "new", "loyal", "lapsed"}
        assert decided["risk@example.com"] == "at_risk" and decided["repeat@example.com"] == "repeat"

    def test_a_subset_is_those_customers_only(self, host, store):
        if getattr(host, "ladder_sources", None) is None:
            pytest.skip(f"the {host.name} host has no SQL to decide in")
        a_mixed_store(store)
        wanted = [CustomerRef("loyal@example.com"), CustomerRef("unconfirmed@example.com")]
        sources = host.ladder_sources(wanted)
        with transaction.atomic(), connection.cursor() as cursor:
            result = evaluate(cursor, LifecycleConfig(), NOW, customers_sql=sources.customers_sql,
                              orders_sql=sources.orders_sql, params=dict(sources.params))
        assert set(result.decisions) == {"loyal@example.com", "unconfirmed@example.com"}
        assert result.decisions["loyal@example.com"].orders_count == 5
        assert result.decisions["unconfirmed@example.com"].orders_count == 1
