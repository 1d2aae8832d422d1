"""Query depth, cost and page size limits, coded request errors, and a constant query count per page."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from graphql import parse
from graphql.utils.introspection_query import introspection_query

from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.graphql import execution, limits
from lifecycle_plugin.graphql.execution import execute_graphql
from lifecycle_plugin.graphql.limits import QueryLimits, limit_errors
from lifecycle_plugin.graphql.viewer import Viewer

from .conftest import T0, codes, global_id

pytestmark = pytest.mark.django_db

APP = Viewer.app(can_manage_users=True)

# lifecycleCustomers > edges > node > history > toStage > key
SIX_DEEP = "{ lifecycleCustomers { edges { node { history { toStage { key } } } } } }"


def depth_of(query: str) -> list[str]:
    tight = QueryLimits.in_force(depth=5, introspection_depth=4)
    return [error.message for error in limit_errors(parse(query), tight)]


def test_depth_counts_fields_through_fragments_not_the_fragments_themselves():
    assert depth_of("{ a { b { c { d { e } } } } }") == []
    assert depth_of("{ a { b { c { d { e { f } } } } } }") == ["The query nests fields more than 5 deep."]
    spread = "query Q { a { ...F } } fragment F on T { b { ... on U { c { d { e { f } } } } } }"
    assert depth_of(spread) == ["Q nests fields more than 5 deep."]
    assert depth_of("{ a { __typename b { __typename } } }") == []


def test_introspection_has_its_own_limits():
    # The standard introspection query (GraphiQL's) is allowed at the real limits ...
    assert limit_errors(parse(introspection_query)) == []
    # ... but not nested too deep, nor cyclic (its size would grow exponentially).
    assert depth_of("{ __schema { types { ofType { ofType { name } } } } }") == [
        "The query nests introspection more than 4 deep."
    ]
    [cyclic] = limit_errors(parse("{ __schema { types { fields { type { fields { name } } } } } }"))
    assert "'fields' inside itself" in cyclic.message


def test_a_query_over_the_depth_limit_is_refused_with_a_code(store, monkeypatch):
    assert "errors" not in store.run(SIX_DEEP, APP)
    monkeypatch.setattr(limits, "MAX_QUERY_DEPTH", 5)
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


# ---------------------------------------------------------------------- cost


def doubling_fragments(count: int) -> str:
    """An anonymous query of `count` fragments, each spreading the previous one twice.

    Inlined, it makes 2**(count+1) - 1 selections; written, it is under a kilobyte
    for 22 fragments.
    """
    fragments = ["fragment F0 on Query { _service { sdl } }"]
    fragments += [f"fragment F{n} on Query {{ ...F{n - 1} ...F{n - 1} }}" for n in range(1, count)]
    return "{ ...F%d }\n%s" % (count - 1, "\n".join(fragments))


def fragment_chain(count: int) -> str:
    """A query of `count` fragments, each spreading the next: no depth, no width, only nesting."""
    fragments = [f"fragment F{n} on Query {{ ...F{n + 1} }}" for n in range(count - 1)]
    return "{ ...F0 }\n%s\nfragment F%d on Query { __typename }" % ("\n".join(fragments), count - 1)


def fastest(run, times: int = 3) -> float:
    """The best of a few timings, so a busy machine does not fail the test."""
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def test_22_doubling_fragments_are_refused_at_once_without_a_token(client):
    query = doubling_fragments(22)
    assert len(query) < 1000
    response = client.post("/graphql/", {"query": query}, content_type="application/json")
    assert response.status_code == 200
    assert codes(response.json()) == ["QUERY_TOO_COMPLEX"]
    assert response.json()["errors"][0]["extensions"]["maxSelections"] == limits.MAX_SELECTIONS
    # Walking every spread took 5 s; measured once per fragment it is well under the 50 ms asked.
    assert fastest(lambda: execute_graphql({"query": query}, Viewer.anonymous())) < 0.05


def test_fragments_are_measured_once_each_whatever_they_expand_to():
    # 25 fragments inline to 67,108,863 selections: counted exactly, yet at once.
    document = parse(doubling_fragments(25))
    selections = 2**26 - 1
    assert limit_errors(document, QueryLimits.in_force(selections=selections)) == []
    [refused] = limit_errors(document, QueryLimits.in_force(selections=selections - 1))
    assert refused.extensions["code"] == "QUERY_TOO_COMPLEX"
    assert fastest(lambda: limit_errors(document, QueryLimits.in_force(selections=selections))) < 0.05


def test_a_reused_fragment_is_checked_where_each_spread_puts_it():
    deep = "fragment Deep on T { b { c { d } } }"
    assert depth_of("{ a { ...Deep } x { ...Deep } }" + deep) == []
    too_deep = depth_of("{ a { ...Deep } x { y { z { ...Deep } } } }" + deep)
    assert too_deep == ["The query nests fields more than 5 deep."]
    types = "fragment Types on __Schema { types { name } }"
    assert depth_of("{ __schema { ...Types } }" + types) == []
    # Fine under `types`, not again under `types { fields { type` (measured once, checked twice).
    fields = "fragment Fields on __Type { fields { name } }"
    assert limit_errors(parse("{ __schema { types { ...Fields } } }" + fields)) == []
    [repeated] = limit_errors(parse("{ __schema { types { ...Fields fields { type { ...Fields } } } } }" + fields))
    assert repeated.message == "The query nests the introspection field 'fields' inside itself."


def test_what_validation_refuses_does_not_break_the_measure():
    # An unknown fragment and a fragment spread in itself: graphql-core says what is wrong.
    assert limit_errors(parse("{ ...Missing }")) == []
    assert limit_errors(parse("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")) == []
    assert codes(execute_graphql({"query": "{ ...A } fragment A on Query { ...A }"}, APP)) == [
        "GRAPHQL_VALIDATION_FAILED"
    ]


def test_300_aliased_schema_fields_are_refused_without_a_token(client):
    query = "{ %s }" % " ".join(f"s{n}: __schema {{ types {{ name }} }}" for n in range(300))
    response = client.post("/graphql/", {"query": query}, content_type="application/json")
    assert response.status_code == 200
    assert "data" not in response.json()
    assert codes(response.json()) == ["QUERY_TOO_COMPLEX"]
    assert response.json()["errors"][0]["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "maxIntrospections": limits.MAX_INTROSPECTIONS,
    }
    # Aliases of any other field are limited too.
    query = "{ %s }" % " ".join(f"s{n}: _service {{ sdl }}" for n in range(300))
    response = client.post("/graphql/", {"query": query}, content_type="application/json")
    assert codes(response.json()) == ["QUERY_TOO_COMPLEX"]
    assert response.json()["errors"][0]["extensions"]["maxAliases"] == limits.MAX_ALIASES


def test_aliases_are_counted_with_fragments_inlined(store):
    limit = limits.MAX_ALIASES
    half = "fragment Half on Query { %s }" % " ".join(f"a{n}: __typename" for n in range(limit // 2 + 1))
    assert "errors" not in store.run("{ ...Half }" + half, Viewer.anonymous())
    assert codes(store.run("{ ...Half ... on Query { ...Half } }" + half, Viewer.anonymous())) == [
        "QUERY_TOO_COMPLEX"
    ]


def test_introspection_fields_are_limited_per_operation(store):
    # Each resolves the whole schema: 16 aliased copies of a broad one took a second, anonymously.
    limit = limits.MAX_INTROSPECTIONS
    types = " ".join(f'q{n}: __type(name: "Query") {{ name }}' for n in range(limit - 1))
    schema_types = "fragment Types on Query { __schema { types { name } } }"
    assert "errors" not in store.run("{ %s ...Types }" % types + schema_types, Viewer.anonymous())
    response = store.run("{ %s ...Types ... on Query { ...Types } }" % types + schema_types, Viewer.anonymous())
    assert codes(response) == ["QUERY_TOO_COMPLEX"]
    assert response["errors"][0]["extensions"]["maxIntrospections"] == limit


def test_many_same_named_fields_are_refused_before_validation_compares_them():
    # Validation compares same-named fields pairwise: 3,000 took seconds.
    query = "{ %s }" % " ".join(["__typename"] * 3000)
    assert fastest(lambda: execute_graphql({"query": query}, Viewer.anonymous())) < 0.05
    assert codes(execute_graphql({"query": query}, Viewer.anonymous())) == ["QUERY_TOO_COMPLEX"]


def test_a_query_longer_than_the_limit_is_refused_before_parsing():
    query = "{ %s }" % " ".join(["__typename"] * (limits.MAX_QUERY_LENGTH // 10))
    response = execute_graphql({"query": query}, Viewer.anonymous())
    assert codes(response) == ["QUERY_TOO_COMPLEX"]
    assert response["errors"][0]["extensions"]["maxQueryLength"] == limits.MAX_QUERY_LENGTH


def test_a_chain_of_1200_fragments_is_a_graphql_error_not_a_500(client, monkeypatch):
    query = fragment_chain(1200)
    response = client.post("/graphql/", {"query": query}, content_type="application/json")
    assert response.status_code == 200 and codes(response.json()) == ["QUERY_TOO_COMPLEX"]  # too long
    # Short enough, it is refused for its nesting ...
    monkeypatch.setattr(limits, "MAX_QUERY_LENGTH", len(query))
    response = client.post("/graphql/", {"query": query}, content_type="application/json")
    assert response.status_code == 200 and codes(response.json()) == ["QUERY_TOO_DEEP"]
    assert response.json()["errors"][0]["extensions"]["maxFragmentNesting"] == limits.MAX_FRAGMENT_NESTING
    # ... and without that limit, graphql-core's own recursion is still a GraphQL error.
    monkeypatch.setattr(limits, "MAX_FRAGMENT_NESTING", 10**6)
    monkeypatch.setattr(limits, "MAX_SELECTIONS", 10**6)
    response = client.post("/graphql/", {"query": query}, content_type="application/json")
    assert response.status_code == 200 and codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]


def test_nesting_too_deep_to_parse_is_a_graphql_error(client):
    query = "{ a " + "{ a " * 2000 + "}" * 2001
    response = client.post("/graphql/", {"query": query}, content_type="application/json")
    assert response.status_code == 200 and codes(response.json()) == ["GRAPHQL_PARSE_FAILED"]
    body_too_deep = client.post("/graphql/", "[" * 100_000, content_type="application/json")
    assert body_too_deep.status_code == 400 and codes(body_too_deep.json()) == ["BAD_REQUEST"]


def test_a_64_bit_int_variable_is_a_graphql_error_not_a_500(client):
    query = "query($n: Int) { lifecycleCustomers(first: $n) { totalCount } }"
    response = client.post("/graphql/", {"query": query, "variables": {"n": 10**12}}, content_type="application/json")
    assert response.status_code == 200
    assert "data" not in response.json()
    assert codes(response.json()) == ["BAD_USER_INPUT"]
    assert "$n" in response.json()["errors"][0]["message"]


def test_entities_are_limited_per_request_across_aliases(store, admin, django_assert_max_num_queries):
    representations = [{"__typename": "User", "id": global_id(pk)} for pk in range(1, 101)]
    query = """query($r: [_Any!]!) {
      a: _entities(representations: $r) { __typename }
      b: _entities(representations: $r) { __typename }
      c: _entities(representations: $r) { __typename }
    }"""
    with django_assert_max_num_queries(1):  # the profiles of the first 100, nothing more
        response = store.run(query, APP, r=representations)
    assert response["data"]["a"] == [{"__typename": "User"}] * 100
    assert response["data"]["b"] == response["data"]["c"] == [None] * 100
    assert codes(response) == ["PAGE_TOO_LARGE", "PAGE_TOO_LARGE"]
    assert [error["path"] for error in response["errors"]] == [["b"], ["c"]]


def test_the_documented_limits_are_the_limits_in_force():
    from pathlib import Path

    from lifecycle_plugin.graphql import federation, resolvers

    docs = (Path(__file__).parents[2] / "docs" / "graphql.md").read_text()
    table = docs.split("## Limits")[1].split("**Variables**")[0]
    rows = {row.split("|")[1].strip(): row.split("|")[2].strip() for row in table.splitlines() if row.startswith("| ")}
    assert rows["query text"].startswith(f"{limits.MAX_QUERY_LENGTH:,} characters")
    assert rows[next(name for name in rows if name.startswith("selections"))].startswith(f"{limits.MAX_SELECTIONS} ")
    assert rows["aliases per operation, fragments inlined"] == str(limits.MAX_ALIASES)
    assert rows["field nesting"] == str(limits.MAX_QUERY_DEPTH)
    assert rows["introspection nesting (`__schema`, `__type`)"].startswith(f"{limits.MAX_INTROSPECTION_DEPTH},")
    assert rows["fragments (named or inline) nested in one another"] == str(limits.MAX_FRAGMENT_NESTING)
    assert rows["`__schema` and `__type` fields per operation, fragments inlined"] == str(limits.MAX_INTROSPECTIONS)
    assert rows["`first` / `last`"].startswith(f"{resolvers.MAX_PAGE_SIZE},")
    assert rows[next(name for name in rows if name.startswith("`_entities`"))] == str(federation.MAX_ENTITIES)


def test_an_exception_escaping_the_executor_is_a_logged_graphql_error(monkeypatch, caplog):
    def broken_executor(*args, **kwargs):
        raise RuntimeError("graphql-core bug with postgres://secret@db")

    monkeypatch.setattr(execution, "execute", broken_executor)
    response = execute_graphql({"query": "{ __typename }"}, APP)
    assert codes(response) == ["INTERNAL_SERVER_ERROR"]
    assert "secret" not in response["errors"][0]["message"]
    assert [record.exc_info[0] for record in caplog.records if record.name == execution.__name__] == [RuntimeError]
