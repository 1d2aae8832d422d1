"""Query depth and page size limits, coded request errors, and a constant query count per page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from graphql import parse
from graphql.utils.introspection_query import introspection_query

from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.graphql import execution
from lifecycle_plugin.graphql.execution import depth_errors, execute_graphql
from lifecycle_plugin.graphql.viewer import Viewer

from .conftest import T0, codes

pytestmark = pytest.mark.django_db

APP = Viewer.app(can_manage_users=True)

# lifecycleCustomers > edges > node > history > toStage > key
SIX_DEEP = "{ lifecycleCustomers { edges { node { history { toStage { key } } } } } }"


def depth_of(query: str) -> list[str]:
    return [error.message for error in depth_errors(parse(query), max_depth=5, max_introspection_depth=4)]


def test_depth_counts_fields_through_fragments_not_the_fragments_themselves():
    assert depth_of("{ a { b { c { d { e } } } } }") == []
    assert depth_of("{ a { b { c { d { e { f } } } } } }") == ["The query nests fields 6 deep; at most 5 are allowed."]
    spread = "query Q { a { ...F } } fragment F on T { b { ... on U { c { d { e { f } } } } } }"
    assert depth_of(spread) == ["Q nests fields 6 deep; at most 5 are allowed."]
    assert depth_of("{ a { __typename b { __typename } } }") == []


def test_introspection_has_its_own_limits():
    # The standard introspection query (GraphiQL's) is allowed at the real limits ...
    assert depth_errors(parse(introspection_query), max_depth=execution.MAX_QUERY_DEPTH) == []
    # ... but not nested too deep, nor cyclic (its size would grow exponentially).
    assert depth_of("{ __schema { types { ofType { ofType { name } } } } }") == [
        "The query nests introspection 5 deep; at most 4 are allowed."
    ]
    [cyclic] = depth_errors(parse("{ __schema { types { fields { type { fields { name } } } } } }"), max_depth=10)
    assert "'fields' inside itself" in cyclic.message


def test_a_query_over_the_depth_limit_is_refused_with_a_code(store, monkeypatch):
    assert "errors" not in store.run(SIX_DEEP, APP)
    monkeypatch.setattr(execution, "MAX_QUERY_DEPTH", 5)
    response = store.run(SIX_DEEP, APP)
    assert "data" not in response  # refused before execution
    assert codes(response) == ["QUERY_TOO_DEEP"]
    assert response["errors"][0]["extensions"]["maxDepth"] == 5


def test_graphiql_introspection_runs(store):
    response = store.run(introspection_query, Viewer.anonymous())
    assert "errors" not in response
    names = {t["name"] for t in response["data"]["__schema"]["types"]}
    assert {"CustomerLifecycle", "LifecycleStageCode", "User", "_Entity", "_Any", "_Service"} <= names


@pytest.mark.parametrize("argument", ["first", "last"])
def test_page_size_limit(store, argument):
    query = "query($n: Int) { lifecycleCustomers(%s: $n) { totalCount } }" % argument
    assert "errors" not in store.run(query, APP, n=100)
    response = store.run(query, APP, n=101)
    assert response["data"] == {"lifecycleCustomers": None}
    assert codes(response) == ["PAGE_TOO_LARGE"]
    assert response["errors"][0]["extensions"]["maxPageSize"] == 100
    assert codes(store.run(query, APP, n=-1)) == ["BAD_USER_INPUT"]


def test_request_errors_have_codes(store):
    assert codes(execute_graphql({"query": "{ myLifecycle { "}, APP)) == ["GRAPHQL_PARSE_FAILED"]
    assert codes(execute_graphql({"query": "{ noSuchField }"}, APP)) == ["GRAPHQL_VALIDATION_FAILED"]
    assert codes(
        execute_graphql(
            {"query": "query($n: Int!) { lifecycleCustomers(first: $n) { totalCount } }", "variables": {"n": "many"}},
            APP,
        )
    ) == ["BAD_USER_INPUT"]
    assert codes(execute_graphql({"query": "{ myLifecycle { email } }", "operationName": "Nope"}, APP)) == [
        "BAD_USER_INPUT"
    ]
    assert codes(execute_graphql({"variables": {}}, APP)) == ["BAD_REQUEST"]
    assert codes(execute_graphql({"query": "{ x }", "variables": [1]}, APP)) == ["BAD_REQUEST"]
    assert codes(execute_graphql([], APP)) == ["BAD_REQUEST"]


def test_an_unexpected_failure_is_an_internal_error_without_internals(store, ann, monkeypatch):
    from lifecycle_plugin.graphql import resolvers

    def broken(*args, **kwargs):
        raise RuntimeError("connection string postgres://secret@db")

    monkeypatch.setattr(resolvers, "own_profile", broken)
    from .conftest import customer_viewer

    response = store.run("{ myLifecycle { email } }", customer_viewer(ann))
    assert response["data"] == {"myLifecycle": None}
    assert response["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "secret" not in response["errors"][0]["message"]


# ---------------------------------------------------------------------- no N+1

EVERYTHING = """
query($first: Int) {
  lifecycleCustomers(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        userId email
        stage { code key label description since }
        tier { code key label rank since }
        tierProgress { currency nextTier { code key label rank } spend { amount } remaining { amount currency } }
        ordersCount ordersByCurrency { currency count }
        lifetimeSpend { currency amount } tierWindowSpend { currency amount }
        firstOrderAt lastOrderAt stageRule decidedAt nextCheckAt extraFacts
        history {
          fromStage { code key label } toStage { code key label } occurredAt recordedAt reason event rule facts
        }
        tierHistory { fromTier { code key rank } toTier { code key rank } occurredAt reason tierWindowSpend { currency amount } }
      }
    }
  }
}
"""


def make_shoppers(store, count: int) -> None:
    for n in range(count):
        email = f"shopper{n:03}@example.com"
        store.order(email, total=str(40 + n * 10), at=T0)
        store.order(email, total="25", currency="EUR", at=T0 + timedelta(days=n % 50))
    store.clock.now = T0 + timedelta(days=60)
    backfill(store.engine, chunk_size=500)


def test_a_page_of_100_customers_costs_a_constant_number_of_queries(store, django_assert_max_num_queries):
    make_shoppers(store, 100)

    def queries_for(first: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = store.run(EVERYTHING, APP, first=first)
        assert "errors" not in response, response["errors"][:1]
        assert len(response["data"]["lifecycleCustomers"]["edges"]) == first
        assert all(edge["node"]["history"] for edge in response["data"]["lifecycleCustomers"]["edges"])
        return len(captured)

    # the page, totalCount, the stage history and the tier history
    assert queries_for(100) == queries_for(10) == queries_for(1) <= 4
    with django_assert_max_num_queries(4):
        store.run(EVERYTHING, APP, first=100)


def test_expected_errors_are_not_logged_as_bugs(store, ann, caplog):
    store.run("{ myLifecycle { email } lifecycleConfig { atRiskDays } }", Viewer.anonymous())
    assert [record for record in caplog.records if record.name.startswith("graphql")] == []
