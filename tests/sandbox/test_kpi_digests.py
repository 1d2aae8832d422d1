"""The KPIs read from the ladder digests (`engine.kpi_digests`) against the same KPIs read from
the host's orders (`engine.kpi_orders`), and both against plain SQL over the sandbox's rows
(`test_kpis.expected_kpis`): on a generated store with orders of one customer and currency
placed at the same microsecond, and periods that start and end exactly on an order."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection

from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.engine.kpi_orders import Scope
from lifecycle_plugin.engine.kpis import kpis
from lifecycle_plugin.engine.retention import retention
from lifecycle_plugin.sandbox.generator import generate_store

from .test_kpis import KPIS, NOW, SINCE, UNTIL, answer, check_row, counted_orders, expected_kpis

GROUPINGS = ("stage", "tier", "cohort")


def _tie_orders() -> int:
    """Give some customers' second order the moment of their first (same currency): the
    digest then holds two entries at one moment. Returns how many were moved."""
    with connection.cursor() as cursor:
        cursor.execute("""
            WITH ranked AS (
                SELECT id, created_at, row_number() OVER w AS n, lag(created_at) OVER w AS before
                FROM lifecycle_sandbox_order
                WINDOW w AS (PARTITION BY coalesce(user_id::text, user_email), currency ORDER BY created_at, id))
            UPDATE lifecycle_sandbox_order o SET created_at = r.before
            FROM ranked r WHERE r.id = o.id AND r.n = 2 AND hashtext(r.id::text) % 3 = 0""")
        return cursor.rowcount


@pytest.fixture
def tied(store, engine):
    generate_store(customers=400, years=3, seed=29, now=NOW)
    assert _tie_orders() > 20
    backfill(engine)
    return engine


def _remove_one_digest() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM lifecycle_plugin_ladderdigest WHERE profile_id = "
                       "(SELECT min(profile_id) FROM lifecycle_plugin_ladderdigest)")


def _same(left, right) -> None:
    """Two reports equal, the mean lifespans up to float rounding."""
    def rows(report):
        return [dataclasses.replace(row, lifespan_days=None) for row in (report.total, *report.rows)]

    assert rows(left) == rows(right)
    for a, b in zip((left.total, *left.rows), (right.total, *right.rows)):
        assert (a.lifespan_days is None) == (b.lifespan_days is None)
        if a.lifespan_days is not None:
            assert a.lifespan_days == pytest.approx(b.lifespan_days, rel=1e-12)


def _exact_bounds() -> tuple:
    """A period from the moment of one customer's later (not first) counted order to
    another's: a first order on a bound would only move a cohort."""
    later, seen = set(), set()
    for profile, at in sorted((row[0], row[3]) for row in counted_orders()):
        if profile in seen:
            later.add(at)
        seen.add(profile)
    moments = sorted(later)
    return moments[len(moments) // 3], moments[2 * len(moments) // 3]


def test_the_digests_give_what_the_orders_give(tied):
    since, until = _exact_bounds()
    scopes = [Scope.checked(SINCE, UNTIL), Scope.checked(SINCE, UNTIL, currency="USD"),
              Scope.checked(since, until), Scope.checked(since, until, currency="PLN"),
              Scope.checked(NOW - timedelta(days=3652), NOW + timedelta(days=1))]
    from_digests = {(scope, by): kpis(tied.host, tied.config, scope, by) for scope in scopes for by in GROUPINGS}
    assert {report.reads for report in from_digests.values()} == {"digests"}
    _remove_one_digest()  # one profile without a digest: every figure comes from the orders
    for (scope, by), report in from_digests.items():
        from_orders = kpis(tied.host, tied.config, scope, by)
        assert from_orders.reads == "orders"
        _same(report, from_orders)


@pytest.mark.parametrize("group_by", ["STAGE", "COHORT"])
def test_periods_on_an_orders_moment_match_an_independent_computation(tied, group_by):
    since, until = _exact_bounds()
    data = answer(tied, KPIS, groupBy=group_by, since=since.isoformat(), until=until.isoformat())["lifecycleKpis"]
    want = expected_kpis(group_by.lower(), since, until)
    days = (until - since).total_seconds() / 86400
    check_row(data["total"], want.pop("<total>"), days)
    for row in data["rows"]:
        if row["key"] in want:
            check_row(row, want[row["key"]], days)


def test_a_channel_or_paid_only_reads_the_orders(tied):
    year = Scope.checked(SINCE, UNTIL)
    assert kpis(tied.host, tied.config, year, "stage").reads == "digests"
    channel = Scope.checked(SINCE, UNTIL, channel="channel-pln")
    assert kpis(tied.host, tied.config, channel, "stage").reads == "orders"
    paid_only = dataclasses.replace(tied.config, count_only_paid=True)
    assert kpis(tied.host, paid_only, year, "stage").reads == "orders"


def _ending_on_a_second_order() -> Scope:
    """From the month of a customer's first counted order to the moment of their second."""
    moments = {}
    for profile, at in sorted((row[0], row[3]) for row in counted_orders()):
        moments.setdefault(profile, []).append(at)
    repeat = sorted(orders[:2] for orders in moments.values() if len(orders) >= 2 and orders[1] > orders[0])
    first, second = repeat[len(repeat) // 2]
    return Scope.checked(datetime(first.year, first.month, 1, tzinfo=timezone.utc), second)


def test_retention_from_the_digests_is_retention_from_the_orders(tied):
    since, until = _exact_bounds()
    scopes = [Scope.checked(since, until), _ending_on_a_second_order(), Scope.checked(since, until, currency="USD"),
              Scope.checked(datetime(2023, 6, 1, tzinfo=timezone.utc), NOW),
              Scope.checked(datetime(2024, 2, 1, tzinfo=timezone.utc), datetime(2025, 3, 1, tzinfo=timezone.utc))]
    for scope in scopes:
        for months, first, last in ((12, None, None), (3, 2, None), (0, None, 4), (120, None, None)):
            from_digests = retention(tied.host, tied.config, scope, months, first, last)
            from_orders = retention(tied.host, tied.config, scope, months, first, last, from_digests=False)
            assert from_digests.reads == "digests" and from_orders.reads == "orders"
            assert from_digests.cohorts and from_digests.cohorts == from_orders.cohorts
            assert from_digests.cohorts_in_period == from_orders.cohorts_in_period
