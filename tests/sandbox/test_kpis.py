"""The owner's KPIs and cohort retention over GraphQL on a generated sandbox store (two
channels, two currencies, refunds and cancellations), every figure checked against a
computation of its own: plain SQL over the sandbox's tables and the profiles and history
the backfill wrote, aggregated here in Python, never through the code under test."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection

from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.graphql.execution import execute_graphql
from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.sandbox.generator import generate_store

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
SINCE = datetime(2025, 9, 1, tzinfo=timezone.utc)
UNTIL = datetime(2026, 3, 1, tzinfo=timezone.utc)
STAFF = Viewer.app(can_manage_users=True)
ACTIVE_NOT = {"visitor", "lead", "prospect", "lapsed"}

#: Every counted order of every profile, straight from the sandbox tables: placed (not
#: draft, unconfirmed, cancelled or expired), not fully refunded, matched to the profile
#: by account or by e-mail, at its amount net of refunds.
ORDERS_SQL = """
    SELECT p.id, p.stage, p.tier, o.created_at, o.currency, ch.slug, o.total_amount - o.refunded_amount
    FROM lifecycle_sandbox_order o
    JOIN lifecycle_sandbox_channel ch ON ch.id = o.channel_id
    LEFT JOIN auth_user u ON u.id = o.user_id
    JOIN lifecycle_plugin_customerprofile p ON p.email = lower(trim(coalesce(u.email, o.user_email)))
    WHERE o.status NOT IN ('draft', 'unconfirmed', 'canceled', 'expired')
      AND NOT (o.total_amount > 0 AND o.refunded_amount >= o.total_amount)
"""

KPIS = """query($groupBy: LifecycleKpiGrouping!, $since: DateTime!, $until: DateTime!, $channel: String,
                $currency: String, $first: Int, $last: Int) {
  lifecycleKpis(groupBy: $groupBy, since: $since, until: $until, channel: $channel, currency: $currency,
                first: $first, last: $last) {
    groupBy periodDays channel currency
    total { ...row }
    rows { ...row }
  }
}
fragment row on LifecycleKpiRow {
  key stage { key } tier { key } cohort
  customers buyers orders transactionFrequency purchaseFrequencyPerYear customersWithOrders
  averageLifespanDays averageLifespanYears repeatBuyers repeatPurchaseRate
  churn { activeAtStart churned rate }
  money { currency orders revenue averageOrderValue spendToDate customersToDate historicClv simpleClv }
}"""

RETENTION = """query($since: DateTime!, $until: DateTime!, $channel: String, $currency: String, $months: Int,
                     $first: Int, $last: Int) {
  lifecycleRetention(since: $since, until: $until, channel: $channel, currency: $currency, months: $months,
                     first: $first, last: $last) {
    months cohortsInPeriod
    cohorts { cohort customers months { month start complete customers share
              revenue { currency amount } revenuePerCustomer { currency amount } } }
  }
}"""


def run(engine, query: str, viewer: Viewer = STAFF, **variables) -> dict:
    return execute_graphql({"query": query, "variables": variables}, viewer, engine_factory=lambda: engine)


def answer(engine, query: str, **variables) -> dict:
    body = run(engine, query, **variables)
    assert "errors" not in body, body["errors"]
    return body["data"]


@pytest.fixture
def generated(store, engine):
    generate_store(customers=500, years=3, seed=11, now=NOW)
    backfill(engine)
    return engine


def counted_orders():
    with connection.cursor() as cursor:
        cursor.execute(ORDERS_SQL)
        return cursor.fetchall()


def profiles():
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, stage, tier FROM lifecycle_plugin_customerprofile")
        return cursor.fetchall()


def stage_at_start_and_lapsed(since, until):
    """Per profile: the stage of its last move before `since`, and whether it moved to lapsed in the period."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT profile_id, to_stage, occurred_at FROM lifecycle_plugin_stagetransition "
                       "ORDER BY profile_id, occurred_at, id")
        start, lapsed = {}, set()
        for profile, stage, at in cursor.fetchall():
            if at < since:
                start[profile] = stage
            elif at < until and stage == "lapsed":
                lapsed.add(profile)
    return start, lapsed


def month_of(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m")


def expected_kpis(group_by, since, until, channel=None, currency=None):
    """{key: figures} and the total, computed from the rows alone."""
    orders = [o for o in counted_orders() if o[3] < until]
    cohort = {}
    for profile, _, _, at, *_ in sorted(orders, key=lambda o: o[3]):
        cohort.setdefault(profile, month_of(at))
    people = {pid: {"stage": stage, "tier": tier, "cohort": cohort.get(pid)}[group_by]
              for pid, stage, tier in profiles()}
    if group_by == "cohort":
        people = {pid: key for pid, key in people.items() if key is not None}
    scoped = [o for o in orders if (channel is None or o[5] == channel) and (currency is None or o[4] == currency)]
    start, lapsed = stage_at_start_and_lapsed(since, until)
    groups = defaultdict(set)
    for pid, key in people.items():
        groups[key].add(pid)
        groups["<total>"].add(pid)
    result = {}
    for key, members in groups.items():
        mine = [o for o in scoped if o[0] in members]
        period = [o for o in mine if o[3] >= since]
        buyers = {o[0] for o in period}
        per_customer = defaultdict(list)
        for o in mine:
            per_customer[o[0]].append(o[3])
        spans = [(max(ts) - min(ts)).total_seconds() / 86400 for ts in per_customer.values()]
        if group_by == "stage":
            active = {p for p, s in start.items() if s not in ACTIVE_NOT and (key == "<total>" or s == key)}
        else:
            active = {p for p, s in start.items() if s not in ACTIVE_NOT and p in members}
        money = {}
        for cur in sorted({o[4] for o in mine}):
            in_cur = [o for o in mine if o[4] == cur]
            in_period = [o for o in period if o[4] == cur]
            money[cur] = {"orders": len(in_period), "revenue": sum((o[6] for o in in_period), Decimal(0)),
                          "spend": sum((o[6] for o in in_cur), Decimal(0)), "spenders": len({o[0] for o in in_cur})}
        result[key] = {
            "customers": len(members), "buyers": len(buyers), "orders": len(period),
            "repeat": len({b for b in buyers if len(per_customer[b]) >= 2}),
            "with_orders": len(per_customer), "lifespan": sum(spans) / len(spans) if spans else None,
            "active": len(active), "churned": len(active & lapsed), "money": money,
        }
    return result


def near(got, want) -> bool:
    """Equal up to float rounding; None only where None is expected."""
    return got is None if want is None else got == pytest.approx(want, rel=1e-9, abs=1e-9)


def check_row(row, want, period_days):
    assert row["customers"] == want["customers"]
    assert row["buyers"] == want["buyers"]
    assert row["orders"] == want["orders"]
    assert row["repeatBuyers"] == want["repeat"]
    assert row["customersWithOrders"] == want["with_orders"]
    assert row["churn"]["activeAtStart"] == want["active"]
    assert row["churn"]["churned"] == want["churned"]
    frequency = want["orders"] / want["buyers"] if want["buyers"] else None
    assert near(row["transactionFrequency"], frequency)
    per_year = None if frequency is None else frequency * 365.25 / period_days
    assert near(row["purchaseFrequencyPerYear"], per_year)
    assert near(row["averageLifespanDays"], want["lifespan"])
    years = None if want["lifespan"] is None else want["lifespan"] / 365.25
    assert near(row["averageLifespanYears"], years)
    assert near(row["repeatPurchaseRate"], want["repeat"] / want["buyers"] if want["buyers"] else None)
    assert near(row["churn"]["rate"], want["churned"] / want["active"] if want["active"] else None)
    assert [m["currency"] for m in row["money"]] == sorted(want["money"])
    for money in row["money"]:
        w = want["money"][money["currency"]]
        assert money["orders"] == w["orders"]
        assert money["revenue"] == pytest.approx(float(w["revenue"]), abs=1e-6)
        assert money["spendToDate"] == pytest.approx(float(w["spend"]), abs=1e-6)
        assert money["customersToDate"] == w["spenders"]
        aov = float(w["revenue"] / w["orders"]) if w["orders"] else None
        assert near(money["averageOrderValue"], aov)
        assert near(money["historicClv"], float(w["spend"] / w["spenders"]))
        simple = None if None in (per_year, aov, years) else per_year * aov * years
        assert near(money["simpleClv"], simple)


@pytest.mark.parametrize("group_by", ["STAGE", "TIER", "COHORT"])
@pytest.mark.parametrize("channel, currency", [(None, None), ("channel-pln", None), (None, "USD")])
def test_every_kpi_matches_an_independent_computation(generated, group_by, channel, currency):
    data = answer(generated, KPIS, groupBy=group_by, since=SINCE.isoformat(), until=UNTIL.isoformat(),
                  channel=channel, currency=currency)["lifecycleKpis"]
    want = expected_kpis(group_by.lower(), SINCE, UNTIL, channel, currency)
    days = (UNTIL - SINCE).total_seconds() / 86400
    assert data["periodDays"] == pytest.approx(days)
    total = want.pop("<total>")
    check_row(data["total"], total, days)
    assert data["total"]["key"] is None
    keys = [row["key"] for row in data["rows"]]
    assert set(keys) >= set(want)
    for row in data["rows"]:
        check_row(row, want.get(row["key"], {"customers": 0, "buyers": 0, "orders": 0, "repeat": 0, "with_orders": 0,
                                             "lifespan": None, "active": 0, "churned": 0, "money": {}}), days)
        named = {"STAGE": row["stage"] and row["stage"]["key"], "TIER": row["tier"] and row["tier"]["key"],
                 "COHORT": row["cohort"]}[group_by]
        assert named == row["key"]
    # The store really has what the test is about: buyers, repeat buyers, churn, two currencies.
    assert total["buyers"] > 50 and total["repeat"] > 10
    if (channel, currency) == (None, None):
        assert total["churned"] > 0 and len(total["money"]) == 2
    if group_by == "STAGE":
        assert keys[:8] == ["visitor", "lead", "prospect", "new", "repeat", "loyal", "at_risk", "lapsed"]
    if group_by == "COHORT":
        assert keys == sorted(keys) and len(keys) > 20


def test_cohorts_first_and_last(generated):
    variables = dict(groupBy="COHORT", since=SINCE.isoformat(), until=UNTIL.isoformat())
    every = [row["key"] for row in answer(generated, KPIS, **variables)["lifecycleKpis"]["rows"]]
    assert [r["key"] for r in answer(generated, KPIS, first=3, **variables)["lifecycleKpis"]["rows"]] == every[:3]
    assert [r["key"] for r in answer(generated, KPIS, last=2, **variables)["lifecycleKpis"]["rows"]] == every[-2:]


def expected_retention(since, until, months, channel=None):
    orders = [o for o in counted_orders() if o[3] < until]
    cohort = {}
    for o in sorted(orders, key=lambda o: o[3]):
        cohort.setdefault(o[0], month_of(o[3]))
    first_month = month_of(since)
    sizes = defaultdict(int)
    for month in cohort.values():
        if first_month <= month and datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=timezone.utc) < until:
            sizes[month] += 1
    cells = defaultdict(set)
    revenue = defaultdict(Decimal)
    for profile, _, _, at, cur, slug, amount in orders:
        if cohort[profile] not in sizes or (channel and slug != channel):
            continue
        start = datetime.strptime(cohort[profile] + "-01", "%Y-%m-%d")
        offset = (at.astimezone(timezone.utc).year - start.year) * 12 + at.astimezone(timezone.utc).month - start.month
        if offset <= months:
            cells[(cohort[profile], offset)].add(profile)
            revenue[(cohort[profile], offset, cur)] += amount
    return sizes, cells, revenue


@pytest.mark.parametrize("channel", [None, "default-channel"])
def test_retention_matches_an_independent_computation(generated, channel):
    since, until = datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2025, 7, 15, tzinfo=timezone.utc)
    data = answer(generated, RETENTION, since=since.isoformat(), until=until.isoformat(), months=6,
                  channel=channel)["lifecycleRetention"]
    sizes, cells, revenue = expected_retention(since, until, 6, channel)
    assert [c["cohort"] for c in data["cohorts"]] == sorted(sizes)
    assert data["cohortsInPeriod"] == len(sizes) == 19
    for cohort in data["cohorts"]:
        size = sizes[cohort["cohort"]]
        assert cohort["customers"] == size
        start = datetime.strptime(cohort["cohort"] + "-01", "%Y-%m-%d").replace(tzinfo=timezone.utc)
        last = 6 if cohort["cohort"] <= "2025-01" else (2025 - start.year) * 12 + 7 - start.month
        assert [m["month"] for m in cohort["months"]] == list(range(last + 1))
        for month in cohort["months"]:
            key = (cohort["cohort"], month["month"])
            assert month["customers"] == len(cells[key])
            assert month["share"] == pytest.approx(len(cells[key]) / size)
            want = {cur: amount for (c, o, cur), amount in revenue.items() if (c, o) == key}
            assert {m["currency"]: m["amount"] for m in month["revenue"]} == pytest.approx(
                {cur: float(a) for cur, a in want.items()})
            assert {m["currency"]: m["amount"] for m in month["revenuePerCustomer"]} == pytest.approx(
                {cur: float(a / size) for cur, a in want.items()})
            assert month["complete"] == (datetime.fromisoformat(month["start"]).month != 7
                                         or datetime.fromisoformat(month["start"]).year != 2025)
        if channel is None:
            assert cohort["months"][0]["share"] == 1.0  # everyone ordered in their first month
