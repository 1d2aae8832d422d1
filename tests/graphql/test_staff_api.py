"""The staff and app API: MANAGE_USERS opens every customer, the statistics and the mutation."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifecycle_plugin.graphql.viewer import Viewer
from lifecycle_plugin.models import CustomerProfile, StageTransition, TierChange
from lifecycle_plugin.rules import Stage

from .conftest import T0, codes, global_id, staff_viewer

pytestmark = pytest.mark.django_db

APP = Viewer.app(can_manage_users=True)

CUSTOMER = """
query($id: ID, $email: String) {
  customerLifecycle(userId: $id, email: $email) {
    userId
    email
    stage { code }
    stageRule
    nextCheckAt
    history { fromStage { code key } toStage { code key label } occurredAt reason rule facts event }
    tierHistory { fromTier { key } toTier { code key } reason tierWindowSpend { currency amount } }
  }
}
"""


def test_staff_with_manage_users_reads_a_customer_with_history(store, ann, admin):
    response = store.run(CUSTOMER, staff_viewer(admin), id=global_id(ann.pk))
    assert "errors" not in response
    customer = response["data"]["customerLifecycle"]
    assert customer["email"] == "ann@example.com"
    assert customer["stageRule"] == "repeat:two_or_more_orders"
    # Three orders: her own rhythm applies (median gap 15 days x 2), at risk 30 days after the last.
    assert customer["nextCheckAt"] == (T0 + timedelta(days=60)).isoformat()
    assert customer["history"] == [
        {
            "fromStage": None,
            "toStage": {"code": "NEW", "key": "new", "label": "New customer"},
            "occurredAt": T0.isoformat(),
            "reason": "EVENT",
            "rule": "new:one_order",
            "facts": {"orders": 1, "last_order_at": T0.isoformat(), "days_since_last_order": 0},
            "event": "test",
        },
        {
            "fromStage": {"code": "NEW", "key": "new"},
            "toStage": {"code": "REPEAT", "key": "repeat", "label": "Repeat customer"},
            "occurredAt": (T0 + timedelta(days=30)).isoformat(),
            "reason": "EVENT",
            "rule": "repeat:two_or_more_orders",
            "facts": {"orders": 3, "last_order_at": (T0 + timedelta(days=30)).isoformat(), "days_since_last_order": 0},
            "event": "test",
        },
    ]
    assert [(t["fromTier"], t["toTier"]) for t in customer["tierHistory"]] == [
        (None, {"code": "BRONZE", "key": "bronze"}),
        ({"key": "bronze"}, {"code": "SILVER", "key": "silver"}),
    ]


def test_an_app_with_manage_users_reads_by_email_in_any_case(store, ann):
    response = store.run(CUSTOMER, APP, email="  ANN@Example.com ")
    assert response["data"]["customerLifecycle"]["userId"] == global_id(ann.pk)


def test_customer_lifecycle_errors(store, ann, admin):
    staff = staff_viewer(admin)
    assert codes(store.run(CUSTOMER, staff, email="nobody@example.com")) == ["NOT_FOUND"]
    assert codes(store.run(CUSTOMER, staff)) == ["BAD_USER_INPUT"]  # neither id nor e-mail
    assert codes(store.run(CUSTOMER, staff, id="bm90IGEgdXNlcg==")) == ["BAD_USER_INPUT"]  # "not a user"
    assert codes(store.run(CUSTOMER, staff, id="T3JkZXI6MQ==")) == ["BAD_USER_INPUT"]  # "Order:1"


#: One query per field of the staff API; a test below checks none is missing.
STAFF_QUERIES = [
    '{ customerLifecycle(email: "ann@example.com") { email } }',
    "{ lifecycleCustomers { totalCount } }",
    "{ lifecycleStageCounts { count } }",
    "{ lifecycleTierCounts { count } }",
    '{ lifecycleFunnel(since: "2025-01-01T00:00:00+00:00", until: "2027-01-01T00:00:00+00:00") { since } }',
    "{ lifecyclePredictionsByStage { predicted } }",
    '{ lifecycleKpis(groupBy: STAGE, since: "2025-01-01T00:00:00Z", until: "2026-01-01T00:00:00Z") '
    "{ total { customers } } }",
    '{ lifecycleRetention(since: "2025-01-01T00:00:00Z", until: "2026-01-01T00:00:00Z") { months } }',
    '{ lifecycleReferrals(since: "2025-01-01T00:00:00+00:00", until: "2027-01-01T00:00:00+00:00") { made } }',
    "{ lifecycleStages { key } }",
    "{ lifecycleConfig { atRiskDays } }",
    "{ lifecycleWhatIf(config: {atRiskDays: 60}) { complete } }",
    "{ lifecycleRecomputeStatus { done } }",
    '{ lifecycleActionResults(since: "2025-01-01T00:00:00Z", until: "2026-01-01T00:00:00Z") { windowDays } }',
    '{ lifecycleStageFlow(since: "2025-01-01T00:00:00Z", until: "2026-01-01T00:00:00Z", interval: MONTH) '
    "{ interval } }",
    'mutation { lifecycleRecompute(email: "ann@example.com") { stageChanged } }',
    'mutation { lifecycleMessagePreview(action: "review_request") { subject } }',
    "{ lifecycleSettings { name } }",
    "{ lifecycleLedger { totalCount } }",
    "{ lifecycleStageTierCounts { count } }",
    'mutation { lifecycleSettingsUpdate(values: [{name: "at_risk_days", value: "50"}]) { saved } }',
    "{ lifecycleOutbox { totalCount } }",
    "{ lifecycleTestSends { id } }",
    'mutation { lifecycleMessageTestSend(action: "review_request", sendTo: "qa@shop.example") { sent } }',
]


def test_every_field_but_the_customers_own_and_federation_is_a_staff_field_checked_here():
    from lifecycle_plugin.graphql.schema import schema

    fields = set(schema.get_query_type().fields) | set(schema.get_mutation_type().fields)
    checked = {re.match(r"(?:mutation )?\{ (\w+)", query).group(1) for query in STAFF_QUERIES}
    assert fields - {"myLifecycle", "lifecycleViewer", "_entities", "_service"} == checked


@pytest.mark.parametrize("query", STAFF_QUERIES)
def test_staff_api_refuses_staff_without_permission_and_anonymous(store, ann, clerk, query):
    for viewer, code in [
        (staff_viewer(clerk), "PERMISSION_DENIED"),
        (Viewer.app(can_manage_users=False), "PERMISSION_DENIED"),
        (Viewer.anonymous(), "UNAUTHENTICATED"),
    ]:
        response = store.run(query, viewer)
        assert list(response["data"].values()) == [None]
        assert codes(response) == [code]


def test_staff_api_over_http_with_a_sandbox_token(store, ann, admin, clerk):
    from django.test import Client

    from lifecycle_plugin.sandbox.auth import issue_sandbox_token

    query = {"query": '{ customerLifecycle(email: "ann@example.com") { stage { key } } }'}
    allowed = Client().post(
        "/graphql/", query, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {issue_sandbox_token(admin)}"
    )
    assert allowed.json() == {"data": {"customerLifecycle": {"stage": {"key": "repeat"}}}}
    refused = Client().post(
        "/graphql/", query, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {issue_sandbox_token(clerk)}"
    )
    assert codes(refused.json()) == ["PERMISSION_DENIED"]


# ---------------------------------------------------------------------- the customer list


def make_customers(store, clock):
    """lapsed, at_risk, new, repeat, loyal, lead and prospect customers on one timeline."""
    store.account("lead@example.com")
    store.host.cart("prospect@example.com", 2)
    store.order("lapsed@example.com", total="2000", at=T0)
    store.order("risky@example.com", total="120", at=T0 + timedelta(days=100))
    for day in (0, 60, 120, 180):
        store.order("loyal@example.com", total="400", at=T0 + timedelta(days=day))
    store.order("repeat@example.com", total="30", at=T0 + timedelta(days=150))
    store.order("repeat@example.com", total="30", at=T0 + timedelta(days=190))
    store.order("new@example.com", total="10", at=T0 + timedelta(days=195))
    clock.now = T0 + timedelta(days=200)
    store.process_all()


def test_customers_filtered_by_stage_tier_and_dates(store, clock, admin):
    make_customers(store, clock)
    staff = staff_viewer(admin)
    query = """
    query($filter: LifecycleCustomerFilterInput) {
      lifecycleCustomers(first: 50, filter: $filter) { totalCount edges { node { email stage { key } tier { code } } } }
    }
    """

    def emails(**filter_input):
        response = store.run(query, staff, filter=filter_input)
        assert "errors" not in response, response
        page = response["data"]["lifecycleCustomers"]
        assert page["totalCount"] == len(page["edges"])
        return sorted(edge["node"]["email"] for edge in page["edges"])

    assert emails(stages=["LAPSED", "AT_RISK"]) == ["lapsed@example.com", "risky@example.com"]
    assert emails(stages=["LEAD", "PROSPECT"]) == ["admin@example.com", "lead@example.com", "prospect@example.com"]
    assert emails(tiers=["GOLD"]) == ["lapsed@example.com", "loyal@example.com"]  # spend in the last 365 days
    assert emails(tierKeys=["gold", "silver"]) == ["lapsed@example.com", "loyal@example.com"]
    assert emails(tiers=["CUSTOM"]) == []  # every tier is a default one here
    assert emails(hasTier=True) == ["lapsed@example.com", "loyal@example.com", "risky@example.com"]
    assert emails(hasAccount=True) == ["admin@example.com", "lead@example.com"]
    assert emails(lastOrderAt={"gte": (T0 + timedelta(days=185)).isoformat()}) == [
        "new@example.com",
        "repeat@example.com",
    ]
    assert emails(lastOrderAt={"lte": "2026-01-02T00:00:00"}) == ["lapsed@example.com"]  # no zone: UTC
    assert emails(stages=["CUSTOM"]) == []


def test_plugin_stages_are_listed_as_custom_with_their_key(store, clock, admin):
    make_customers(store, clock)
    CustomerProfile.objects.filter(email="loyal@example.com").update(stage="advocate")
    staff = staff_viewer(admin)
    page = store.run(
        "{ lifecycleCustomers(filter: {stages: [CUSTOM]}) {"
        "  edges { node { stage { code key label description } } } } }",
        staff,
    )
    assert page["data"]["lifecycleCustomers"]["edges"] == [
        {"node": {"stage": {"code": "CUSTOM", "key": "advocate", "label": "Advocate", "description": None}}}
    ]
    counts = store.run("{ lifecycleStageCounts { stage { code key } count } }", staff)["data"]["lifecycleStageCounts"]
    assert counts[-1] == {"stage": {"code": "CUSTOM", "key": "advocate"}, "count": 1}


def test_keyset_pagination_forwards_and_backwards(store, clock, admin):
    make_customers(store, clock)
    staff = staff_viewer(admin)
    all_ids = list(CustomerProfile.objects.order_by("id").values_list("email", flat=True))
    query = """
    query($first: Int, $after: String, $last: Int, $before: String) {
      lifecycleCustomers(first: $first, after: $after, last: $last, before: $before) {
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { email } }
      }
    }
    """
    seen, after, pages = [], None, 0
    while True:
        page = store.run(query, staff, first=3, after=after)["data"]["lifecycleCustomers"]
        pages += 1
        seen += [edge["node"]["email"] for edge in page["edges"]]
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == all_ids and pages == 3

    last_page = store.run(query, staff, last=2)["data"]["lifecycleCustomers"]
    assert [edge["node"]["email"] for edge in last_page["edges"]] == all_ids[-2:]
    assert last_page["pageInfo"]["hasPreviousPage"] and not last_page["pageInfo"]["hasNextPage"]
    before = store.run(query, staff, last=2, before=last_page["pageInfo"]["startCursor"])["data"]["lifecycleCustomers"]
    assert [edge["node"]["email"] for edge in before["edges"]] == all_ids[-4:-2]
    assert before["pageInfo"]["hasNextPage"]

    assert codes(store.run(query, staff, first=2, after="bad")) == ["BAD_USER_INPUT"]
    assert codes(store.run(query, staff, first=2, last=2)) == ["BAD_USER_INPUT"]


# ---------------------------------------------------------------------- statistics agree with the history


def last_stage_per_profile(moment=None) -> Counter:
    """Each profile's stage after its last transition (up to `moment`), from the raw history."""
    latest = {}
    rows = StageTransition.objects.order_by("occurred_at", "id")
    if moment is not None:
        rows = rows.filter(occurred_at__lte=moment)
    for row in rows:
        latest[row.profile_id] = row.to_stage
    return Counter(latest.values())


def test_stage_counts_agree_with_the_history(store, clock, admin):
    make_customers(store, clock)
    clock.advance(days=200)
    store.engine.sweep()  # time moves: at_risk -> lapsed and more
    staff = staff_viewer(admin)
    query = "query($at: DateTime) { lifecycleStageCounts(at: $at) { stage { key } count } }"

    def counts(at=None) -> Counter:
        rows = store.run(query, staff, at=at)["data"]["lifecycleStageCounts"]
        assert [row["stage"]["key"] for row in rows] == [stage.value for stage in Stage]  # zeros included
        return Counter({row["stage"]["key"]: row["count"] for row in rows if row["count"]})

    now = counts()
    assert now == Counter(CustomerProfile.objects.values_list("stage", flat=True))
    assert now == last_stage_per_profile()
    for days in (0, 100, 190, 250, 300):
        moment = T0 + timedelta(days=days)
        assert counts(moment.isoformat()) == last_stage_per_profile(moment), days

    tiers = store.run("{ lifecycleTierCounts { tier { code key rank } count } }", staff)["data"]["lifecycleTierCounts"]
    assert [row["tier"] for row in tiers] == [
        {"code": "BRONZE", "key": "bronze", "rank": 0},
        {"code": "SILVER", "key": "silver", "rank": 1},
        {"code": "GOLD", "key": "gold", "rank": 2},
        None,
    ]
    assert {(row["tier"] or {}).get("key"): row["count"] for row in tiers} == {
        **{tier: 0 for tier in ("bronze", "silver", "gold")},
        **Counter(CustomerProfile.objects.values_list("tier", flat=True)),
    }


FUNNEL = """
query($since: DateTime!, $until: DateTime!) {
  lifecycleFunnel(since: $since, until: $until) {
    moves { fromStage { key } toStage { key } count customers rate }
    stages { stage { key } customers entered left }
  }
}
"""


def test_funnel_agrees_with_the_transition_history_row_for_row(store, clock, admin):
    make_customers(store, clock)
    for _ in range(3):  # time passes; some come back
        clock.advance(days=70)
        store.engine.sweep()
        store.order("risky@example.com")
        store.process("risky@example.com")
    since, until = T0 + timedelta(days=200), T0 + timedelta(days=400)
    funnel = store.run(FUNNEL, staff_viewer(admin), since=since.isoformat(), until=until.isoformat())
    assert "errors" not in funnel, funnel
    funnel = funnel["data"]["lifecycleFunnel"]

    in_period = list(StageTransition.objects.filter(occurred_at__gte=since, occurred_at__lt=until))
    expected_moves = Counter((row.from_stage, row.to_stage) for row in in_period)
    expected_customers = {
        move: len({row.profile_id for row in in_period if (row.from_stage, row.to_stage) == move})
        for move in expected_moves
    }
    # Who was in each stage during the period: the stage held at its start, or entered in it.
    stage_at_start = {}
    for row in StageTransition.objects.filter(occurred_at__lt=since).order_by("occurred_at", "id"):
        stage_at_start[row.profile_id] = row.to_stage  # the last move before the period wins
    present = defaultdict(set)
    for profile_id, stage in stage_at_start.items():
        present[stage].add(profile_id)
    for row in in_period:
        present[row.to_stage].add(row.profile_id)

    got = {(m["fromStage"] and m["fromStage"]["key"], m["toStage"]["key"]): m for m in funnel["moves"]}
    assert set(got) == set(expected_moves)
    assert len(funnel["moves"]) == len(expected_moves)
    for move, count in expected_moves.items():
        assert got[move]["count"] == count
        assert got[move]["customers"] == expected_customers[move]
        expected_rate = round(expected_customers[move] / len(present[move[0]]), 4) if move[0] else None
        assert got[move]["rate"] == expected_rate
    assert sum(m["count"] for m in funnel["moves"]) == len(in_period)
    for row in funnel["stages"]:
        key = row["stage"]["key"]
        assert row["customers"] == len(present.get(key, ()))
        assert row["entered"] == sum(1 for t in in_period if t.to_stage == key)
        assert row["left"] == sum(1 for t in in_period if t.from_stage == key)
    assert ("at_risk", "repeat") in expected_moves  # the period does hold win-backs


def test_funnel_needs_a_forward_period(store, admin):
    response = store.run(FUNNEL, staff_viewer(admin), since="2026-02-01T00:00:00Z", until="2026-01-01T00:00:00Z")
    assert codes(response) == ["BAD_USER_INPUT"]


# ---------------------------------------------------------------------- definitions and configuration


def test_stage_definitions_show_the_thresholds_in_force(store, admin):
    response = store.run(
        "{ lifecycleStages { code label description thresholds { name label value } }"
        "  lifecycleConfig { atRiskDays personalGapMultiplier countOnlyPaid"
        "    tiers { code key label rank thresholds { currency amount } } } }",
        staff_viewer(admin),
    )
    stages = {stage["code"]: stage for stage in response["data"]["lifecycleStages"]}
    assert list(stages) == [stage.name for stage in Stage]
    assert stages["AT_RISK"]["thresholds"][0] == {
        "name": "at_risk_days",
        "label": "At risk after (days)",
        "value": "90",
    }
    assert [t["name"] for t in stages["LAPSED"]["thresholds"]] == ["lapsed_days"]
    assert stages["LEAD"]["thresholds"] == []
    config = response["data"]["lifecycleConfig"]
    assert (config["atRiskDays"], config["personalGapMultiplier"], config["countOnlyPaid"]) == (90, 2.0, False)
    assert config["tiers"][2] == {
        "code": "GOLD",
        "key": "gold",
        "label": "Gold",
        "rank": 2,
        "thresholds": [
            {"currency": "EUR", "amount": 1500.0},
            {"currency": "PLN", "amount": 6000.0},
            {"currency": "USD", "amount": 1500.0},
        ],
    }


# ---------------------------------------------------------------------- what-if

WHAT_IF = """
query($config: LifecycleConfigInput!, $limit: Int) {
  lifecycleWhatIf(config: $config, sampleLimit: $limit) {
    customersRead customersEvaluated complete
    config { atRiskDays lapsedDays tiers { code key } }
    stages { stage { key } count }
    currentStages { stage { key } count }
    tiers { tier { code key } count }
    stageMoves { fromStage { key } toStage { key } count }
  }
}
"""


def test_what_if_returns_the_distribution_and_writes_nothing(store, clock, admin):
    make_customers(store, clock)
    tables = (CustomerProfile, StageTransition, TierChange)
    before = [model.objects.count() for model in tables]
    versions = list(CustomerProfile.objects.order_by("id").values_list("version", flat=True))
    candidate = {"atRiskDays": 30, "lapsedDays": 60, "tiersText": "vip: USD 1000"}
    with CaptureQueriesContext(connection) as captured:
        response = store.run(WHAT_IF, staff_viewer(admin), config=candidate)
    assert "errors" not in response, response
    writes = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []
    assert [model.objects.count() for model in tables] == before
    assert list(CustomerProfile.objects.order_by("id").values_list("version", flat=True)) == versions

    result = response["data"]["lifecycleWhatIf"]
    assert (result["customersRead"], result["customersEvaluated"], result["complete"]) == (8, 8, True)
    assert result["config"] == {"atRiskDays": 30, "lapsedDays": 60, "tiers": [{"code": "CUSTOM", "key": "vip"}]}
    proposed = {row["stage"]["key"]: row["count"] for row in result["stages"] if row["count"]}
    current = {row["stage"]["key"]: row["count"] for row in result["currentStages"] if row["count"]}
    # The current distribution recomputed from the facts is what the engine stored.
    assert current == dict(Counter(CustomerProfile.objects.values_list("stage", flat=True)))
    # risky (last order 100 days ago) lapses at 60 days; loyal (20 days) stays.
    assert proposed["lapsed"] == 2 and proposed["loyal"] == 1
    assert {"fromStage": {"key": "at_risk"}, "toStage": {"key": "lapsed"}, "count": 1} in result["stageMoves"]
    assert {(row["tier"] or {}).get("key"): row["count"] for row in result["tiers"]} == {"vip": 2, None: 6}
    assert [row["tier"] for row in result["tiers"]] == [{"code": "CUSTOM", "key": "vip"}, None]


TIERS_WHAT_IF = """
query($config: LifecycleConfigInput!) {
  lifecycleWhatIf(config: $config) {
    config { tiers { key thresholds { currency amount } } }
    tierMoves { fromTier toTier count }
  }
}
"""


def test_a_partial_tier_change_keeps_the_tiers_it_does_not_name(store, clock, admin):
    make_customers(store, clock)

    def tiers(candidate):
        response = store.run(TIERS_WHAT_IF, staff_viewer(admin), config=candidate)
        assert "errors" not in response, response
        result = response["data"]["lifecycleWhatIf"]
        table = [(t["key"], {m["currency"]: m["amount"] for m in t["thresholds"]}) for t in result["config"]["tiers"]]
        return table, {(m["fromTier"], m["toTier"]): m["count"] for m in result["tierMoves"]}

    # gold's thresholds replaced (EUR and PLN dropped), bronze and silver kept as they are
    table, moves = tiers({"tiers": [{"code": "gold", "thresholds": [{"currency": "USD", "amount": 1700}]}]})
    assert table == [("bronze", {"USD": 100, "EUR": 100, "PLN": 400}), ("silver", {"USD": 500, "EUR": 500, "PLN": 2000}),
                     ("gold", {"USD": 1700})]
    # In the tier window: lapsed 2000 USD (stays gold), loyal 1600 (gold -> silver), risky 120
    # (bronze), repeat 60 and new 10 (no tier).
    assert moves == {("gold", "silver"): 1}
    # a new code goes before the first tier asking more in a shared currency; silver removed
    table, moves = tiers({"tiers": [{"code": "copper", "thresholds": [{"currency": "USD", "amount": 20}]},
                                    {"code": "silver", "remove": True}]})
    assert [key for key, _ in table] == ["copper", "bronze", "gold"]
    assert moves == {(None, "copper"): 1}  # repeat
    # every tier named with remove: no tiers, everyone loses theirs
    table, moves = tiers({"tiers": [{"code": code, "remove": True} for code in ("bronze", "silver", "gold")]})
    assert table == [] and moves == {("gold", None): 2, ("bronze", None): 1}


def test_what_if_sample_limit(store, clock, admin):
    make_customers(store, clock)
    result = store.run(WHAT_IF, staff_viewer(admin), config={}, limit=4)["data"]["lifecycleWhatIf"]
    assert (result["customersRead"], result["complete"]) == (4, False)
    everyone = store.run(WHAT_IF, staff_viewer(admin), config={}, limit=8)["data"]["lifecycleWhatIf"]
    assert (everyone["customersRead"], everyone["complete"]) == (8, True)
    assert everyone["stageMoves"] == []  # an empty candidate is the config in force
    assert codes(store.run(WHAT_IF, staff_viewer(admin), config={}, limit=0)) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    ("candidate", "field", "words"),
    [
        ({"atRiskDays": 200}, "atRiskDays", "fewer than 'Lapsed after (days)' (180)"),
        ({"atRiskDays": 200}, "lapsedDays", "more than 'At risk after (days)' (200)"),
        ({"loyalMinOrders": 1}, "loyalMinOrders", "at least 2"),
        # used to validate, then the what-if answered INTERNAL_SERVER_ERROR (OverflowError)
        ({"tierWindowDays": 999_999_999}, "tierWindowDays", "at most 3650"),
        ({"loyalWindowDays": 999_999_999}, "loyalWindowDays", "at most 3650"),
        ({"personalGapMultiplier": -1}, "personalGapMultiplier", "greater than 0"),
        ({"personalGapMultiplier": 1e300}, "personalGapMultiplier", "at most 100"),
        ({"tiers": [{"code": "Gold!", "thresholds": [{"currency": "USD", "amount": 1}]}]}, "tiers", "tier name"),
        ({"tiersText": "a: USD 5\nb: USD 2"}, "tiers", "out of order"),
        ({"tiersText": "a USD 5"}, "tiers", "line 1: write 'name: CUR amount"),
        # a partial change that leaves the table out of order: gold below silver
        ({"tiers": [{"code": "gold", "thresholds": [{"currency": "USD", "amount": 400}]}]}, "tiers", "out of order"),
        ({"tiers": [{"code": "platinum", "remove": True}]}, "tiers", "'platinum' is not in force"),
        ({"tiers": [{"code": "gold"}]}, "tiers", "needs thresholds (or remove: true"),
        ({"tiers": [{"code": "gold", "remove": True, "thresholds": []}]}, "tiers", "thresholds or remove, not both"),
        ({"tiers": [{"code": "gold", "remove": True}, {"code": "gold", "remove": True}]}, "tiers", "named twice"),
        ({"tiers": [], "tiersText": ""}, "tiers", "not both"),
        ({"tiers": [{"code": "a", "thresholds": [{"currency": "XXQ", "amount": 5}]}]}, "tiers", "ISO 4217"),
        (
            {
                "tiers": [
                    {"code": "a", "thresholds": [{"currency": "USD", "amount": 5}, {"currency": "usd", "amount": 6}]}
                ]
            },
            "tiers",
            "twice",
        ),
    ],
)
def test_what_if_rejects_invalid_thresholds_with_clear_errors(store, admin, candidate, field, words):
    response = store.run(WHAT_IF, staff_viewer(admin), config=candidate)
    assert response["data"] == {"lifecycleWhatIf": None}
    [error] = response["errors"]
    assert error["extensions"]["code"] == "INVALID_CONFIG"
    assert field in error["extensions"]["fields"]
    assert words in error["extensions"]["fields"][field]
    assert field in error["message"]


# ---------------------------------------------------------------------- recompute


def test_recompute_decides_again_and_records_the_reason(store, clock, ann, admin):
    clock.advance(days=400)  # the sweep has not run: ann lapsed and her orders left the tier window
    response = store.run(
        "mutation($id: ID) { lifecycleRecompute(userId: $id) { stageChanged tierChanged customer { stage { key } } } }",
        staff_viewer(admin),
        id=global_id(ann.pk),
    )
    assert response["data"]["lifecycleRecompute"] == {
        "stageChanged": True,
        "tierChanged": True,
        "customer": {"stage": {"key": "lapsed"}},
    }
    assert CustomerProfile.objects.get(user=ann).stage == "lapsed"
    assert StageTransition.objects.filter(profile__user=ann).last().to_stage == "lapsed"

    again = store.run('mutation { lifecycleRecompute(email: "ann@example.com") { stageChanged } }', APP)
    assert again["data"]["lifecycleRecompute"] == {"stageChanged": False}
    unknown = store.run('mutation { lifecycleRecompute(email: "ghost@example.com") { stageChanged } }', APP)
    assert codes(unknown) == ["NOT_FOUND"]
