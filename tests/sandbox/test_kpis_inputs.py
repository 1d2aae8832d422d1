"""The KPI and retention fields on an empty store, with bad arguments, for callers without
the permission, and on a host without SQL; and what counts: refunds, cancellations and a
deleted customer's old orders, on a small store written order by order."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.graphql.execution import execute_graphql
from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.testing import MemoryHost

from .test_kpis import KPIS, RETENTION

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
STAFF = Viewer.app(can_manage_users=True)
PERIOD = {"since": "2026-01-01T00:00:00Z", "until": "2026-06-01T00:00:00Z"}


def run(engine, query, viewer=STAFF, **variables):
    return execute_graphql({"query": query, "variables": variables}, viewer, engine_factory=lambda: engine)


def errors(body) -> list[tuple[str, str | None]]:
    return [(e["extensions"]["code"], e["extensions"].get("argument")) for e in body.get("errors", [])]


@pytest.mark.parametrize("group_by", ["STAGE", "TIER", "COHORT"])
def test_an_empty_store_answers_zeros_and_nulls(store, engine, group_by):
    body = run(engine, KPIS, groupBy=group_by, **PERIOD)
    assert "errors" not in body, body
    data = body["data"]["lifecycleKpis"]
    total = data["total"]
    assert (total["customers"], total["buyers"], total["orders"], total["repeatBuyers"]) == (0, 0, 0, 0)
    assert total["transactionFrequency"] is None and total["purchaseFrequencyPerYear"] is None
    assert total["averageLifespanDays"] is None and total["repeatPurchaseRate"] is None
    assert total["churn"] == {"activeAtStart": 0, "churned": 0, "rate": None}
    assert total["money"] == []
    expected_rows = {"STAGE": 8, "TIER": 4, "COHORT": 0}[group_by]  # every stage; bronze/silver/gold and none
    assert len(data["rows"]) == expected_rows
    assert all(row["customers"] == 0 and row["money"] == [] for row in data["rows"])
    retention = run(engine, RETENTION, **PERIOD)
    assert retention == {"data": {"lifecycleRetention": {"months": 12, "cohortsInPeriod": 0, "cohorts": []}}}


@pytest.fixture
def shop(store):
    """Ann (USD, then PLN), a cancelled and a fully refunded order, a partly refunded one."""
    ann = store.register("ann@example.com", at=NOW - timedelta(days=400))
    store.place_order(ann, "100.00", at=datetime(2025, 11, 10, tzinfo=timezone.utc))
    store.place_order(ann, "60.00", at=datetime(2026, 2, 3, tzinfo=timezone.utc))
    partly = store.place_order(ann, "40.00", at=datetime(2026, 3, 3, tzinfo=timezone.utc))
    store.refund_order(partly, "15.00")
    store.place_order(ann, "200.00", at=datetime(2026, 4, 3, tzinfo=timezone.utc), channel="channel-pln")
    cancelled = store.place_order(ann, "999.00", at=datetime(2026, 4, 4, tzinfo=timezone.utc))
    store.cancel_order(cancelled)
    refunded = store.place_order("guest@example.com", "50.00", at=datetime(2026, 2, 1, tzinfo=timezone.utc))
    store.refund_order(refunded)
    return store


def test_refunds_cancellations_and_channels_on_a_small_store(shop, engine):
    data = run(engine, KPIS, groupBy="COHORT", **PERIOD)["data"]["lifecycleKpis"]
    assert [row["cohort"] for row in data["rows"]] == ["2025-11"]  # the guest's only order was refunded
    [row] = data["rows"]
    assert (row["customers"], row["buyers"], row["orders"], row["repeatBuyers"]) == (1, 1, 3, 1)
    money = {m["currency"]: m for m in row["money"]}
    assert money["USD"]["orders"] == 2 and money["USD"]["revenue"] == 85.0  # 60 + (40 - 15)
    assert money["USD"]["averageOrderValue"] == 42.5
    assert money["USD"]["spendToDate"] == 185.0 and money["USD"]["historicClv"] == 185.0
    assert money["PLN"]["revenue"] == 200.0
    pln = run(engine, KPIS, groupBy="COHORT", channel="channel-pln", **PERIOD)["data"]["lifecycleKpis"]
    assert [m["currency"] for m in pln["rows"][0]["money"]] == ["PLN"] and pln["rows"][0]["orders"] == 1


def test_a_deleted_customers_earlier_orders_do_not_count(store, engine):
    """A guest forgets themselves (GDPR) and orders again: only the new order counts."""
    from django.utils import timezone as dj_timezone

    from lifecycle_plugin.host import CustomerRef

    now = dj_timezone.now()  # tombstones are dated with the wall clock
    store.place_order("gus@example.com", "70.00", at=now - timedelta(days=40))
    engine.forget(CustomerRef("gus@example.com", None))
    store.place_order("gus@example.com", "30.00", at=now + timedelta(minutes=1))
    period = {"since": (now - timedelta(days=60)).isoformat(), "until": (now + timedelta(days=1)).isoformat()}
    data = run(engine, KPIS, groupBy="STAGE", **period)["data"]["lifecycleKpis"]
    assert data["total"]["orders"] == 1 and data["total"]["customers"] == 1
    assert data["total"]["money"][0]["spendToDate"] == 30.0
    cohorts = run(engine, KPIS, groupBy="COHORT", **period)["data"]["lifecycleKpis"]["rows"]
    assert [row["cohort"] for row in cohorts] == [(now + timedelta(minutes=1)).strftime("%Y-%m")]


@pytest.mark.parametrize("variables, code, argument", [
    ({"since": "2026-06-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "BAD_USER_INPUT", "until"),
    ({"since": "2026-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "BAD_USER_INPUT", "until"),
    ({"since": "2010-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "BAD_USER_INPUT", "until"),
    ({**PERIOD, "currency": "EUR"}, "BAD_USER_INPUT", "currency"),
    ({**PERIOD, "currency": "dollars"}, "BAD_USER_INPUT", "currency"),
    ({**PERIOD, "channel": "no-such-channel"}, "BAD_USER_INPUT", "channel"),
    ({**PERIOD, "first": 1001}, "PAGE_TOO_LARGE", "first"),
    ({**PERIOD, "last": 5000}, "PAGE_TOO_LARGE", "last"),
    ({**PERIOD, "first": -1}, "BAD_USER_INPUT", "first"),
    ({**PERIOD, "first": 2, "last": 2}, "BAD_USER_INPUT", "last"),
])
def test_bad_arguments_are_errors_naming_the_argument(shop, engine, variables, code, argument):
    for query, extra in ((KPIS, {"groupBy": "COHORT"}), (RETENTION, {})):
        body = run(engine, query, **extra, **variables)
        assert errors(body) == [(code, argument)], body
        assert list(body["data"].values()) == [None]


def test_more_bad_arguments(shop, engine):
    assert errors(run(engine, KPIS, groupBy="STAGE", first=3, **PERIOD)) == [("BAD_USER_INPUT", "first")]
    assert errors(run(engine, RETENTION, months=121, **PERIOD)) == [("BAD_USER_INPUT", "months")]
    assert errors(run(engine, RETENTION, months=-1, **PERIOD)) == [("BAD_USER_INPUT", "months")]
    # Exactly ten years is allowed; a currency in lower case is read as its code.
    ok = run(engine, KPIS, groupBy="STAGE", since="2016-06-01T00:00:00Z", until="2026-06-01T00:00:00Z",
             currency="pln")
    assert "errors" not in ok and ok["data"]["lifecycleKpis"]["currency"] == "PLN"


@pytest.mark.parametrize("viewer, code", [
    (Viewer.customer(1, "ann@example.com"), "PERMISSION_DENIED"),
    (Viewer.staff(2, "clerk@example.com", can_manage_users=False), "PERMISSION_DENIED"),
    (Viewer.app(can_manage_users=False), "PERMISSION_DENIED"),
    (Viewer.anonymous(), "UNAUTHENTICATED"),
])
def test_only_manage_users_reads_them(shop, engine, viewer, code):
    for query, extra in ((KPIS, {"groupBy": "STAGE"}), (RETENTION, {})):
        body = run(engine, query, viewer, **extra, **PERIOD)
        assert [e["extensions"]["code"] for e in body["errors"]] == [code]
        assert list(body["data"].values()) == [None]


def test_a_host_without_sql_says_so(db):
    engine = LifecycleEngine(MemoryHost(), plugin_manager=make_plugin_manager(builtins=[], load_entry_points=False))
    body = run(engine, KPIS, groupBy="STAGE", **PERIOD)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAVAILABLE"]
    assert "offers no SQL" in body["errors"][0]["message"]
